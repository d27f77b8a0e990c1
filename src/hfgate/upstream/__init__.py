"""Upstream engines: how hfgate talks to TGI and OpenAI-compatible endpoints."""
