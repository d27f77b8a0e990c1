"""Who is calling, as every layer sees it: a person's role and, for an API key, its limits."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hfgate.errors import InvalidRequest, PermissionDenied

BUDGET_KINDS = ("tokens", "usd")
BUDGET_PERIODS = ("day", "month")
MAX_BUDGET = 1e15  # past this a figure is a typo, and JSON numbers lose precision
_SPEC = re.compile(r"\s*([0-9][0-9_,.]*)\s*(?:/\s*([a-z]+))?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Budget:
    """A cap on a key's or a person's spending in a period (``day`` or ``month``, UTC)."""

    kind: str  # tokens | usd
    limit: float
    period: str  # day | month

    def stored(self) -> dict[str, Any]:
        limit: float | int = int(self.limit) if self.kind == "tokens" else self.limit
        return {"kind": self.kind, "limit": limit, "period": self.period}


def stored_budgets(raw: Any) -> tuple[Budget, ...]:
    """The budgets of a row's JSON column; anything malformed there is left out (it was
    validated when written, so only a hand-edited database could have it)."""
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        kind, limit, period = item.get("kind"), item.get("limit"), item.get("period")
        if kind in BUDGET_KINDS and period in BUDGET_PERIODS and _number(limit):
            found.append(Budget(kind, float(limit or 0), period))
    return tuple(found)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def parse_budget(value: Any, kind: str, period: Any, name: str) -> Budget | None:
    """``budget_tokens`` / ``budget_usd`` as sent: a number (its period is ``period``, else
    ``month``) or a string ``"N/day"`` / ``"N/month"``; None or ``""`` is no budget."""
    if value is None or value == "":
        return None
    default = _period(period if period is not None else "month", "budget_period")
    if isinstance(value, str):
        match = _SPEC.fullmatch(value)
        if match is None:
            raise InvalidRequest(
                f'{name} must be a positive number or "N/day" or "N/month", e.g. "50/month";'
                f" got {_shown(value)}",
                param=name,
            )
        figure, unit = match.group(1).replace("_", "").replace(",", ""), match.group(2)
        limit = _figure(figure, kind, name)
        return Budget(kind, limit, _period(unit.lower(), name) if unit else default)
    if not _number(value) or not math.isfinite(float(value)):
        raise InvalidRequest(f"{name} must be a positive number, got {_shown(value)}", param=name)
    return Budget(kind, _checked(float(value), kind, name), default)


def _figure(text: str, kind: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"{name}: {_shown(text)} is not a number", param=name) from None
    return _checked(value, kind, name)


def _checked(value: float, kind: str, name: str) -> float:
    if not 0 < value <= MAX_BUDGET:
        raise InvalidRequest(f"{name} must be above 0 and at most {MAX_BUDGET:.0e}", param=name)
    if kind == "tokens" and value != int(value):
        raise InvalidRequest(f"{name} must be a whole number of tokens", param=name)
    if kind == "usd" and round(value, 2) != value:
        raise InvalidRequest(
            f"{name} must be in dollars and cents (at most 2 decimals)", param=name
        )
    return value


def _shown(value: Any) -> str:
    """A value echoed in a message: short, whatever was sent."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _period(value: Any, name: str) -> str:
    if value not in BUDGET_PERIODS:
        raise InvalidRequest(f'{name} must be "day" or "month", got {_shown(value)}', param=name)
    return str(value)


def parse_budgets(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The ``budget_tokens``, ``budget_usd`` and ``budget_period`` of a request, as stored."""
    period = spec.get("budget_period")
    budgets = [
        parse_budget(spec.get(f"budget_{kind}"), kind, period, f"budget_{kind}")
        for kind in BUDGET_KINDS
    ]
    stored = [budget.stored() for budget in budgets if budget is not None]
    if period is not None and not stored:
        raise InvalidRequest(
            "budget_period needs budget_tokens or budget_usd", param="budget_period"
        )
    return stored or None


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


def changed_budgets(current: Any, spec: Any) -> list[dict[str, Any]] | None:
    """``current`` (a row's budgets) with the kinds named in ``spec`` replaced: a
    ``budget_tokens`` / ``budget_usd`` of null or "" removes that kind's budget."""
    if not isinstance(spec, dict) or not {"budget_tokens", "budget_usd"} & spec.keys():
        raise InvalidRequest(
            'send {"budget_tokens"?, "budget_usd"?, "budget_period"?}: a number with'
            ' budget_period, a string "N/day" or "N/month", or null to remove one',
            param="budget_tokens",
        )
    kept = {budget.kind: budget.stored() for budget in stored_budgets(current)}
    for kind in BUDGET_KINDS:
        name = f"budget_{kind}"
        if name in spec:
            budget = parse_budget(spec[name], kind, spec.get("budget_period"), name)
            kept.pop(kind, None)
            if budget is not None:
                kept[kind] = budget.stored()
    return list(kept.values()) or None


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    email: str
    role: Role
    key_id: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] | None = None  # a key's model allowlist; None: every model
    context_policy: str | None = None  # a key's choice: trim | strict; None: the default
    budgets: tuple[Budget, ...] = ()  # the key's own
    user_budgets: tuple[Budget, ...] = ()  # the person's, whichever key or session they use

    @property
    def budgeted(self) -> bool:
        return bool(self.budgets or self.user_budgets)

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def require_model(self, model: str) -> None:
        if not self.may_use(model):
            raise PermissionDenied(
                f"this API key may not use {model!r}; it is limited to:"
                f" {', '.join(self.models or ())}",
                param="model",
                code="model_not_allowed",
            )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied(
                "this needs an admin or owner; ask one of them to do it or to change your role"
            )
