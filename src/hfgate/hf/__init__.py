"""Hugging Face's management plane: connected accounts, their endpoints, import and operation."""

from hfgate.hf.service import HfService

__all__ = ["HfService"]
