"""The served models, loaded from the integrations table and held in memory for the hot path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox
from hfgate.storage.tables import Integration
from hfgate.values.served import ServedModel


def served_model(row: Integration, api_key: str) -> ServedModel:
    """A stored integration as the hot path reads it (the token decrypted once, here)."""
    facts: dict[str, Any] = row.facts or {}
    return ServedModel(
        name=row.name,
        integration_id=row.id,
        model_name=row.model_name,
        endpoint=row.endpoint,
        api_key=api_key,
        context_window=row.context_window,
        engine=facts.get("engine", "tgi"),
        engine_version=facts.get("engine_version"),
        chat_route=facts.get("chat_route", "messages"),
        tokenize_route=facts.get("tokenize_route"),
        max_total_tokens=facts.get("max_total_tokens"),
        max_input_tokens=facts.get("max_input_tokens"),
        created_at=row.created_at,
        served_model=_served_model(row.model_name, facts.get("served_models") or []),
        engine_flavour=facts.get("engine_flavour"),
        kind=facts.get("serves", "chat"),
        max_batch=facts.get("max_client_batch_size"),
        auto_truncate=bool(facts.get("auto_truncate")),
        context_policy=row.context_policy,
        **capabilities(facts, row.capabilities or {}),
    )


VISION_TASK = "image-text-to-text"


def capabilities(facts: dict[str, Any], overrides: dict[str, Any]) -> dict[str, bool]:
    """What validation learned, unless an admin said otherwise: images for vision-language
    models (their pipeline tag), tools and schemas for every chat route but ``/generate``."""
    chat_api = facts.get("chat_route", "messages") != "generate"
    detected = {
        "vision": facts.get("pipeline_tag") == VISION_TASK,
        "tools": chat_api,
        "json_schema": True,  # TGI's grammar (generate too) and vLLM/SGLang structured output
    }
    return {name: bool(overrides.get(name, value)) for name, value in detected.items()}


def _served_model(model_name: str, served: list[str]) -> str:
    return model_name if model_name in served or not served else served[0]


class Catalog:
    """Every validated integration by model name; reloaded whenever an integration changes."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._models: dict[str, ServedModel] = {}
        self._version: tuple[int, Any] | None = None

    async def _current_version(self) -> tuple[int, Any]:
        """Changes whenever any process adds, edits or removes an integration."""
        async with self._db.session() as session:
            query = select(func.count(), func.max(Integration.updated_at))
            count, latest = (await session.execute(query)).one()
        return int(count), latest

    async def refresh(self) -> bool:
        """Reload if another process changed the integrations; True if it did."""
        if await self._current_version() == self._version:
            return False
        await self.reload()
        return True

    async def reload(self) -> None:
        version = await self._current_version()
        async with self._db.session() as session:
            rows = (
                await session.scalars(select(Integration).where(Integration.state == "ready"))
            ).all()
        self._version = version
        self._models = {
            row.name: served_model(row, self._box.decrypt(row.api_key_encrypted)) for row in rows
        }

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    async def find(self, name: str) -> ServedModel | None:
        """``get``, but a miss first checks the database: another process may have just
        added the model."""
        model = self._models.get(name)
        if model is None and await self.refresh():
            model = self._models.get(name)
        return model

    def names(self) -> list[str]:
        return sorted(self._models)

    def all(self) -> list[ServedModel]:
        return [self._models[name] for name in sorted(self._models)]
