"""The relational schema: one declarative model per table. Migrations live in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone-aware columns; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 with its UTC offset, for API answers."""
    return aware(moment).isoformat() if moment is not None else None


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | member
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A disabled person cannot sign in and their keys stop working; their data stays.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # [{"kind": "tokens" | "usd", "limit": number, "period": "day" | "month"}], or None
    budgets: Mapped[list[Any] | None] = mapped_column(JSON)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    # Keys are 32 random bytes, so a fast hash is safe; the prefix finds the row.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    models: Mapped[list[Any] | None] = mapped_column(JSON)
    # trim | strict; None: the key default (strict), unless the model says otherwise
    context_policy: Mapped[str | None] = mapped_column(String(8))
    budgets: Mapped[list[Any] | None] = mapped_column(JSON)  # as ``User.budgets``


class UserToken(Base):
    """A one-time link for a person: an invitation or a password reset. ``id`` is the SHA-256
    of the token in the link; the link is the secret."""

    __tablename__ = "user_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # invite | reset
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser. ``id`` is the SHA-256 of the cookie value; the cookie is the secret."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Integration(Base):
    """One Inference Endpoint an admin registered; its ``name`` is the model id users see."""

    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    model_name: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(2048))
    api_key_encrypted: Mapped[str] = mapped_column(Text)
    api_key_mask: Mapped[str] = mapped_column(String(16))
    context_window: Mapped[int] = mapped_column(Integer)
    # ready (validated, listed) | pending (waiting for the endpoint to wake) | failed
    state: Mapped[str] = mapped_column(String(16), index=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The Inference Endpoint's record on Hugging Face ("namespace/name"), when hfgate knows it:
    # imported from a connected account, or matched by URL. Its state then comes from there.
    hf_endpoint: Mapped[str | None] = mapped_column(String(200), index=True)
    hf_account_id: Mapped[str | None] = mapped_column(
        ForeignKey("hf_accounts.id", ondelete="SET NULL")
    )
    # Start the endpoint when someone opens the chat with this model (an admin's opt-in);
    # a paused endpoint only if hfgate paused it.
    wake_on_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    paused_by_hfgate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    context_policy: Mapped[str | None] = mapped_column(String(8))  # trim | strict | None
    # An admin's word on what the model takes, over what validation detected:
    # {"vision": bool, "tools": bool, "json_schema": bool}, each key optional.
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The instance's price in USD per hour per replica, as an admin entered it; the price list
    # of a connected account (``/provider``) wins when the endpoint's record is known.
    price_per_hour: Mapped[float | None] = mapped_column(Float)


class HfAccount(Base):
    """A Hugging Face token that may manage Inference Endpoints, and the namespaces it covers."""

    __tablename__ = "hf_accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user: Mapped[str] = mapped_column(String(200))  # the Hub user the token belongs to
    namespaces: Mapped[list[Any]] = mapped_column(JSON)
    token_encrypted: Mapped[str] = mapped_column(Text)
    token_mask: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UsageRecord(Base):
    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    route: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column()


class EndpointSpan(Base):
    """A stretch of time an endpoint was seen in one state: the cost ledger's timeline.

    One writer extends the open span while the state holds and observations keep coming; a
    change, or a gap longer than the observation interval allows, starts a new span, so the
    time between two spans is *unobserved* (shown as such, never guessed).
    """

    __tablename__ = "endpoint_spans"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)  # the served model's name
    hf_endpoint: Mapped[str | None] = mapped_column(String(200))  # namespace/name when known
    # running | initializing | scaledToZero | paused | failed | pending | updating | unknown
    state: Mapped[str] = mapped_column(String(16))
    replicas: Mapped[int] = mapped_column(Integer, default=0)  # billed replicas in this state
    price_per_hour: Mapped[float | None] = mapped_column(Float)  # per replica; None: unknown
    source: Mapped[str] = mapped_column(String(16))  # management | observed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ColdStart(Base):
    """One wake-up hfgate waited out: when it began, how long it took, how it ended."""

    __tablename__ = "cold_starts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    seconds: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # ready | timeout | failed


class Lease(Base):
    """A job only one process may run at a time (the ledger's writer): whoever holds an
    unexpired lease runs it, and renews it; a dead holder's lease runs out."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Conversation(Base):
    """A person's chat in the workspace; ``model`` is the one used last (the picker's default)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # None until the first user message names it (or the person does).
    title: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """One turn of a conversation, ordered by ``position`` (gaps are fine, order is what counts).

    A regenerated answer is another version of the same turn: the versions share a position,
    and the ``selected`` one is shown and continues the conversation (sent on the next turn).
    """

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | system
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))  # the model that answered
    # complete | interrupted | error, or streaming: an answer still being written, its text so
    # far checkpointed (``updated_at``) so that a killed process leaves what was sent.
    status: Mapped[str] = mapped_column(String(16), default="complete")
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))  # e.g. upstream_auth_failed
    trimmed: Mapped[int | None] = mapped_column(Integer)  # older messages left out to fit
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    selected: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The question as OpenAI content parts when it carries more than text (images, as data
    # URLs); ``content`` keeps its text, for titles, search and export.
    parts: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last written
