"""The dollars a key or a person has spent since a moment: their attributed serving cost.

Budgets check this before each call; one answer per database is kept a few seconds
(``SPEND_CACHE_SECONDS``), since the ledger's figures move with time, not per request.
"""

from __future__ import annotations

import weakref
from datetime import datetime

from hfgate.costs.service import CostService
from hfgate.storage import Database

_services: weakref.WeakKeyDictionary[Database, CostService] = weakref.WeakKeyDictionary()


async def spent_usd(
    db: Database, since: datetime, *, key_id: int | None = None, user_id: int | None = None
) -> float:
    service = _services.get(db)
    if service is None:
        service = _services[db] = CostService(db)
    return await service.spent_usd(since, key_id=key_id, user_id=user_id)
