"""What the Inference Endpoints platform itself answers, whatever engine runs behind it (pure).

Its proxy answers before the engine does: 401/403 for tokens, 400 "endpoint is paused",
502/503/504 with a body that is not JSON while a replica scales up from zero or starts
(docs/protocols.md §1). An engine's own 503 (overloaded, still loading) is JSON. These are the
only definitions of those facts; ``hfgate.endpoints`` turns them into a model's status.
"""

from __future__ import annotations

from typing import Any

import orjson

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


def is_cold(status: int, text: str) -> bool:
    """The proxy's answer while no replica runs: scaled to zero, or one starting."""
    return status in COLD_STATUSES and not text.lstrip().startswith("{")


def is_asleep(status: int, text: str) -> bool:
    """Cold or paused: the endpoint cannot answer now, and nothing is wrong with the call."""
    return is_cold(status, text) or is_paused(status, text)


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
    if is_cold(status, text):
        return EndpointColdStart(f"the endpoint is scaled to zero or starting (HTTP {status})")
    return None


def json_object(content_type: str, body: bytes) -> dict[str, Any] | None:
    """An engine's error body, when it is a JSON object (engines also answer plain text)."""
    if not content_type.startswith("application/json"):
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None
