"""The validation report: an ordered checklist plus the facts detected on the endpoint.

The API, the CLI and the web page all show this same object (``Report.to_dict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# (event, payload): ("check", a check as a dict) or ("waiting", {"elapsed", "message"}).
Listener = Callable[[str, dict[str, Any]], None]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


class Outcome(StrEnum):
    VALID = "valid"  # every check passed (warnings allowed): stored and listed
    PENDING = "pending"  # the endpoint is asleep or paused: stored, finished when it runs
    FAILED = "failed"  # a live check failed: nothing stored
    INVALID = "invalid"  # the credential itself is malformed: nothing stored


# Order and titles of the checklist (docs/protocols.md §4.2); "credential" is the parse step
# before them.
CHECKS: dict[str, str] = {
    "credential": "Credential",
    "reach": "Reach the endpoint",
    "auth": "Token accepted",
    "state": "Endpoint running",
    "engine": "Inference engine",
    "task": "Model task",
    "model": "Model matches",
    "context": "Context window",
    "chat_route": "Chat route",
}


@dataclass
class Check:
    id: str
    status: Status
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": CHECKS[self.id],
            "status": self.status,
            "message": self.message,
        }


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[dict[str, str | None]] = field(default_factory=list)
    pending: bool = False
    # Told of every check as it is decided, for pages that show the checklist live.
    listener: Listener | None = field(default=None, repr=False)

    def add(self, check_id: str, status: Status, message: str) -> Status:
        check = Check(check_id, status, message)
        self.checks.append(check)
        if self.listener is not None:
            self.listener("check", check.to_dict())
        return status

    @property
    def failed(self) -> bool:
        return any(check.status is Status.FAIL for check in self.checks)

    @property
    def outcome(self) -> Outcome:
        if self.problems:
            return Outcome.INVALID
        if self.failed:
            return Outcome.FAILED
        return Outcome.PENDING if self.pending else Outcome.VALID

    def skip_rest(self, reason: str, among: tuple[str, ...] = tuple(CHECKS)) -> None:
        """Mark every check not yet run as skipped, so the checklist is always complete."""
        done = {check.id for check in self.checks}
        for check_id in among:
            if check_id not in done:
                self.add(check_id, Status.SKIPPED, reason)

    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status is Status.FAIL), None)

    def summary(self) -> str:
        failure = self.first_failure()
        if self.problems:
            return self.problems[0]["message"] or "the credential is invalid"
        if failure is not None:
            return f"{CHECKS[failure.id]}: {failure.message}"
        state = next((c for c in self.checks if c.id == "state"), None)
        if self.pending and state is not None:
            return state.message
        return "the endpoint passed every check"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "summary": self.summary(),
            "checks": [check.to_dict() for check in self.checks],
            "facts": self.facts,
            "notes": self.notes,
            "problems": self.problems,
        }
