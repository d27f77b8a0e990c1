"""The ledger's storage: spans of endpoint state, the one-writer lease, and the rows it reads.

Spans are written by one process at a time (``Lease``): every process observes, only the
lease holder writes, and a holder that dies stops renewing, so another takes over within
``ttl`` seconds. Time the writer missed stays a gap between spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from hfgate.costs.ledger import Span
from hfgate.storage import Database
from hfgate.storage.tables import ColdStart, EndpointSpan, Lease, UsageRecord, aware


@dataclass(frozen=True, slots=True)
class Observation:
    """An endpoint's state as seen now, by the management API or from traffic and checks."""

    model: str
    state: str
    replicas: int
    price_per_hour: float | None
    hf_endpoint: str | None = None
    source: str = "observed"  # management | observed

    def same(self, span: EndpointSpan) -> bool:
        return (self.state, self.replicas, self.price_per_hour, self.hf_endpoint) == (
            span.state,
            span.replicas,
            span.price_per_hour,
            span.hf_endpoint,
        )


@dataclass(frozen=True, slots=True)
class Use:
    """One usage row as the ledger needs it."""

    model: str
    end: float
    seconds: float
    user_id: int | None
    key_id: int | None
    tokens: int


def _ts(moment: datetime) -> float:
    return aware(moment).timestamp()


async def acquire(db: Database, name: str, holder: str, ttl: float, now: datetime) -> bool:
    """Take or renew the lease ``name``; False while another holder's lease runs."""
    expires = now + timedelta(seconds=ttl)
    async with db.session() as session:
        taken = await session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
        if getattr(taken, "rowcount", 0) == 1:
            await session.commit()
            return True
        if await session.get(Lease, name) is not None:
            return False
        session.add(Lease(name=name, holder=holder, expires_at=expires))
        try:
            await session.commit()
        except IntegrityError:  # another process created it first: theirs
            return False
    return True


async def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up (a clean shutdown), so the next process writes on at once."""
    async with db.session() as session:
        await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
        await session.commit()


async def record(
    db: Database, observations: list[Observation], now: datetime, max_gap: float
) -> None:
    """Extend each model's open span, or start a new one on a change or after a gap."""
    async with db.session() as session:
        for seen in observations:
            last = await session.scalar(
                select(EndpointSpan)
                .where(EndpointSpan.model == seen.model)
                .order_by(EndpointSpan.ended_at.desc(), EndpointSpan.id.desc())
                .limit(1)
            )
            gap = (now - aware(last.ended_at)).total_seconds() if last else None
            continuous = last is not None and gap is not None and 0 <= gap <= max_gap
            if continuous and last is not None:
                # Sample and hold: the state last seen lasted until this observation.
                last.ended_at = now
                if seen.same(last):
                    continue
            session.add(_span(seen, now, now))
        await session.commit()


def _span(seen: Observation, start: datetime, now: datetime) -> EndpointSpan:
    return EndpointSpan(
        model=seen.model,
        hf_endpoint=seen.hf_endpoint,
        state=seen.state,
        replicas=seen.replicas,
        price_per_hour=seen.price_per_hour,
        source=seen.source,
        started_at=start,
        ended_at=now,
    )


async def spans(db: Database, since: datetime, until: datetime) -> dict[str, list[Span]]:
    """Every model's spans overlapping [since, until), in time order."""
    query = (
        select(EndpointSpan)
        .where(EndpointSpan.ended_at > since, EndpointSpan.started_at < until)
        .order_by(EndpointSpan.started_at, EndpointSpan.id)
    )
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    found: dict[str, list[Span]] = {}
    for row in rows:
        span = Span(
            row.state, row.replicas, row.price_per_hour, _ts(row.started_at), _ts(row.ended_at)
        )
        found.setdefault(row.model, []).append(span)
    return found


async def endpoint_names(db: Database, since: datetime, until: datetime) -> dict[str, str]:
    """The ``namespace/name`` each model's spans carry, when known."""
    query = select(EndpointSpan.model, EndpointSpan.hf_endpoint).where(
        EndpointSpan.ended_at > since,
        EndpointSpan.started_at < until,
        EndpointSpan.hf_endpoint.is_not(None),
    )
    async with db.session() as session:
        return {model: name for model, name in (await session.execute(query)).all() if name}


async def uses(
    db: Database, since: datetime, until: datetime, models: list[str] | None = None
) -> list[Use]:
    """Usage rows whose request ran within [since, until) (with a day's slack for long calls)."""
    query = select(
        UsageRecord.model,
        UsageRecord.created_at,
        UsageRecord.latency_ms,
        UsageRecord.user_id,
        UsageRecord.key_id,
        UsageRecord.prompt_tokens,
        UsageRecord.completion_tokens,
    ).where(UsageRecord.created_at >= since, UsageRecord.created_at < until + timedelta(days=1))
    if models is not None:
        query = query.where(UsageRecord.model.in_(models))
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        Use(m, _ts(at), max(0.0, (lat or 0.0) / 1000.0), u, k, int(p or 0) + int(c or 0))
        for m, at, lat, u, k, p, c in rows
    ]


async def cold_start_seconds(db: Database, since: datetime) -> dict[str, list[float]]:
    """How long each model's recorded wake-ups took (those that ended ready)."""
    query = select(ColdStart.model, ColdStart.seconds).where(
        and_(ColdStart.started_at >= since, ColdStart.outcome == "ready")
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    found: dict[str, list[float]] = {}
    for model, seconds in rows:
        found.setdefault(model, []).append(float(seconds))
    return found


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
