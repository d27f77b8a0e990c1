"""Live model status, kept fresh cheaply.

Status comes first from real traffic (every upstream answer tells us something) and only then
from probes of ``/health``. Probes never wake a sleeping endpoint and never keep an idle one
awake: a scaled-to-zero endpoint is not probed at all, and a running one is probed only while
people are using it (see ``refresher``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class ModelStatus(StrEnum):
    READY = "ready"
    SCALED_TO_ZERO = "scaled_to_zero"
    WAKING = "waking"
    PAUSED = "paused"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    PENDING = "pending"
    FAILED = "failed"


@dataclass
class StatusEntry:
    status: ModelStatus
    detail: str = ""
    changed_at: float = 0.0
    checked_at: float = 0.0
    last_traffic: float = 0.0
    answered_at: float = 0.0  # event-loop time of the last successful call (this process)

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
        # Set by hfgate.cluster to share changes with other processes.
        self.on_change: Callable[[str, StatusEntry], None] | None = None

    def get(self, name: str) -> StatusEntry:
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = StatusEntry(ModelStatus.READY, "not checked yet")
        return entry

    def set(self, name: str, status: ModelStatus, detail: str = "") -> StatusEntry:
        now = time.time()
        entry = self.get(name)
        if entry.status != status:
            entry.changed_at = now
        entry.status, entry.detail, entry.checked_at = status, detail, now
        if self.on_change is not None:
            self.on_change(name, entry)
        return entry

    def merge(self, name: str, other: StatusEntry) -> None:
        """Take another process's view of a model if it is newer than ours."""
        entry = self.get(name)
        if other.checked_at > entry.checked_at:
            entry.status, entry.detail = other.status, other.detail
            entry.changed_at, entry.checked_at = other.changed_at, other.checked_at

    def touch(self, name: str) -> None:
        """Record user traffic: it is what allows probing without keeping an endpoint awake."""
        self.get(name).last_traffic = time.time()

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)
