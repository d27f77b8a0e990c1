"""A model's status, and what each thing an endpoint answers says about it.

Status comes first from real traffic (every upstream answer tells us something) and only then
from probes of ``/health``. Probes never wake a sleeping endpoint and never keep an idle one
awake (see ``refresher``). The states are distinct because each asks something different of a
person: ``scaled_to_zero`` wakes on the next request, ``waking`` is being woken by hfgate,
``initializing`` is starting a replica on its own (an engine still loading its weights),
``paused`` waits for its owner, ``failed`` needs an admin.

``idle`` is inferred, never probed: a probe through the endpoint's URL is traffic to Hugging
Face's scale-to-zero timer, so a ``ready`` endpoint nobody has used for ``SURELY_AWAKE`` seconds
is only said to be idle — it may have scaled to zero, and the next request may have to wake it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from hfgate.errors import (
    EndpointColdStartTimeout,
    EndpointPaused,
    HfgateError,
    UpstreamAuthFailed,
    UpstreamUnreachable,
)
from hfgate.upstream.hf_api import EndpointRecord
from hfgate.upstream.platform import COLD_STATUSES, is_cold, is_paused


class ModelStatus(StrEnum):
    READY = "ready"
    IDLE = "idle"  # no traffic lately: may have scaled to zero (inferred, not probed)
    SCALED_TO_ZERO = "scaled_to_zero"
    WAKING = "waking"
    INITIALIZING = "initializing"
    PAUSED = "paused"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    PENDING = "pending"
    FAILED = "failed"
    DELETED = "deleted"  # its record is gone from Hugging Face


# After its last answer, an endpoint surely stays up this long: Inference Endpoints scale to
# zero after 15 idle minutes at the least, and 5 minutes leaves room for clocks and doubt.
SURELY_AWAKE = 300.0

# States in which the endpoint has no replica to answer: a request (or a probe) would wait.
ASLEEP = frozenset({ModelStatus.SCALED_TO_ZERO, ModelStatus.WAKING, ModelStatus.INITIALIZING})

# What a failed call says of the endpoint; other errors (a bad request, an overloaded engine)
# say nothing about its status.
STATUS_FOR_ERROR: dict[type[HfgateError], ModelStatus] = {
    EndpointPaused: ModelStatus.PAUSED,
    UpstreamAuthFailed: ModelStatus.AUTH_FAILED,
    UpstreamUnreachable: ModelStatus.UNREACHABLE,
    EndpointColdStartTimeout: ModelStatus.SCALED_TO_ZERO,
}


def status_from_health(status: int, text: str) -> tuple[ModelStatus, str]:
    """What an answer to ``GET /health`` says, with a sentence for people."""
    if status == 200:
        return ModelStatus.READY, "healthy"
    if status in (401, 403):
        return ModelStatus.AUTH_FAILED, f"the endpoint rejected hfgate's token (HTTP {status})"
    if is_paused(status, text):
        return ModelStatus.PAUSED, "the endpoint is paused: its owner must resume it"
    if is_cold(status, text):
        return (
            ModelStatus.SCALED_TO_ZERO,
            f"scaled to zero (HTTP {status}); wakes on the next request",
        )
    if status in COLD_STATUSES and "loading" in text.lower():
        return ModelStatus.INITIALIZING, f"the engine is loading the model (HTTP {status})"
    if status in COLD_STATUSES:
        return ModelStatus.UNREACHABLE, f"the engine reports itself unhealthy (HTTP {status})"
    return ModelStatus.UNREACHABLE, f"GET /health answered HTTP {status}"


# The management API's states (``upstream.hf_api.STATES``) as statuses.
STATUS_FOR_STATE = {
    "running": ModelStatus.READY,
    "scaledToZero": ModelStatus.SCALED_TO_ZERO,
    "pending": ModelStatus.INITIALIZING,
    "initializing": ModelStatus.INITIALIZING,
    "updating": ModelStatus.INITIALIZING,
    "paused": ModelStatus.PAUSED,
    "failed": ModelStatus.FAILED,
    "updateFailed": ModelStatus.FAILED,
}


def status_from_record(record: EndpointRecord | None) -> tuple[ModelStatus, str]:
    """What Hugging Face says of an endpoint, read without sending it a single request."""
    if record is None:
        return ModelStatus.DELETED, "deleted on Hugging Face: remove it here, or import it again"
    status = STATUS_FOR_STATE.get(record.state, ModelStatus.UNREACHABLE)
    replicas = f"{record.ready_replica or 0}/{record.target_replica or 0} replicas ready"
    detail = {
        ModelStatus.READY: f"running ({replicas})",
        ModelStatus.SCALED_TO_ZERO: "scaled to zero on Hugging Face; wakes on the next request",
        ModelStatus.INITIALIZING: f"{record.state} on Hugging Face ({replicas})",
        ModelStatus.PAUSED: "paused on Hugging Face: an admin resumes it (hfgate hf resume"
        f" {record.key})",
        ModelStatus.FAILED: f"{record.state} on Hugging Face"
        + (f": {record.message}" if record.message else ""),
    }.get(status, f"Hugging Face reports the state {record.state!r}")
    return status, detail


@dataclass
class StatusEntry:
    status: ModelStatus
    detail: str = ""
    changed_at: float = 0.0
    checked_at: float = 0.0
    last_traffic: float = 0.0
    answered_at: float = 0.0  # wall-clock time of the last successful call (this process)

    def last_sign_of_life(self) -> float:
        """When the endpoint last surely ran: an answer, a request sent, or a status set."""
        return max(self.answered_at, self.last_traffic, self.checked_at)

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "detail": self.detail,
            "since": round(self.changed_at, 3),
            "checked_at": round(self.checked_at, 3),
        }


class StatusBoard:
    """Per-process status, keyed by model name."""

    def __init__(self) -> None:
        self._entries: dict[str, StatusEntry] = {}
        # Models whose status comes from Hugging Face's management API: never probed.
        self.managed: dict[str, str] = {}  # model name → "namespace/name"
        # Set by hfgate.cluster to share changes with other processes.
        self.on_change: Callable[[str, StatusEntry], None] | None = None

    def get(self, name: str) -> StatusEntry:
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = StatusEntry(ModelStatus.READY, "not checked yet")
        return entry

    def set(
        self, name: str, status: ModelStatus, detail: str = "", since: float | None = None
    ) -> StatusEntry:
        """``since``: when the new status began, if earlier than now (idle: the last answer)."""
        now = time.time()
        entry = self.get(name)
        if entry.status != status:
            entry.changed_at = now if since is None else since
        entry.status, entry.detail, entry.checked_at = status, detail, now
        if self.on_change is not None:
            self.on_change(name, entry)
        return entry

    def observe(self, name: str, error: HfgateError | None) -> None:
        """What a call's outcome says of the endpoint (traffic is the best probe)."""
        if error is None:
            entry = self.get(name)
            entry.answered_at = time.time()
            # Re-saying "ready" now and then also tells other processes (hfgate.cluster),
            # which see no traffic of their own, that the endpoint is not idle.
            stale = entry.answered_at - entry.checked_at > SURELY_AWAKE / 2
            if entry.status is not ModelStatus.READY or stale:
                self.set(name, ModelStatus.READY, "answered a request")
            return
        status = STATUS_FOR_ERROR.get(type(error))
        if status is not None:
            self.set(name, status, error.message)

    def merge(self, name: str, other: StatusEntry) -> None:
        """Take another process's view of a model if it is newer than ours."""
        entry = self.get(name)
        if other.checked_at > entry.checked_at:
            entry.status, entry.detail = other.status, other.detail
            entry.changed_at, entry.checked_at = other.changed_at, other.checked_at

    def infer_idle(self, name: str, now: float) -> bool:
        """Call a ``ready`` endpoint ``idle`` once nothing says it ran for ``SURELY_AWAKE``
        seconds; True if it did. Costs the endpoint nothing: no request is sent."""
        entry = self.get(name)
        last = entry.last_sign_of_life()
        if entry.status is not ModelStatus.READY or not entry.checked_at:
            return False
        if now - last < SURELY_AWAKE:
            return False
        self.set(name, ModelStatus.IDLE, "no traffic lately: may have scaled to zero", since=last)
        return True

    def touch(self, name: str) -> None:
        """Record user traffic: it is what allows probing without keeping an endpoint awake."""
        self.get(name).last_traffic = time.time()

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)
        self.managed.pop(name, None)


def idle_detail(idle_seconds: float, typical_wake: float | None) -> str:
    """For people: "Idle for 12 min — may need to wake (~40 s last time)"."""
    minutes = max(1, int(idle_seconds // 60))
    span = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
    wake = f" (~{typical_wake:.0f} s last time)" if typical_wake else ""
    return f"Idle for {span} — may need to wake{wake}"
