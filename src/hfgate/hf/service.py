"""Hugging Face accounts and the Inference Endpoints behind them.

An admin connects a token once (``connect``); hfgate then lists every endpoint of its
namespaces (``endpoints``), imports one without any JSON (``import_endpoint``: the credential
is built from the record and goes through the very same validation as a pasted one), operates
it (``act``: resume, pause, scale to zero — audited), and reads the status of every model whose
endpoint has a record from the management API (``refresh_status``), which never sends the
endpoint itself a request, so a sleeping endpoint stays asleep and a paused one is known as
paused, not "unreachable".
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from hfgate.audit import audit_event
from hfgate.endpoints.state import ModelStatus, StatusBoard, status_from_record
from hfgate.endpoints.waking import ColdStarts
from hfgate.errors import (
    Conflict,
    HfgateError,
    InvalidRequest,
    NotFound,
    UpstreamAuthFailed,
)
from hfgate.hf.client import ACTIONS, ManagementClient
from hfgate.integrations.credential import mask_secret
from hfgate.integrations.report import Listener, Report
from hfgate.integrations.service import IntegrationService
from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.storage.tables import HfAccount, Integration, iso
from hfgate.textcheck import plain_text
from hfgate.upstream.hf_api import EndpointRecord, Prices, price_of
from hfgate.values.principal import Principal
from hfgate.values.served import ServedModel

log = logging.getLogger("hfgate.hf")
CACHE_SECONDS = 10.0
WAKE_EVERY = 180.0  # seconds: one wake on open per model at most, however many people open it


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    user: str
    namespaces: tuple[str, ...]
    token: str


@dataclass(slots=True)
class Listing:
    """Every record of every connected namespace, as of ``at``."""

    records: dict[str, tuple[Account, EndpointRecord]] = field(default_factory=dict)
    prices: dict[str, float | None] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    listed: set[tuple[str, str]] = field(default_factory=set)  # (account id, namespace) read
    at: float = 0.0


class HfService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        client: ManagementClient,
        integrations: IntegrationService,
        board: StatusBoard,
        coldstarts: ColdStarts,
    ) -> None:
        self.db, self.box, self.client = db, box, client
        self.integrations, self.board, self.coldstarts = integrations, board, coldstarts
        self._listing: Listing | None = None
        self._last_prices: dict[str, float | None] = {}  # by endpoint, kept across reads
        self._woken: dict[str, float] = {}  # model → when wake on open last started it

    # -- accounts ----------------------------------------------------------------------------

    async def connect(self, token: Any, namespace: Any, actor: Principal) -> dict[str, Any]:
        """Check the token live (whoami, then listing each namespace) and store it encrypted."""
        token = plain_text(token, "token", 400)
        wanted = plain_text(namespace, "namespace", 200) if namespace is not None else None
        for account in await self._accounts():
            if account.token == token and (wanted is None or wanted in account.namespaces):
                raise Conflict(
                    f"this token is connected already, as {account.user} ({account.id}):"
                    " disconnect that account first to connect it again",
                    param="token",
                    code="account_already_connected",
                )
        who = await _as_caller_error(self.client.whoami(token), "token")
        try:
            namespaces = await self._manageable(token, [wanted] if wanted else list(who.namespaces))
        except InvalidRequest as exc:
            if wanted is None or wanted in who.namespaces:
                raise
            raise InvalidRequest(
                f"the token cannot list the Inference Endpoints of {wanted!r}: its account"
                f" {who.user} belongs to {', '.join(who.namespaces)} ({exc.message})",
                param="namespace",
                code="namespace_not_found",
            ) from None
        row = HfAccount(
            id=str(uuid.uuid4()),
            user=who.user,
            namespaces=namespaces,
            token_encrypted=self.box.encrypt(token),
            token_mask=mask_secret(token),
            created_by=actor.user_id,
        )
        async with self.db.session() as session:
            session.add(row)
            detail = {"namespaces": namespaces, "user": who.user}
            session.add(audit_event(actor, "hf.connect", f"{who.user} ({row.id})", detail))
            await session.commit()
        self._listing = None
        await self.refresh_status()  # pasted credentials find their records at once
        return _account_view(row)

    async def _manageable(self, token: str, namespaces: list[str]) -> list[str]:
        """The namespaces whose endpoints the token may list; one asked for must be."""
        results = await asyncio.gather(
            *(self.client.endpoints(token, ns) for ns in namespaces), return_exceptions=True
        )
        ok = [
            ns for ns, result in zip(namespaces, results, strict=True) if isinstance(result, list)
        ]
        if ok:
            return ok
        error = next(r for r in results if isinstance(r, BaseException))
        if isinstance(error, NotFound):
            raise InvalidRequest(
                f"the namespace {namespaces[0]!r} has no Inference Endpoints on Hugging Face"
                " (or does not exist): give the user or organisation name as it appears in"
                " the endpoints' URLs on huggingface.co",
                param="namespace",
                code="namespace_not_found",
            )
        raise await _as_caller_error(_raise(error), "token")

    async def accounts(self) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            rows = (await session.scalars(select(HfAccount).order_by(HfAccount.created_at))).all()
        return [_account_view(row) for row in rows]

    async def disconnect(self, account_id: str, actor: Principal) -> dict[str, Any]:
        """Forget the token; imported models stay, their status from probes again."""
        async with self.db.session() as session:
            row = await session.get(HfAccount, account_id)
            if row is None:
                raise NotFound(f"no Hugging Face account {account_id!r}", code="account_not_found")
            await session.execute(
                update(Integration)
                .where(Integration.hf_account_id == account_id)
                .values(hf_account_id=None)
            )
            await session.delete(row)
            session.add(audit_event(actor, "hf.disconnect", f"{row.user} ({row.id})"))
            await session.commit()
        self._listing = None
        await self.refresh_status()
        return {"id": account_id, "deleted": True}

    async def _accounts(self) -> list[Account]:
        async with self.db.session() as session:
            rows = (await session.scalars(select(HfAccount).order_by(HfAccount.created_at))).all()
        return [
            Account(row.id, row.user, tuple(row.namespaces), self.box.decrypt(row.token_encrypted))
            for row in rows
        ]

    # -- discovery ---------------------------------------------------------------------------

    async def listing(self, *, refresh: bool = False) -> Listing:
        """Every connected namespace's records, read at most every ``CACHE_SECONDS``."""
        cached = self._listing
        if cached is not None and not refresh and time.monotonic() - cached.at < CACHE_SECONDS:
            return cached
        listing = Listing(at=time.monotonic())
        pairs = [(a, ns) for a in await self._accounts() for ns in a.namespaces]
        await asyncio.gather(*(self._list_into(listing, a, ns) for a, ns in pairs))
        self._listing = listing
        self._last_prices.update(listing.prices)
        return listing

    async def _list_into(self, listing: Listing, account: Account, namespace: str) -> None:
        try:
            records = await self.client.endpoints(account.token, namespace)
        except HfgateError as exc:
            listing.errors.append(
                {"account_id": account.id, "namespace": namespace, "message": exc.message}
            )
            return
        listing.listed.add((account.id, namespace))
        prices = await self._prices(account, namespace)
        for record in records:
            listing.records.setdefault(record.key, (account, record))
            listing.prices[record.key] = price_of(record, prices) if prices else None

    async def _prices(self, account: Account, namespace: str) -> Prices:
        try:
            return await self.client.prices(account.token, namespace)
        except HfgateError as exc:  # the list is worth showing without prices
            log.warning("no price list for %s: %s", namespace, exc.message)
            return {}

    async def endpoints(self, *, refresh: bool = False) -> dict[str, Any]:
        if refresh:  # what is read fresh is what the models' status says too
            await self.refresh_status()
        listing = await self.listing()
        links = await self._links()
        views = [
            _endpoint_view(record, account, listing.prices.get(key), links.get(key))
            for key, (account, record) in sorted(listing.records.items())
        ]
        return {"endpoints": views, "errors": listing.errors}

    async def _links(self) -> dict[str, Integration]:
        """Integrations by the record they belong to (imported, or matched by URL)."""
        async with self.db.session() as session:
            rows = (await session.scalars(select(Integration))).all()
        return {row.hf_endpoint: row for row in rows if row.hf_endpoint}

    def forget_listing(self) -> None:
        """A change was made on Hugging Face: the next read lists afresh."""
        self._listing = None

    async def record(self, namespace: str, name: str) -> tuple[Account, EndpointRecord]:
        """An endpoint's record, read with the connected account that covers its namespace."""
        return await self._record(namespace, name)

    async def _record(self, namespace: str, name: str) -> tuple[Account, EndpointRecord]:
        for account in await self._accounts():
            if namespace in account.namespaces:
                return account, await self.client.endpoint(account.token, namespace, name)
        raise NotFound(
            f"no connected Hugging Face account covers the namespace {namespace!r}: connect"
            " one first (POST /api/hf/accounts, or hfgate hf connect)",
            code="namespace_not_connected",
        )

    # -- import ------------------------------------------------------------------------------

    async def import_endpoint(
        self,
        namespace: str,
        name: str,
        options: Any,
        actor: Principal,
        *,
        wait: float = 0.0,
        listener: Listener | None = None,
    ) -> tuple[Report, dict[str, Any] | None]:
        """Build the credential from the record and add it as if it had been pasted."""
        account, record = await self._record(namespace, name)
        credential = await self._credential(record, account, _options(options))
        link = (record.key, account.id)
        report, view = await self.integrations.add(
            credential, actor, wait=wait, listener=listener, link=link
        )
        if view is not None:
            self._listing = None
            self._show(view["name"], record)
        return report, view

    async def _credential(
        self, record: EndpointRecord, account: Account, options: dict[str, Any]
    ) -> dict[str, Any]:
        if reason := record.unsupported():
            raise InvalidRequest(f"not imported: {reason}", code="engine_unsupported")
        if record.url is None:
            raise InvalidRequest(
                f"not imported: {record.key} has no URL yet (it is {record.state}); import it"
                " once Hugging Face has given it one",
                code="endpoint_without_url",
            )
        context = options.get("context_window") or record.context_window()
        if context is None and record.state == "running":  # asking a running one wakes nothing
            context = await self.client.context_window(
                record.url, options.get("api_key") or account.token
            )
        if context is None and record.engine != "tei":  # TEI's validation reads /info
            raise InvalidRequest(
                f"the record of {record.key} does not say its context window (no"
                " MAX_TOTAL_TOKENS or --max-model-len in its settings) and it is not running to"
                " ask: give context_window",
                param="context_window",
                code="context_window_unknown",
            )
        credential = {
            "api_key": options.get("api_key") or account.token,
            "endpoint": record.url,
            "model_name": record.repository,
        }
        if context is not None:
            credential["context_window"] = context
        return credential | ({"name": options["name"]} if options.get("name") else {})

    async def import_all(self, actor: Principal) -> dict[str, Any]:
        """Every supported endpoint not imported yet: ``imported``, ``failed`` (an import that
        was refused: no URL yet, unknown context window…) and ``skipped`` (on purpose)."""
        listing = await self.listing(refresh=True)
        links = await self._links()
        result: dict[str, list[dict[str, Any]]] = {"imported": [], "failed": [], "skipped": []}
        for key, (_, record) in sorted(listing.records.items()):
            reason = "already imported" if key in links else record.unsupported()
            if reason is not None:
                result["skipped"].append({"endpoint": key, "reason": reason})
                continue
            try:
                report, view = await self.import_endpoint(record.namespace, record.name, {}, actor)
            except HfgateError as exc:
                result["failed"].append({"endpoint": key, "message": exc.message, "code": exc.code})
                continue
            model = view["name"] if view else None
            outcome = {"outcome": report.outcome, "model": model, "summary": report.summary()}
            result["imported"].append({"endpoint": key} | outcome)
        return result

    # -- operate -----------------------------------------------------------------------------

    async def act(self, namespace: str, name: str, action: str, actor: Principal) -> dict[str, Any]:
        if action not in ACTIONS:
            raise NotFound(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
        account, record = await self._record(namespace, name)
        try:
            record = await self.client.act(account.token, namespace, name, action)
        except InvalidRequest as exc:
            if not (action == "resume" and "running" in exc.message.lower()):
                raise
            # Resuming a running endpoint is what the admin wanted already.
        async with self.db.session() as session:
            detail = {"state": record.state}
            session.add(audit_event(actor, f"hf.{action}", record.key, detail))
            await session.commit()
        price = self._last_prices.get(record.key)
        self._listing = None
        row = await self._remember_who_paused(record.key, action)
        if row is not None:
            self._show(row.name, record)
        return _endpoint_view(record, account, price, row)

    async def _remember_who_paused(self, key: str, action: str) -> Integration | None:
        """Wake on open may resume an endpoint only if hfgate paused it."""
        async with self.db.session() as session:
            row = await session.scalar(select(Integration).where(Integration.hf_endpoint == key))
            if row is not None and action in ("pause", "resume"):
                row.paused_by_hfgate = action == "pause"
                await session.commit()
        return row

    # -- wake on open ------------------------------------------------------------------------

    async def wake_on_open(self, model: ServedModel, who: Principal) -> dict[str, Any]:
        """Someone opened the chat with ``model``: start its endpoint now, if its admin opted
        in, so it is warm by the time the first message is typed. At most once per
        ``WAKE_EVERY`` seconds per model, and never a pause that hfgate did not make."""
        typical = self.coldstarts.typical_wake(model.name)
        answer: dict[str, Any] = {"model": model.name, "woken": False, "typical_seconds": typical}
        async with self.db.session() as session:
            row = await session.get(Integration, model.integration_id)
        status = self.board.get(model.name).status
        reason = self._why_not_wake(model.name, row, status)
        if reason:
            return answer | {"status": status, "reason": reason}
        self._woken[model.name] = time.monotonic()
        if status is ModelStatus.PAUSED and row is not None and row.hf_endpoint:
            namespace, name = row.hf_endpoint.split("/", 1)
            await self.act(namespace, name, "resume", who)
        else:
            self.coldstarts.wake(model)
        return answer | {"woken": True, "status": self.board.get(model.name).status}

    def _why_not_wake(self, name: str, row: Integration | None, status: ModelStatus) -> str | None:
        if row is None or not row.wake_on_open:
            return "wake on open is off for this model (an admin turns it on)"
        if status not in (ModelStatus.SCALED_TO_ZERO, ModelStatus.PAUSED, ModelStatus.IDLE):
            return f"the endpoint is {status}, not asleep"
        if status is ModelStatus.PAUSED and not (row.paused_by_hfgate and row.hf_endpoint):
            return "the endpoint was paused on Hugging Face, not by hfgate: an admin resumes it"
        if time.monotonic() - self._woken.get(name, -WAKE_EVERY) < WAKE_EVERY:
            return "woken a moment ago"
        return None

    # -- status ------------------------------------------------------------------------------

    async def refresh_status(self) -> int:
        """Every served model with a record gets its status from it; returns how many."""
        listing = await self.listing(refresh=True)
        async with self.db.session() as session:
            rows = (await session.scalars(select(Integration))).all()
            matched = self._match_by_url(rows, listing)
            await session.commit()
        managed: dict[str, str] = {}
        for row in rows:
            key = row.hf_endpoint
            if key is None or row.hf_account_id is None or row.state != "ready":
                continue
            known = listing.records.get(key)
            if known is None and (row.hf_account_id, key.split("/", 1)[0]) not in listing.listed:
                continue  # the namespace could not be read just now: keep what we know
            managed[row.name] = key
            self._show(row.name, known[1] if known else None)
        for name in set(self.board.managed) - set(managed):
            self.board.managed.pop(name, None)
        if matched:
            log.info("matched %d integration(s) to their Hugging Face records by URL", matched)
        return len(managed)

    def _match_by_url(self, rows: Any, listing: Listing) -> int:
        """A pasted credential finds its record: same URL as one of a connected namespace."""
        by_url = {
            _normal(record.url): (account, record)
            for account, record in listing.records.values()
            if record.url
        }
        matched = 0
        for row in rows:
            if row.hf_account_id is None and (found := by_url.get(_normal(row.endpoint))):
                row.hf_endpoint, row.hf_account_id = found[1].key, found[0].id
                matched += 1
        return matched

    def _show(self, model: str, record: EndpointRecord | None) -> None:
        status, detail = status_from_record(record)
        self.board.managed[model] = record.key if record else self.board.managed.get(model, "")
        entry = self.board.get(model)
        if (entry.status, entry.detail) != (status, detail):
            self.board.set(model, status, detail)

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                if await self._has_accounts():
                    await self.refresh_status()
            except Exception:
                log.exception("reading endpoint status from Hugging Face failed")
            await asyncio.sleep(interval)

    async def _has_accounts(self) -> bool:
        async with self.db.session() as session:
            return await session.scalar(select(HfAccount.id).limit(1)) is not None


# -- helpers -------------------------------------------------------------------------------------


async def _raise(error: BaseException) -> Any:
    raise error


async def _as_caller_error(call: Any, param: str) -> Any:
    """A token the caller gave that Hugging Face refuses is the caller's mistake (400)."""
    try:
        return await call
    except UpstreamAuthFailed as exc:
        raise InvalidRequest(exc.message, param=param, code=exc.code) from None


def _options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidRequest("the body must be a JSON object (or empty)")
    unknown = sorted(set(options) - {"name", "context_window", "api_key"})
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r}: this route takes name, context_window, api_key",
            param=unknown[0],
        )
    return options


def _normal(url: str | None) -> str:
    return (url or "").rstrip("/").lower()


def _account_view(row: HfAccount) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": row.user,
        "namespaces": list(row.namespaces),
        "token": row.token_mask,
        "created_at": iso(row.created_at),
    }


def _endpoint_view(
    record: EndpointRecord, account: Account, price: float | None, row: Integration | None
) -> dict[str, Any]:
    status, detail = status_from_record(record)
    return {
        "namespace": record.namespace,
        "name": record.name,
        "state": record.state,
        "status": status,
        "status_detail": detail,
        "url": record.url,
        "repository": record.repository,
        "task": record.task,
        "engine": record.engine,
        "accelerator": record.accelerator,
        "instance_type": record.instance_type,
        "instance_size": record.instance_size,
        "vendor": record.vendor,
        "region": record.region,
        "price_per_hour": price,
        "scale_to_zero_timeout": record.scale_to_zero_timeout,
        "min_replica": record.min_replica,
        "max_replica": record.max_replica,
        "ready_replica": record.ready_replica,
        "target_replica": record.target_replica,
        "message": record.message,
        "context_window": record.context_window(),
        "supported": record.unsupported() is None,
        "unsupported_reason": record.unsupported(),
        "model": row.name if row else None,
        "integration_id": row.id if row else None,
        "account_id": account.id,
    }
