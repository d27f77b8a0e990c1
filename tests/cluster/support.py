"""What the multi-process tests share: the environment of an `hfgate serve` process on the
machine's PostgreSQL and Redis, and Redis databases of their own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable

import httpx
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.support.peers import ADMIN_KEY

from hfgate.storage.crypto import new_key


def flush_redis(db: int) -> None:
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()


def serve_env(
    home: str, database_url: str, redis_db: int, hub_url: str, **extra: str
) -> dict[str, str]:
    """``os.environ`` plus what every process of one deployment shares (its own secret key)."""
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return inherited | {
        "HFGATE_HOME": home,
        "HFGATE_DATABASE_URL": database_url,
        "HFGATE_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "HFGATE_SECRET_KEY": new_key(),
        "HFGATE_ADMIN_KEY": ADMIN_KEY,
        "HFGATE_OWNER_PASSWORD": "owner-password-1",
        "HFGATE_ALLOW_HOSTS": "127.0.0.1",
        "HFGATE_HUB_URL": hub_url,
        "HFGATE_COLD_START_TIMEOUT": "30",
        **extra,
    }


def wait_ready(
    url: str,
    popen: subprocess.Popen[bytes],
    timeout: float = 30,
    started: Callable[[], bool] = lambda: True,
    log_tail: Callable[[], str] = lambda: "",
) -> None:
    """Until ``/readyz`` answers 200 (and ``started()``); fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert popen.poll() is None, f"hfgate serve exited during start:\n{log_tail()}"
        with contextlib.suppress(httpx.TransportError):
            if started() and httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready in {timeout} s:\n{log_tail()}")
