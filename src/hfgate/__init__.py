"""hfgate: one self-hosted gateway for an organisation's Hugging Face Inference Endpoints."""

__version__ = "0.1.0"
