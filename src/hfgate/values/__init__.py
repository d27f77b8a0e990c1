"""Value types every layer shares (requests, served models, principals, stream events).

A leaf: these modules import nothing of hfgate's but ``errors``, so that upstream dialects,
services and the HTTP edges can all speak them without importing each other.
"""
