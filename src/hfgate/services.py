"""The process's long-lived parts, built once from settings and shared by the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hfgate.auth import KeyStore
from hfgate.auth.invites import OneTimeLinks
from hfgate.auth.keymanager import KeyManager
from hfgate.auth.passwords import hash_password
from hfgate.auth.ratelimit import Limiter, MemoryLimiter
from hfgate.auth.sessions import SessionStore
from hfgate.auth.setup import FirstRun
from hfgate.auth.users import UserService
from hfgate.budgets import BudgetGate, Budgets, FallbackCounters
from hfgate.catalog import Catalog
from hfgate.chat.lifecycle import Lifecycle
from hfgate.chat.native import NativeService
from hfgate.chat.service import ChatService
from hfgate.chat.templates import Templates
from hfgate.chat.tokens import TokenCounter
from hfgate.chat.usage import UsageRecorder
from hfgate.cluster import FallbackCoordinator, FallbackLimiter, RedisHealth, StatusSync
from hfgate.conversations import ConversationService
from hfgate.costs.coldstarts import ColdStartLog
from hfgate.costs.observer import LedgerWriter
from hfgate.costs.service import CostService
from hfgate.embeddings.service import EmbeddingService
from hfgate.endpoints.refresher import StatusRefresher
from hfgate.endpoints.state import StatusBoard
from hfgate.endpoints.waking import ColdStarts, LocalCoordinator, WakeCoordinator
from hfgate.hf.client import ManagementClient
from hfgate.hf.costs import CostSource
from hfgate.hf.service import HfService
from hfgate.integrations.service import IntegrationService
from hfgate.integrations.validation import Validator
from hfgate.reports import UsageReports
from hfgate.settings import Settings
from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.storage.db import sqlite_path, unavailable
from hfgate.storage.private import warn_if_loose
from hfgate.storage.tables import User
from hfgate.upstream.client import EndpointClient
from hfgate.upstream.netguard import HostPolicy
from hfgate.upstream.transport import Timeouts, Transport

log = logging.getLogger("hfgate")
CATALOG_POLL_SECONDS = 0.5
# Set once this process has printed a setup link, so its own app start (``hfgate serve`` with
# one worker runs the app in the same process) does not add a line pointing at it.
_shown_setup_link: list[str] = []


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = HostPolicy(settings.allow_hosts)
        self.db = Database(settings.database_url)
        self.box = SecretBox.from_settings(settings.secret_keys, settings.home)
        self.transport = Transport(self.policy, timeouts=_timeouts(settings))
        self.board = StatusBoard()
        self.catalog = Catalog(self.db, self.box)
        self.keys = KeyStore(self.db)
        self.sessions = SessionStore(self.db)
        self.users = UserService(self.db, self.keys, self.sessions)
        self.first_run = FirstRun(self.db, settings.home, self.sessions)
        self.links = OneTimeLinks(self.db, self.sessions)
        self.setup_link: str | None = None
        self.key_manager = KeyManager(self.db, self.keys)
        self.redis = _redis(settings.redis_url)
        self.redis_health = RedisHealth() if self.redis else None
        self.limiter: Limiter = MemoryLimiter()
        if self.redis is not None and self.redis_health is not None:
            self.limiter = FallbackLimiter(self.redis, self.redis_health)
        self.budgets = Budgets(self.db)
        if self.redis is not None and self.redis_health is not None:
            self.budgets.counters = FallbackCounters(self.redis, self.redis_health)
        self.limiter = BudgetGate(self.limiter, self.budgets)
        self.key_manager.budget_report = self.budgets.report
        self.validator = Validator(self.transport, settings.hub_url)
        self.integrations = IntegrationService(
            self.db, self.box, self.catalog, self.board, self.validator, self.policy
        )
        coordinator: WakeCoordinator = LocalCoordinator()
        self.status_sync: StatusSync | None = None
        if self.redis is not None and self.redis_health is not None:
            coordinator = FallbackCoordinator(self.redis, self.redis_health)
            self.status_sync = StatusSync(self.board, self.redis, self.redis_health)
        self.coldstart_log = ColdStartLog(self.db)
        self.coldstarts = ColdStarts(
            self.transport,
            self.board,
            settings.cold_start_timeout,
            coordinator,
            on_wake=self.coldstart_log.note,
        )
        self.usage = UsageRecorder(self.db)
        self.reports = UsageReports(self.db, self.usage.flush)
        self.hf = HfService(
            self.db,
            self.box,
            ManagementClient(self.transport, settings.endpoints_api_url, settings.hub_url),
            self.integrations,
            self.board,
            self.coldstarts,
        )
        self.cost_source = CostSource(self.hf)
        self.costs = CostService(self.db, self.cost_source.facts)
        self.budgets.usd = self.costs.spent_usd
        self.ledger = LedgerWriter(self.db, self.cost_source.observations, settings.ledger_interval)
        self.lifecycle = Lifecycle(
            self.board, self.coldstarts, self.usage, self.limiter, self.budgets
        )
        self.chat = ChatService(
            self.catalog,
            EndpointClient(self.transport),
            self.lifecycle,
            TokenCounter(self.transport),
            Templates(self.transport, settings.hub_url),
        )
        self.embeddings = EmbeddingService(self.catalog, self.chat.client, self.lifecycle)
        self.conversations = ConversationService(self.db, self.chat)
        self.native = NativeService(self.chat)
        self.refresher = StatusRefresher(
            self.catalog, self.board, self.transport, settings.status_interval
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def prepare(self, setup_base_url: str | None = None) -> None:
        """Schema and first-run accounts; idempotent, and safe when processes start together.

        With ``setup_base_url`` (``hfgate serve`` passes ``http://HOST:PORT``), an owner without
        a password gets a one-time setup link, kept in ``self.setup_link`` and logged.
        """
        self._check_private()
        await self.db.migrate()
        owner = await self.keys.bootstrap(self.settings.owner_email, self.settings.admin_key)
        if not await self._owner_password(owner):
            self._first_run_notice(setup_base_url)

    async def start(self) -> None:
        await self.prepare()
        await self.catalog.reload()
        self.usage.start()
        self._tasks.append(asyncio.create_task(self._finish_pending_forever(), name="pending"))
        self._tasks.append(asyncio.create_task(self.refresher.run_forever(), name="status"))
        self._tasks.append(asyncio.create_task(self._watch_catalog_forever(), name="catalog"))
        self._tasks.append(asyncio.create_task(self.ledger.run_forever(), name="ledger"))
        hf_status = self.hf.run_forever(self.settings.hf_status_interval)
        self._tasks.append(asyncio.create_task(hf_status, name="hf-status"))
        if self.status_sync is not None:
            self._tasks.append(asyncio.create_task(self.status_sync.run_forever(), name="sync"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.conversations.drain()
        await self.coldstart_log.drain()
        await self.ledger.release()
        await self.usage.stop()
        await self.transport.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()

    async def _owner_password(self, owner: User) -> bool:
        """Whether the owner can sign in; HFGATE_OWNER_PASSWORD sets the password while the owner
        has none. Once there is one, the setup links stop working."""
        if not owner.password_hash and self.settings.owner_password:
            async with self.db.session() as session:
                row = await session.merge(owner)
                row.password_hash = await hash_password(self.settings.owner_password)
                await session.commit()
        elif not owner.password_hash and await self.first_run.pending_owner() is not None:
            return False
        self.first_run.forget()
        return True

    def _first_run_notice(self, base_url: str | None) -> None:
        if base_url is None:
            if not _shown_setup_link:
                log.warning(
                    "the owner has no password yet: open the one-time setup link that"
                    " `hfgate serve` prints at start, or set HFGATE_OWNER_PASSWORD"
                )
            return
        try:
            token = self.first_run.issue()
        except OSError as exc:  # a read-only HFGATE_HOME: say what works instead
            log.warning(
                "the owner has no password yet, and no setup link could be stored (%s):"
                " set HFGATE_OWNER_PASSWORD and restart",
                exc,
            )
            return
        self.setup_link = f"{base_url.rstrip('/')}/setup?token={token}"
        _shown_setup_link.append(self.setup_link)
        log.warning(
            "the owner has no password yet: open %s to choose the owner's email and password"
            " (valid until used, or until HFGATE_OWNER_PASSWORD is set)",
            self.setup_link,
        )

    def _check_private(self) -> None:
        """Warn (never fail) when others on this machine can read hfgate's data."""
        home, database = self.settings.home, sqlite_path(self.db.url)
        outside = (database,) if database and not database.is_relative_to(home) else ()
        warn_if_loose(home, outside)

    async def _watch_catalog_forever(self) -> None:
        """Pick up integrations changed by other processes sharing the database."""
        down = False  # the database is unavailable: said once, not twice a second
        while True:
            await asyncio.sleep(CATALOG_POLL_SECONDS)
            try:
                await self.catalog.refresh()
            except Exception as exc:
                if not unavailable(exc):
                    log.exception("reloading the model catalog failed")
                elif not down:
                    log.error("the database is unavailable (%s): serving the models known", exc)
                down = unavailable(exc)
            else:
                down = False

    async def _finish_pending_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pending_interval)
            try:
                await self.integrations.finish_pending()
            except Exception:  # a bad pass must not end the loop; the next one retries
                log.exception("finishing pending integrations failed")


def _timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        connect=settings.upstream_connect_timeout,
        first_byte=settings.upstream_first_byte_timeout,
        idle=settings.upstream_idle_timeout,
        total=settings.upstream_total_timeout,
    )


def _redis(url: str) -> Any:
    if not url:
        return None
    from redis.asyncio import Redis

    # Bounded: a Redis that hangs must not hold a request (the fallback takes over instead).
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
