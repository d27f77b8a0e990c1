"""Budgets: refuse a call when a key's or a person's budget for the period is spent.

Before a call, ``check`` compares each budget of the caller's key and person with what was
spent in its period; after it, ``count`` adds the call's tokens (prompt + completion) to the
counters of the token budgets. A call started under a limit may end over it; the next is
refused. Dollars are the holder's attributed cost from the cost ledger
(``CostService.spent_usd``), read at most every ``USD_CACHE_SECONDS`` per holder and period.
A principal without budgets never reaches this module (``Principal.budgeted``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hfgate.audit import audit_event
from hfgate.budgets.counters import Counters, MemoryCounters, SeedFailed
from hfgate.budgets.periods import shown, window
from hfgate.costs.service import CostService
from hfgate.errors import BudgetExceeded, NotFound
from hfgate.storage import Database
from hfgate.storage.tables import UsageRecord, User
from hfgate.values.principal import Budget, Principal, changed_budgets, stored_budgets

log = logging.getLogger("hfgate.budgets")
USD_CACHE_SECONDS = 10.0
MAX_ID = 2**31 - 1  # past this an id cannot be in the database (nor passed to it)
WARNING_SHARE = 0.8
KEEP_PAST_END = timedelta(days=1)  # a counter outlives its period: late calls still find it
SpentUsd = Callable[..., Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Holder:
    """Whose spending a budget caps: ``key`` (an API key) or ``user`` (a person)."""

    kind: str
    id: int

    @property
    def column(self) -> Any:
        return UsageRecord.key_id if self.kind == "key" else UsageRecord.user_id


@dataclass(frozen=True, slots=True)
class Standing:
    """One budget, what its holder spent in the current period, and when that resets."""

    holder: Holder
    budget: Budget
    spent: float
    resets_at: datetime

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.limit

    @property
    def warning(self) -> bool:
        return self.spent >= WARNING_SHARE * self.budget.limit

    def view(self) -> dict[str, Any]:
        return self.budget.stored() | {
            "spent": round(self.spent, 4) if self.budget.kind == "usd" else int(self.spent),
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
            "warning": self.warning,
            "exhausted": self.exhausted,
        }

    def refusal(self, email: str) -> BudgetExceeded:
        whose = "this API key's" if self.holder.kind == "key" else f"{email}'s"
        return BudgetExceeded(
            f"{whose} budget of {_figure(self.budget, self.budget.limit)} per"
            f" {self.budget.period} is spent ({_figure(self.budget, self.spent, unit=False)}"
            " used);"
            f" it resets at {shown(self.resets_at)}",
            retry_after=max(1.0, (self.resets_at - datetime.now(UTC)).total_seconds()),
        )


def _figure(budget: Budget, amount: float, *, unit: bool = True) -> str:
    if budget.kind == "usd":
        return f"${amount:,.2f}"
    return f"{int(amount):,} tokens" if unit else f"{int(amount):,}"


def holdings(principal: Principal) -> list[tuple[Holder, Budget]]:
    """The caller's budgets: its key's, then its person's (a session has only the latter)."""
    found = [(Holder("user", principal.user_id), b) for b in principal.user_budgets]
    if principal.key_id is not None:
        found[:0] = [(Holder("key", principal.key_id), b) for b in principal.budgets]
    return found


class Budgets:
    def __init__(
        self, db: Database, counters: Counters | None = None, usd: SpentUsd | None = None
    ) -> None:
        self.db = db
        self.counters: Counters = counters or MemoryCounters()
        # The process's cost service (``Services`` hands its own), so one ledger read serves
        # every key's and person's dollars at once.
        self.usd: SpentUsd = usd or CostService(db).spent_usd
        self._usd_cache: dict[tuple[Holder, datetime], tuple[float, float]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def check(self, principal: Principal) -> None:
        """Raise ``BudgetExceeded`` for the first spent budget; a failure to read the
        figures lets the call through (a budget must not stop the gateway), logged."""
        now = datetime.now(UTC)
        for holder, budget in holdings(principal):
            try:
                standing = await self.standing(holder, budget, now)
            except SeedFailed as exc:
                log.warning("could not read spending for a budget (%s): call allowed", exc)
                continue
            if standing.exhausted:
                raise standing.refusal(principal.email)

    async def standing(self, holder: Holder, budget: Budget, now: datetime) -> Standing:
        start, end = window(budget.period, now)
        if budget.kind == "usd":
            spent = await self._dollars(holder, start)
        else:
            spent = float(await self.counters.read(*self._counter(holder, start, end)))
        return Standing(holder, budget, spent, end)

    async def report(
        self, budgets: Sequence[Budget], *, key_id: int | None = None, user_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Each budget with ``spent``, ``resets_at`` and ``warning`` (at 80 %), for pages."""
        holder = Holder("key", key_id) if key_id is not None else Holder("user", user_id or 0)
        now = datetime.now(UTC)
        return [(await self.standing(holder, budget, now)).view() for budget in budgets]

    async def mine(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's own budgets as a person, with what they spent (``GET /api/me/budgets``):
        read from the database, so a change shows at once."""
        async with self.db.session() as session:
            raw = await session.scalar(select(User.budgets).where(User.id == principal.user_id))
        return await self.report(stored_budgets(raw), user_id=principal.user_id)

    async def set_person(self, actor: Principal, user_id: int, spec: Any) -> dict[str, Any]:
        """Set a person's budgets (admins; audited): the kinds named in ``spec`` are replaced,
        null removes one."""
        actor.require_admin()
        async with self.db.session() as session:
            user = await session.get(User, user_id) if 0 < user_id <= MAX_ID else None
            if user is None:
                raise NotFound(f"no user with id {user_id}", code="user_not_found")
            user.budgets = changed_budgets(user.budgets, spec)
            detail = {"budgets": user.budgets}
            session.add(audit_event(actor, "user.budgets", user.email, detail))
            await session.commit()
        budgets = await self.report(stored_budgets(user.budgets), user_id=user_id)
        return {"id": user.id, "email": user.email, "budgets": budgets}

    async def count(self, principal: Principal, tokens: int) -> None:
        """Add a finished call's tokens to its token budgets' counters; never raises."""
        if tokens <= 0:
            return
        now = datetime.now(UTC)
        periods = {(h, b.period) for h, b in holdings(principal) if b.kind == "tokens"}
        for holder, period in periods:
            start, end = window(period, now)
            name, ttl, seed = self._counter(holder, start, end)
            try:
                await self.counters.add(name, tokens, ttl, seed)
            except Exception as exc:  # accounting must never fail a response
                log.warning("could not count %d tokens against a budget: %s", tokens, exc)

    def count_later(self, principal: Principal, tokens: int) -> None:
        """``count`` off the request path (a stream cut short, a failed call)."""
        task = asyncio.ensure_future(self.count(principal, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _counter(
        self, holder: Holder, start: datetime, end: datetime
    ) -> tuple[str, int, Callable[[], Awaitable[int]]]:
        name = f"hfgate:budget:{holder.kind[0]}{holder.id}:{start:%Y%m%d}:{end:%Y%m%d}"
        ttl = int((end + KEEP_PAST_END - datetime.now(UTC)).total_seconds())

        async def seed() -> int:
            return await self._tokens_since(holder, start)

        return name, max(ttl, 1), seed

    async def _tokens_since(self, holder: Holder, start: datetime) -> int:
        used = UsageRecord.prompt_tokens + UsageRecord.completion_tokens
        query = select(func.coalesce(func.sum(used), 0)).where(
            holder.column == holder.id, UsageRecord.created_at >= start
        )
        async with self.db.session() as session:
            return int(await session.scalar(query) or 0)

    async def _dollars(self, holder: Holder, start: datetime) -> float:
        cached = self._usd_cache.get((holder, start))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        ids = {"key_id": holder.id} if holder.kind == "key" else {"user_id": holder.id}
        try:
            spent = float(await self.usd(start, **ids))
        except Exception as exc:
            raise SeedFailed(f"the cost ledger: {exc}") from exc
        if len(self._usd_cache) > 10_000:
            self._usd_cache.clear()
        self._usd_cache[(holder, start)] = (time.monotonic() + USD_CACHE_SECONDS, spent)
        return spent
