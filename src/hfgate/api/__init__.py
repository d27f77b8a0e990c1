"""The HTTP API: OpenAI-compatible routes, hfgate's admin API, and (later) the web workspace."""

from hfgate.api.app import create_app

__all__ = ["create_app"]
