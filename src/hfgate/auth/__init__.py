"""Who is calling: hfgate API keys (hashed at rest) and, later, browser sessions."""

from hfgate.auth.keys import KeyStore, Principal, Role

__all__ = ["KeyStore", "Principal", "Role"]
