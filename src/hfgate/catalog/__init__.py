"""The model catalog: which models are served, from which endpoint, and how each one is doing."""

from hfgate.catalog.catalog import Catalog, ServedModel
from hfgate.catalog.status import ModelStatus, StatusBoard

__all__ = ["Catalog", "ModelStatus", "ServedModel", "StatusBoard"]
