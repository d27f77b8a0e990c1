"""Who is calling: hfgate API keys (hashed at rest) and, later, browser sessions."""

from hfgate.auth.keys import KeyStore
from hfgate.values.principal import Principal, Role

__all__ = ["KeyStore", "Principal", "Role"]
