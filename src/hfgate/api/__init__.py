"""The HTTP API: routes, the error boundary, and the wire formats (``wire``) of every edge.

The application itself is assembled in ``hfgate.app``, which mounts these routes and the
workspace's (``hfgate.web``).
"""
