"""The process's long-lived parts, built once from settings and shared by the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hfgate.auth import KeyStore
from hfgate.catalog import Catalog, StatusBoard
from hfgate.catalog.refresher import StatusRefresher
from hfgate.chat.coldstart import ColdStarts
from hfgate.chat.native import NativeService
from hfgate.chat.service import ChatService
from hfgate.chat.templates import Templates
from hfgate.chat.tokens import TokenCounter
from hfgate.chat.usage import UsageRecorder
from hfgate.integrations.service import IntegrationService
from hfgate.integrations.validation import Validator
from hfgate.settings import Settings
from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.upstream.client import EndpointClient
from hfgate.upstream.netguard import HostPolicy
from hfgate.upstream.transport import Transport

log = logging.getLogger("hfgate")


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
        self.validator = Validator(self.transport, settings.hub_url)
        self.integrations = IntegrationService(
            self.db, self.box, self.catalog, self.board, self.validator, self.policy
        )
        self.usage = UsageRecorder(self.db)
        self.coldstarts = ColdStarts(self.transport, self.board, settings.cold_start_timeout)
        self.chat = ChatService(
            self.catalog,
            self.board,
            EndpointClient(self.transport),
            self.coldstarts,
            TokenCounter(self.transport),
            Templates(self.transport, settings.hub_url),
            self.usage,
        )
        self.native = NativeService(self.chat)
        self.refresher = StatusRefresher(
            self.catalog, self.board, self.transport, settings.status_interval
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.db.migrate()
        await self.keys.bootstrap(self.settings.owner_email, self.settings.admin_key)
        await self.catalog.reload()
        self.usage.start()
        self._tasks.append(asyncio.create_task(self._finish_pending_forever(), name="pending"))
        self._tasks.append(asyncio.create_task(self.refresher.run_forever(), name="status"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.usage.stop()
        await self.transport.close()
        await self.db.close()

    async def _finish_pending_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pending_interval)
            try:
                await self.integrations.finish_pending()
            except Exception:  # a bad pass must not end the loop; the next one retries
                log.exception("finishing pending integrations failed")
