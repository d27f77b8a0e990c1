"""Integrations as a service: parse, validate, store, list, rotate, remove, finish pending.

Routes and CLI commands call this and only render what it returns. Invariants kept here:
a credential that fails is never stored; the api_key is encrypted before it touches the
database and leaves only as a mask; the catalog is reloaded after every change, so a model
appears in (or disappears from) every list at once.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hfgate.audit import audit_event
from hfgate.catalog import Catalog
from hfgate.catalog.catalog import capabilities
from hfgate.endpoints.state import ModelStatus, StatusBoard
from hfgate.errors import Conflict, InvalidRequest, NotFound, ValidationFailed
from hfgate.integrations.credential import Credential, ParsedCredential, parse_credential
from hfgate.integrations.report import Listener, Outcome, Report, Status
from hfgate.integrations.validation import Validator
from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.storage.tables import AuditEvent, Integration, iso
from hfgate.upstream.netguard import HostPolicy
from hfgate.values.principal import Principal
from hfgate.values.request import check_policy

# Stored while a credential without context_window waits for its endpoint to say it (TEI's
# max_input_length, read once the endpoint runs); never served: only ready rows are.
UNKNOWN_WINDOW = 0
PAUSED_RECHECK_SECONDS = 15.0  # a paused endpoint answers from the proxy: checking is free
SETTINGS = frozenset({"wake_on_open", "context_policy", "capabilities", "price_per_hour"})
# (settings need no revalidation)
MAX_PRICE = 1000.0  # USD per replica-hour: far above any instance Hugging Face lists
EDITABLE = frozenset({"name", "api_key", "context_window"}) | SETTINGS
CAPABILITIES = ("vision", "tools", "json_schema")


def _credential_report(parsed: ParsedCredential, listener: Listener | None = None) -> Report:
    report = Report(notes=list(parsed.notes), listener=listener)
    if parsed.problems:
        report.problems = [{"field": p.field, "message": p.message} for p in parsed.problems]
        more = len(parsed.problems) - 1
        first = parsed.problems[0].message + (
            f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        )
        report.add("credential", Status.FAIL, first)
        report.skip_rest("not checked: the credential is invalid")
    else:
        report.add("credential", Status.OK, "well-formed")
    return report


class IntegrationService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        catalog: Catalog,
        board: StatusBoard,
        validator: Validator,
        policy: HostPolicy,
    ) -> None:
        self.db, self.box, self.catalog, self.board = db, box, catalog, board
        self.validator, self.policy = validator, policy
        self._next_paused_check: dict[str, float] = {}

    # -- validation without storing ----------------------------------------------------------

    async def check(
        self, raw: Any, *, wait: float = 0.0, listener: Listener | None = None
    ) -> tuple[Report, Credential | None]:
        return await self._check(parse_credential(raw, self.policy), wait, listener)

    async def _check(
        self, parsed: ParsedCredential, wait: float, listener: Listener | None
    ) -> tuple[Report, Credential | None]:
        report = _credential_report(parsed, listener)
        if parsed.credential is None:
            return report, None
        live = await self.validator.validate(parsed.credential, wait=wait, listener=listener)
        report.checks += live.checks
        report.facts, report.pending = live.facts, live.pending
        report.problems = live.problems  # context_window left out for an engine that needs it
        return report, with_window(parsed.credential, live)

    # -- create ------------------------------------------------------------------------------

    async def add(
        self,
        raw: Any,
        actor: Principal,
        *,
        wait: float = 0.0,
        listener: Listener | None = None,
        link: tuple[str, str] | None = None,
    ) -> tuple[Report, dict[str, Any] | None]:
        """``link``: the Hugging Face record (``namespace/name``, account id) it came from."""
        parsed = parse_credential(raw, self.policy)
        if parsed.credential is not None:
            await self._ensure_name_free(parsed.credential.name)
        report, credential = await self._check(parsed, wait, listener)
        if credential is None or report.outcome in (Outcome.FAILED, Outcome.INVALID):
            return report, None
        row = self._new_row(credential, report, actor)
        row.hf_endpoint, row.hf_account_id = link if link else (None, None)
        async with self.db.session() as session:
            session.add(row)
            session.add(_audit_row(actor, "integration.add", row, {"outcome": report.outcome}))
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict(_name_taken(credential.name)) from None
        await self._after_change(row, report)
        return report, self._view(row)

    async def _ensure_name_free(self, name: str) -> None:
        async with self.db.session() as session:
            if await session.scalar(select(Integration.id).where(Integration.name == name)):
                raise Conflict(_name_taken(name), param="name")

    def _new_row(self, credential: Credential, report: Report, actor: Principal) -> Integration:
        ready = report.outcome is Outcome.VALID
        return Integration(
            id=str(uuid.uuid4()),
            name=credential.name,
            model_name=credential.model_name,
            endpoint=credential.endpoint,
            api_key_encrypted=self.box.encrypt(credential.api_key),
            api_key_mask=credential.masked_key(),
            context_window=credential.context_window or UNKNOWN_WINDOW,
            state="ready" if ready else "pending",
            facts=report.facts,
            report=report.to_dict(),
            created_by=actor.user_id,
            validated_at=datetime.now(UTC) if ready else None,
        )

    # -- read --------------------------------------------------------------------------------

    async def list(self) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            rows = (await session.scalars(select(Integration).order_by(Integration.name))).all()
        return [self._view(row) for row in rows]

    async def get(self, integration_id: str) -> dict[str, Any]:
        return self._view(await self._row(integration_id))

    async def _row(self, integration_id: str) -> Integration:
        async with self.db.session() as session:
            row = await session.get(Integration, integration_id)
        if row is None:
            raise NotFound(
                f"no integration with id {integration_id!r}", code="integration_not_found"
            )
        return row

    def _view(self, row: Integration) -> dict[str, Any]:
        status = self.board.get(row.name) if row.state == "ready" else None
        return {
            "id": row.id,
            "name": row.name,
            "model_name": row.model_name,
            "endpoint": row.endpoint,
            "api_key": row.api_key_mask,
            "context_window": row.context_window,
            "state": row.state,
            "status": status.status if status else row.state,
            "status_detail": status.detail if status else (row.report or {}).get("summary", ""),
            "engine": (row.facts or {}).get("engine"),
            "engine_version": (row.facts or {}).get("engine_version"),
            "facts": row.facts,
            "report": row.report,
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at),
            "validated_at": iso(row.validated_at),
            "hf_endpoint": row.hf_endpoint,
            "wake_on_open": bool(row.wake_on_open),
            "context_policy": row.context_policy,
            "capabilities": capabilities(row.facts or {}, row.capabilities or {}),
            "capability_overrides": row.capabilities or {},
            "price_per_hour": row.price_per_hour,
        }

    # -- update, revalidate, remove ----------------------------------------------------------

    async def update(
        self, integration_id: str, changes: Any, actor: Principal
    ) -> tuple[Report | None, dict[str, Any]]:
        if not isinstance(changes, dict) or not changes:
            raise InvalidRequest(f"send a JSON object with any of: {', '.join(sorted(EDITABLE))}")
        unknown = sorted(set(changes) - EDITABLE)
        if unknown:
            raise InvalidRequest(
                f"cannot change {', '.join(unknown)}: only {', '.join(sorted(EDITABLE))} can be"
                " changed; to point at another endpoint or model, add a new integration",
                param=unknown[0],
            )
        settings = {key: changes[key] for key in SETTINGS if key in changes}
        if settings:
            changes = {key: value for key, value in changes.items() if key not in SETTINGS}
            await self._set_settings(integration_id, _checked_settings(settings), actor)
            if not changes:
                return None, await self.get(integration_id)
        row = await self._row(integration_id)
        merged = self._stored_credential(row) | changes
        parsed = parse_credential(merged, self.policy)
        if parsed.credential is None:
            raise InvalidRequest(parsed.problems[0].message, param=parsed.problems[0].field)
        if parsed.credential.name != row.name:
            await self._ensure_name_free(parsed.credential.name)
        report = await self._revalidate_if_needed(row, parsed.credential, changes)
        row = await self._save_update(row, parsed.credential, report, actor, sorted(changes))
        return report, self._view(row)

    async def _set_settings(
        self, integration_id: str, settings: dict[str, Any], actor: Principal
    ) -> None:
        """Settings that change how hfgate serves the model, not which endpoint it is."""
        async with self.db.session() as session:
            row = await _current(session, integration_id)
            for key, value in settings.items():
                setattr(row, key, value)
            session.add(_audit_row(actor, "integration.update", row, settings))
            await session.commit()
        await self.catalog.reload()

    def _stored_credential(self, row: Integration) -> dict[str, Any]:
        stored = {
            "api_key": self.box.decrypt(row.api_key_encrypted),
            "endpoint": row.endpoint,
            "model_name": row.model_name,
            "context_window": row.context_window,
            "name": row.name,
        }
        if row.context_window == UNKNOWN_WINDOW:  # pending, to be read from the endpoint
            del stored["context_window"]
        return stored

    async def _revalidate_if_needed(
        self, row: Integration, credential: Credential, changes: dict[str, Any]
    ) -> Report | None:
        if "api_key" not in changes and "context_window" not in changes:
            return None
        report = await self.validator.validate(credential)
        auth_ok = any(c.id == "auth" and c.status is Status.OK for c in report.checks)
        if report.outcome in (Outcome.FAILED, Outcome.INVALID) or not auth_ok:
            raise ValidationFailed(
                f"the change was not applied: {report.summary()}",
                extra={"report": report.to_dict()},
            )
        return report

    async def _save_update(
        self,
        row: Integration,
        credential: Credential,
        report: Report | None,
        actor: Principal,
        fields: Sequence[str],
    ) -> Integration:
        old_name = row.name
        async with self.db.session() as session:
            row = await _current(session, row.id)
            row.name = credential.name
            row.context_window = credential.context_window or row.context_window
            row.api_key_encrypted = self.box.encrypt(credential.api_key)
            row.api_key_mask = credential.masked_key()
            if report is not None:
                self._apply_report(row, report)
            session.add(_audit_row(actor, "integration.update", row, {"fields": fields}))
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict(_name_taken(credential.name)) from None
        if old_name != row.name:
            self.board.forget(old_name)
        await self._after_change(row, report)
        return row

    def _apply_report(self, row: Integration, report: Report) -> None:
        outcome = report.outcome
        row.facts = report.facts or row.facts
        row.report = report.to_dict()
        if row.context_window == UNKNOWN_WINDOW and report.facts.get("context_window"):
            row.context_window = int(report.facts["context_window"])  # TEI's, from /info
        if outcome is Outcome.VALID:
            row.state, row.validated_at = "ready", datetime.now(UTC)
        elif row.state != "ready":
            # A served model stays listed when a re-check fails: its status says why, and
            # callers get the precise upstream error rather than "model not found".
            row.state = "pending" if outcome is Outcome.PENDING else "failed"

    async def revalidate(
        self, integration_id: str, actor: Principal
    ) -> tuple[Report, dict[str, Any]]:
        row = await self._row(integration_id)
        credential = parse_credential(self._stored_credential(row), self.policy).credential
        assert credential is not None  # stored credentials were valid when stored
        report = await self.validator.validate(credential)
        async with self.db.session() as session:
            row = await _current(session, row.id)
            self._apply_report(row, report)
            session.add(
                _audit_row(actor, "integration.revalidate", row, {"outcome": report.outcome})
            )
            await session.commit()
        await self._after_change(row, report)
        return report, self._view(row)

    async def remove(self, integration_id: str, actor: Principal) -> dict[str, Any]:
        row = await self._row(integration_id)
        async with self.db.session() as session:
            await session.delete(await session.merge(row))
            session.add(_audit_row(actor, "integration.remove", row, {}))
            await session.commit()
        self.board.forget(row.name)
        await self.catalog.reload()
        return {"id": row.id, "name": row.name, "deleted": True}

    async def _after_change(self, row: Integration, report: Report | None) -> None:
        await self.catalog.reload()
        if report is None:
            return
        if row.state == "ready":
            self.board.set(row.name, _board_status(report), report.summary())

    # -- pending integrations ----------------------------------------------------------------

    async def finish_pending(self) -> int:
        """One pass over pending integrations; returns how many became ready."""
        async with self.db.session() as session:
            rows = (
                await session.scalars(select(Integration).where(Integration.state == "pending"))
            ).all()
        finished = 0
        for row in rows:
            if self._next_paused_check.get(row.id, 0.0) > time.monotonic():
                continue
            finished += await self._finish_one(row)
        return finished

    async def _finish_one(self, row: Integration) -> int:
        credential = parse_credential(self._stored_credential(row), self.policy).credential
        assert credential is not None
        report = await self.validator.validate(credential)
        if report.pending:
            if report.facts.get("endpoint_state") == "paused":
                self._next_paused_check[row.id] = time.monotonic() + PAUSED_RECHECK_SECONDS
            return 0
        async with self.db.session() as session:
            current = await session.get(Integration, row.id)
            if current is None or current.state != "pending":
                return 0  # removed or changed while we validated: theirs is the newer word
            self._apply_report(current, report)
            await session.commit()
            row = current
        self._next_paused_check.pop(row.id, None)
        await self._after_change(row, report)
        return int(row.state == "ready")


def with_window(credential: Credential, report: Report) -> Credential:
    """The credential with the window validation read from the endpoint, when it left it out."""
    window = report.facts.get("context_window")
    if credential.context_window is None and isinstance(window, int):
        return dataclasses.replace(credential, context_window=window)
    return credential


def _audit_row(
    actor: Principal, action: str, row: Integration, detail: dict[str, Any]
) -> AuditEvent:
    return audit_event(actor, action, f"{row.name} ({row.id})", detail)


def _board_status(report: Report) -> ModelStatus:
    """The live status a (re)validation of a served model implies."""
    if report.outcome is Outcome.VALID:
        return ModelStatus.READY
    failed = {check.id for check in report.checks if check.status is Status.FAIL}
    if "auth" in failed:
        return ModelStatus.AUTH_FAILED
    if "reach" in failed:
        return ModelStatus.UNREACHABLE
    if report.outcome is Outcome.FAILED:
        return ModelStatus.FAILED
    state = report.facts.get("endpoint_state")
    if state == "paused":
        return ModelStatus.PAUSED
    return ModelStatus.INITIALIZING if state == "initializing" else ModelStatus.SCALED_TO_ZERO


async def _current(session: Any, integration_id: str) -> Integration:
    """The row as it is now (not as read before a slow validation): it may have gone."""
    row = await session.get(Integration, integration_id)
    if row is None:
        raise NotFound(
            f"integration {integration_id!r} was removed meanwhile", code="integration_not_found"
        )
    return row  # type: ignore[no-any-return]


def _name_taken(name: str) -> str:
    return (
        f'a model named {name!r} is already served: add a distinct "name" to the credential'
        ' (for example "name": "' + name + '-2") to serve both endpoints'
    )


async def rotate_secrets(db: Database, box: SecretBox, operator: str) -> int:
    """Re-encrypt every stored endpoint token with the newest key; returns how many. The
    audit log names ``operator`` (it runs on the server's host, not through the API)."""
    async with db.session() as session:
        rows = (await session.scalars(select(Integration))).all()
        for row in rows:
            row.api_key_encrypted = box.rotate(row.api_key_encrypted)
        target = f"{len(rows)} endpoint token(s)"
        session.add(AuditEvent(actor=operator, action="secrets.rotate", target=target))
        await session.commit()
    return len(rows)


def _checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(settings.get("wake_on_open", False), bool):
        raise InvalidRequest("wake_on_open must be true or false", param="wake_on_open")
    if "context_policy" in settings:
        check_policy(settings["context_policy"], "context_policy")
    overrides = settings.get("capabilities")
    if overrides is not None and (
        not isinstance(overrides, dict)
        or not set(overrides) <= set(CAPABILITIES)
        or not all(isinstance(value, bool) for value in overrides.values())
    ):
        raise InvalidRequest(
            'capabilities must be an object like {"vision": true}, with true or false for any'
            f" of {', '.join(CAPABILITIES)} (null clears the overrides)",
            param="capabilities",
        )
    if overrides == {}:
        settings["capabilities"] = None
    _check_price(settings.get("price_per_hour"))
    return settings


def _check_price(price: Any) -> None:
    if price is None:
        return  # null clears it
    if isinstance(price, bool) or not isinstance(price, int | float) or not 0 <= price <= MAX_PRICE:
        raise InvalidRequest(
            f"price_per_hour must be the instance's price in USD per hour, 0 to {MAX_PRICE:g}"
            " (null clears it; a connected account's price list wins when it has one)",
            param="price_per_hour",
        )
