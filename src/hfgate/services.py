"""The process's long-lived parts, built once from settings and shared by the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hfgate.auth import KeyStore
from hfgate.auth.keymanager import KeyManager
from hfgate.auth.passwords import hash_password
from hfgate.auth.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from hfgate.auth.sessions import SessionStore
from hfgate.auth.users import UserService
from hfgate.catalog import Catalog
from hfgate.chat.lifecycle import Lifecycle
from hfgate.chat.native import NativeService
from hfgate.chat.service import ChatService
from hfgate.chat.templates import Templates
from hfgate.chat.tokens import TokenCounter
from hfgate.chat.usage import UsageRecorder
from hfgate.cluster import RedisCoordinator, StatusSync
from hfgate.conversations import ConversationService
from hfgate.endpoints.refresher import StatusRefresher
from hfgate.endpoints.state import StatusBoard
from hfgate.endpoints.waking import ColdStarts, LocalCoordinator
from hfgate.hf.client import ManagementClient
from hfgate.hf.service import HfService
from hfgate.integrations.service import IntegrationService
from hfgate.integrations.validation import Validator
from hfgate.settings import Settings
from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.upstream.client import EndpointClient
from hfgate.upstream.netguard import HostPolicy
from hfgate.upstream.transport import Transport

log = logging.getLogger("hfgate")
CATALOG_POLL_SECONDS = 0.5


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = HostPolicy(settings.allow_hosts)
        self.db = Database(settings.database_url)
        self.box = SecretBox.from_settings(settings.secret_keys, settings.home)
        self.transport = Transport(self.policy)
        self.board = StatusBoard()
        self.catalog = Catalog(self.db, self.box)
        self.keys = KeyStore(self.db)
        self.sessions = SessionStore(self.db)
        self.users = UserService(self.db, self.keys, self.sessions)
        self.key_manager = KeyManager(self.db, self.keys)
        self.redis = _redis(settings.redis_url)
        self.limiter: Limiter = RedisLimiter(self.redis) if self.redis else MemoryLimiter()
        self.validator = Validator(self.transport, settings.hub_url)
        self.integrations = IntegrationService(
            self.db, self.box, self.catalog, self.board, self.validator, self.policy
        )
        coordinator = RedisCoordinator(self.redis) if self.redis else LocalCoordinator()
        self.status_sync = StatusSync(self.board, self.redis) if self.redis else None
        self.coldstarts = ColdStarts(
            self.transport, self.board, settings.cold_start_timeout, coordinator
        )
        self.usage = UsageRecorder(self.db)
        self.hf = HfService(
            self.db,
            self.box,
            ManagementClient(self.transport, settings.endpoints_api_url, settings.hub_url),
            self.integrations,
            self.board,
            self.coldstarts,
        )
        self.lifecycle = Lifecycle(self.board, self.coldstarts, self.usage, self.limiter)
        self.chat = ChatService(
            self.catalog,
            EndpointClient(self.transport),
            self.lifecycle,
            TokenCounter(self.transport),
            Templates(self.transport, settings.hub_url),
        )
        self.conversations = ConversationService(self.db, self.chat)
        self.native = NativeService(self.chat)
        self.refresher = StatusRefresher(
            self.catalog, self.board, self.transport, settings.status_interval
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def prepare(self) -> None:
        """Schema and first-run accounts; idempotent, and safe when processes start together."""
        await self.db.migrate()
        await self.keys.bootstrap(self.settings.owner_email, self.settings.admin_key)
        await self._owner_password()

    async def start(self) -> None:
        await self.prepare()
        await self.catalog.reload()
        self.usage.start()
        self._tasks.append(asyncio.create_task(self._finish_pending_forever(), name="pending"))
        self._tasks.append(asyncio.create_task(self.refresher.run_forever(), name="status"))
        self._tasks.append(asyncio.create_task(self._watch_catalog_forever(), name="catalog"))
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
        await self.usage.stop()
        await self.transport.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()

    async def _owner_password(self) -> None:
        """HFGATE_OWNER_PASSWORD sets the owner's password while the owner has none."""
        owner = await self.users.by_email(self.settings.owner_email)
        if owner.password_hash:
            return
        if self.settings.owner_password:
            async with self.db.session() as session:
                row = await session.merge(owner)
                row.password_hash = await hash_password(self.settings.owner_password)
                await session.commit()
        else:
            log.warning(
                "the owner %s has no password yet: set HFGATE_OWNER_PASSWORD to sign in on the web",
                self.settings.owner_email,
            )

    async def _watch_catalog_forever(self) -> None:
        """Pick up integrations changed by other processes sharing the database."""
        while True:
            await asyncio.sleep(CATALOG_POLL_SECONDS)
            try:
                await self.catalog.refresh()
            except Exception:
                log.exception("reloading the model catalog failed")

    async def _finish_pending_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pending_interval)
            try:
                await self.integrations.finish_pending()
            except Exception:  # a bad pass must not end the loop; the next one retries
                log.exception("finishing pending integrations failed")


def _redis(url: str) -> Any:
    if not url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(url)
