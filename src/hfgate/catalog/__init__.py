"""The model catalog: which models are served, and from which endpoint."""

from hfgate.catalog.catalog import Catalog

__all__ = ["Catalog"]
