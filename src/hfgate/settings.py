"""Settings, read once from the environment (``HFGATE_*``), with defaults that need nothing else."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hfgate.storage.urls import DatabaseUrlInvalid, database_url

DEFAULT_HOME = Path.home() / ".local" / "share" / "hfgate"
MIB = 1024 * 1024


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


def _database_url(env: dict[str, str], home: Path) -> str:
    raw = (env.get("HFGATE_DATABASE_URL") or "").strip()
    try:
        return database_url(raw or f"sqlite+aiosqlite:///{home / 'hfgate.db'}")
    except DatabaseUrlInvalid as exc:  # one line at start, like the other unusable settings
        raise SystemExit(exc.message) from None


@dataclass(frozen=True)
class Settings:
    home: Path = DEFAULT_HOME
    database_url: str = ""
    redis_url: str = ""
    secret_keys: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    hub_url: str = "https://huggingface.co"
    endpoints_api_url: str = "https://api.endpoints.huggingface.cloud/v2"
    hf_status_interval: float = 30.0
    ledger_interval: float = 30.0  # seconds between two observations of every endpoint's state
    cold_start_timeout: float = 600.0
    max_body_bytes: int = 10 * MIB
    pending_interval: float = 5.0
    status_interval: float = 60.0
    drain_seconds: float = 2.0
    shutdown_grace: float = 30.0
    upstream_connect_timeout: float = 10.0
    upstream_first_byte_timeout: float = 120.0
    upstream_idle_timeout: float = 60.0
    upstream_total_timeout: float = 1800.0
    admin_key: str = ""
    owner_email: str = "owner@localhost"
    owner_password: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("HFGATE_HOME") or DEFAULT_HOME).expanduser()
        return cls(
            home=home,
            database_url=_database_url(env, home),
            redis_url=env.get("HFGATE_REDIS_URL", ""),
            secret_keys=_split(env.get("HFGATE_SECRET_KEY")),
            allow_hosts=_split(env.get("HFGATE_ALLOW_HOSTS")),
            hub_url=(env.get("HFGATE_HUB_URL") or "https://huggingface.co").rstrip("/"),
            endpoints_api_url=(
                env.get("HFGATE_ENDPOINTS_API_URL") or "https://api.endpoints.huggingface.cloud/v2"
            ).rstrip("/"),
            hf_status_interval=_number(env, "HFGATE_HF_STATUS_INTERVAL", 30.0),
            ledger_interval=_number(env, "HFGATE_LEDGER_INTERVAL", 30.0),
            cold_start_timeout=_number(env, "HFGATE_COLD_START_TIMEOUT", 600.0),
            max_body_bytes=int(_number(env, "HFGATE_MAX_BODY_BYTES", 10 * MIB)),
            pending_interval=_number(env, "HFGATE_PENDING_INTERVAL", 5.0),
            status_interval=_number(env, "HFGATE_STATUS_INTERVAL", 60.0),
            drain_seconds=_number(env, "HFGATE_DRAIN_SECONDS", 2.0),
            shutdown_grace=_number(env, "HFGATE_SHUTDOWN_GRACE", 30.0),
            upstream_connect_timeout=_number(env, "HFGATE_UPSTREAM_CONNECT_TIMEOUT", 10.0),
            upstream_first_byte_timeout=_number(env, "HFGATE_UPSTREAM_FIRST_BYTE_TIMEOUT", 120.0),
            upstream_idle_timeout=_number(env, "HFGATE_UPSTREAM_IDLE_TIMEOUT", 60.0),
            upstream_total_timeout=_number(env, "HFGATE_UPSTREAM_TOTAL_TIMEOUT", 1800.0),
            admin_key=env.get("HFGATE_ADMIN_KEY", ""),
            owner_email=env.get("HFGATE_OWNER_EMAIL") or "owner@localhost",
            owner_password=env.get("HFGATE_OWNER_PASSWORD", ""),
        )
