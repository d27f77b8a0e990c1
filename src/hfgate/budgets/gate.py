"""Budgets taken where rate limits are: every generation route (OpenAI, TGI, embeddings, the
workspace's chat) asks the process's limiter before it calls an endpoint, so wrapping that
limiter refuses an over-budget call before anything is sent upstream."""

from __future__ import annotations

from typing import Protocol

from hfgate.budgets.service import Budgets
from hfgate.values.principal import Principal


class Limiter(Protocol):
    """``hfgate.auth.ratelimit.Limiter``, which this layer may not import."""

    async def acquire(self, principal: Principal) -> None: ...

    def spend(self, principal: Principal, tokens: int) -> None: ...


class BudgetGate:
    def __init__(self, limiter: Limiter, budgets: Budgets) -> None:
        self.limiter, self.budgets = limiter, budgets

    async def acquire(self, principal: Principal) -> None:
        # Budgets first: a refused call must not use up a request of the rate limit.
        if principal.budgeted:
            await self.budgets.check(principal)
        await self.limiter.acquire(principal)

    def spend(self, principal: Principal, tokens: int) -> None:
        self.limiter.spend(principal, tokens)
