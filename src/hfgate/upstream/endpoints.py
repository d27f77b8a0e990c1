"""What the Inference Endpoints platform itself answers, whatever engine runs behind it.

Its proxy answers before the engine does: 401/403 for tokens, 400 "endpoint is paused",
502/503/504 while a replica scales up from zero (the body is not JSON). See
``shared/reference/hf-endpoints.md`` §1.4 and §2.2.
"""

from __future__ import annotations

from hfgate.errors import (
    EndpointColdStart,
    EndpointPaused,
    HfgateError,
    UpstreamAuthFailed,
)

COLD_STATUSES = frozenset({502, 503, 504})
ROTATE_HINT = "an admin must update it (hfgate endpoint list; PATCH /api/integrations/{id})"


def is_paused(status: int, text: str) -> bool:
    return status == 400 and "paused" in text.lower()


def platform_error(status: int, text: str) -> HfgateError | None:
    """The platform-level meaning of an answer, or None when the engine answered."""
    if status == 401:
        return UpstreamAuthFailed(
            f"the endpoint rejected the token hfgate holds for it (HTTP 401): {ROTATE_HINT}"
        )
    if status == 403:
        return UpstreamAuthFailed(
            "the token hfgate holds lacks permission for this endpoint (HTTP 403): " + ROTATE_HINT
        )
    if is_paused(status, text):
        return EndpointPaused(
            "the endpoint is paused and will not wake by itself: its owner must resume it on"
            " the Inference Endpoints page"
        )
    if status in COLD_STATUSES and not text.lstrip().startswith("{"):
        return EndpointColdStart(f"the endpoint is scaled to zero or starting (HTTP {status})")
    return None
