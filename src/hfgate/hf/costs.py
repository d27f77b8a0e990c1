"""What the cost ledger learns from the management plane, and the one change advice makes.

An endpoint with a record (imported, or matched by URL) is observed through it: its exact
state, replicas and instance price, without sending the endpoint a request. Any other model
is observed from traffic and status checks (the status board), priced by the admin
(``integrations.price_per_hour``); a status that is only inferred (``idle``: it may have
scaled to zero) is recorded as ``unknown``, never guessed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hfgate.audit import audit_event
from hfgate.costs.service import EndpointFacts
from hfgate.costs.store import Observation
from hfgate.endpoints.state import ModelStatus
from hfgate.errors import InvalidRequest, NotFound
from hfgate.hf.service import HfService, Listing
from hfgate.storage.tables import Integration
from hfgate.upstream.hf_api import EndpointRecord
from hfgate.values.principal import Principal

STATE_FOR_STATUS = {
    ModelStatus.READY: "running",
    ModelStatus.SCALED_TO_ZERO: "scaledToZero",
    ModelStatus.WAKING: "initializing",
    ModelStatus.INITIALIZING: "initializing",
    ModelStatus.PAUSED: "paused",
    ModelStatus.FAILED: "failed",
}
BILLED = frozenset({"running", "updating", "initializing"})


def billed_replicas(record: EndpointRecord) -> int:
    """Replicas billed in the record's state: running or starting ones, at least one."""
    if record.state not in BILLED:
        return 0
    return max(1, record.ready_replica or 0, record.target_replica or 0)


class CostSource:
    """Observations and facts for the ledger, read from hfgate's view of each endpoint."""

    def __init__(self, hf: HfService) -> None:
        self.hf = hf

    async def _rows(self) -> list[Integration]:
        async with self.hf.db.session() as session:
            query = select(Integration).where(Integration.state == "ready")
            return list((await session.scalars(query)).all())

    def _managed(self, row: Integration, listing: Listing) -> EndpointRecord | None:
        if row.hf_endpoint is None or row.hf_account_id is None:
            return None
        found = listing.records.get(row.hf_endpoint)
        return found[1] if found else None

    async def observations(self) -> list[Observation]:
        listing = await self.hf.listing()
        return [self._observe(row, listing) for row in await self._rows()]

    def _observe(self, row: Integration, listing: Listing) -> Observation:
        record = self._managed(row, listing)
        if record is not None:
            price = listing.prices.get(record.key) or row.price_per_hour
            replicas = billed_replicas(record)
            return Observation(row.name, record.state, replicas, price, record.key, "management")
        state = STATE_FOR_STATUS.get(self.hf.board.get(row.name).status, "unknown")
        replicas = 1 if state in BILLED else 0
        return Observation(row.name, state, replicas, row.price_per_hour, row.hf_endpoint)

    async def facts(self) -> dict[str, EndpointFacts]:
        listing = await self.hf.listing()
        return {row.name: self._fact(row, listing) for row in await self._rows()}

    def _fact(self, row: Integration, listing: Listing) -> EndpointFacts:
        record = self._managed(row, listing)
        if record is None:
            unlinked = "not linked to a connected Hugging Face account: its timeout is set there"
            admin = "admin" if row.price_per_hour is not None else None
            return EndpointFacts(
                row.name, row.hf_endpoint, row.price_per_hour, admin, None, 1, unlinked
            )
        provider = listing.prices.get(record.key)
        price = provider if provider is not None else row.price_per_hour
        source = "provider" if provider is not None else "admin" if price is not None else None
        never = (record.min_replica or 0) > 0
        timeout = None if never else record.scale_to_zero_timeout
        why = (
            f"its minimum replicas is {record.min_replica}: it never scales to zero"
            if never
            else None
        )
        replicas = max(1, record.min_replica or 0)
        return EndpointFacts(row.name, record.key, price, source, timeout, replicas, why)

    async def apply_timeout(self, model: str, minutes: Any, actor: Principal) -> dict[str, Any]:
        """Set a model's scale-to-zero timeout on Hugging Face (an admin's click; audited)."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10080:
            raise InvalidRequest(
                "timeout_minutes must be a whole number of minutes (1 to 10080)",
                param="timeout_minutes",
            )
        self.hf.forget_listing()  # an admin's rare click: decide on the record as it is now
        fact = (await self.facts()).get(model)
        if fact is None:
            raise NotFound(f"no served model is called {model!r}")
        if fact.why_not is not None or fact.hf_endpoint is None:
            raise InvalidRequest(f"{model}: {fact.why_not}", code="cannot_apply")
        namespace, name = fact.hf_endpoint.split("/", 1)
        account, before = await self.hf.record(namespace, name)
        changes = {"compute": {"scaling": {"scaleToZeroTimeout": minutes}}}
        record = await self.hf.client.update(account.token, namespace, name, changes)
        async with self.hf.db.session() as session:
            detail = {"from": before.scale_to_zero_timeout, "to": record.scale_to_zero_timeout}
            session.add(audit_event(actor, "hf.scale_to_zero_timeout", record.key, detail))
            await session.commit()
        self.hf.forget_listing()
        return {"model": model, "hf_endpoint": record.key, "timeout_minutes": minutes}
