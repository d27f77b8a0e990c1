"""Soak: hfgate under a long, steady load, watched for growth (not a timed test; never in CI).

Starts the simulator and one ``hfgate serve`` (SQLite in a temporary home, or the database of
``--database-url``), registers the simulator, then for ``--minutes`` keeps ``--streams``
streams open (each a slow answer, replaced as soon as it ends) and sends ``--rps`` short chats
a second. Every ``--every`` seconds it samples the gateway process: RSS, open file
descriptors, sockets, and database connections (PostgreSQL: ``pg_stat_activity`` rows of the
gateway's database; SQLite: descriptors open on the database files). At the end it prints the
series and whether each stayed flat within ``--flat`` (10 %) after the warm-up sample.

    .venv/bin/python bench/soak.py                          # 10 minutes, 200 streams
    .venv/bin/python bench/soak.py --minutes 2 --streams 50 # a short look
    .venv/bin/python bench/soak.py --minutes 60 --database-url postgresql+asyncpg://…

Run it on a quiet machine with the project's venv Python; it exits 1 if a series grew.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_KEY, MODEL, SIM_TOKEN, log
from peers import free_port, register_sim, sim_argv
from procs import Processes, clean_env, raise_nofile, wait_http

STREAM_TOKENS, TOKEN_DELAY = 200, 0.1  # a stream lasts about 20 s


@dataclass
class Sample:
    at: float
    rss_mib: float
    fds: int
    sockets: int
    db_connections: int


@dataclass
class Load:
    streams_done: int = 0
    chats_done: int = 0
    errors: list[str] = field(default_factory=list)


def fds_of(pid: int) -> tuple[int, int, list[str]]:
    """(open descriptors, sockets among them, their targets)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            targets.append(os.readlink(fd))
    return len(targets), sum(t.startswith("socket:") for t in targets), targets


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def db_connections(database_url: str | None, targets: list[str]) -> int:
    if not database_url:  # SQLite: the database file and its WAL, as the process holds them
        return sum(t.endswith(("hfgate.db", "hfgate.db-wal")) for t in targets)
    import asyncpg

    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        name = await conn.fetchval("SELECT current_database()")
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        return int(count)
    finally:
        await conn.close()


async def sample(pid: int, database_url: str | None, started: float) -> Sample:
    fds, sockets, targets = fds_of(pid)
    db = await db_connections(database_url, targets)
    return Sample(time.monotonic() - started, rss_mib(pid), fds, sockets, db)


def chat(content: str, stream: bool, max_tokens: int) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"model": MODEL, "messages": messages, "stream": stream, "max_tokens": max_tokens}


async def keep_streaming(client: httpx.AsyncClient, load: Load, until: float, n: int) -> None:
    """One stream after another until ``until``."""
    while time.monotonic() < until:
        body = chat(f"soak stream {n} {load.streams_done}", True, STREAM_TOKENS)
        try:
            async with client.stream("POST", "/v1/chat/completions", json=body) as answer:
                async for line in answer.aiter_lines():
                    if line.startswith("data:") and '"error"' in line:
                        load.errors.append(line[:200])
            load.streams_done += 1
        except httpx.HTTPError as exc:
            load.errors.append(f"stream: {type(exc).__name__}: {exc}")
            await asyncio.sleep(1)


async def one_chat(client: httpx.AsyncClient, load: Load) -> None:
    try:
        answer = await client.post(
            "/v1/chat/completions", json=chat(f"soak {load.chats_done}", False, 8)
        )
        if answer.status_code != 200:
            load.errors.append(f"chat: {answer.status_code} {answer.text[:200]}")
        load.chats_done += 1
    except httpx.HTTPError as exc:
        load.errors.append(f"chat: {type(exc).__name__}: {exc}")


async def keep_chatting(client: httpx.AsyncClient, load: Load, until: float, rps: float) -> None:
    """``rps`` chats a second, each started on time whatever the others take."""
    running: set[asyncio.Task[None]] = set()
    while time.monotonic() < until:
        task = asyncio.create_task(one_chat(client, load))
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(1 / rps)
    await asyncio.gather(*running)


async def soak(args: argparse.Namespace, url: str, pid: int) -> tuple[list[Sample], Load]:
    load, samples = Load(), []
    started = time.monotonic()
    until = started + args.minutes * 60
    limits = httpx.Limits(max_connections=args.streams + 20, max_keepalive_connections=20)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=120, limits=limits
    ) as client:
        tasks = [
            asyncio.create_task(keep_streaming(client, load, until, n)) for n in range(args.streams)
        ]
        tasks.append(asyncio.create_task(keep_chatting(client, load, until, args.rps)))
        while time.monotonic() < until:
            samples.append(await sample(pid, args.database_url, started))
            last = samples[-1]
            log(
                f"{last.at:6.0f} s  RSS {last.rss_mib:7.1f} MiB  fds {last.fds:5d}"
                f"  sockets {last.sockets:5d}  db {last.db_connections:3d}"
                f"  streams {load.streams_done}  chats {load.chats_done}  errors {len(load.errors)}"
            )
            await asyncio.sleep(args.every)
        await asyncio.gather(*tasks)
    samples.append(await sample(pid, args.database_url, started))
    return samples, load


def verdict(samples: list[Sample], flat: float) -> list[str]:
    """Series that grew more than ``flat`` between the warm-up sample and the last one."""
    if len(samples) < 3:
        return []
    warm, last = samples[1], samples[-1]
    grew = []
    for name in ("rss_mib", "fds", "sockets", "db_connections"):
        before, after = getattr(warm, name), getattr(last, name)
        if after > before * (1 + flat) + 2:  # + 2: a descriptor or two is noise, not a trend
            grew.append(f"{name}: {before:g} → {after:g}")
    return grew


def start(procs: Processes, workdir: Path, args: argparse.Namespace) -> tuple[str, int]:
    sim_port, port = free_port(), free_port()
    sim = procs.start("sim", sim_argv(sim_port), clean_env())
    sim_url = f"http://127.0.0.1:{sim_port}"
    token = {"Authorization": f"Bearer {SIM_TOKEN}"}
    wait_http(f"{sim_url}/health", sim, "the simulator", headers=token)
    env = clean_env(
        HFGATE_HOME=str(workdir / "home"),
        HFGATE_ADMIN_KEY=ADMIN_KEY,
        HFGATE_ALLOW_HOSTS="127.0.0.1",
        HFGATE_HUB_URL=sim_url,
        HFGATE_OWNER_PASSWORD="soak-owner-password",
    )
    if args.database_url:
        env["HFGATE_DATABASE_URL"] = args.database_url
    argv = [sys.executable, "-m", "hfgate", "serve", "--port", str(port), "--log-level", "warning"]
    gateway = procs.start("hfgate", argv, env)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz", gateway, "hfgate", timeout=60)
    register_sim(url, sim_url, "hfgate")
    httpx.patch(
        f"{sim_url}/_sim/state",
        json={"token_delay": TOKEN_DELAY, "reply_tokens": STREAM_TOKENS},
        timeout=10,
    ).raise_for_status()
    return url, gateway.pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rps", type=float, default=5.0, help="short chats per second")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--flat", type=float, default=0.10)
    parser.add_argument("--database-url", default="", help="PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="hfgate-soak-") as folder:
        procs = Processes(Path(folder))
        try:
            url, pid = start(procs, Path(folder), args)
            samples, load = asyncio.run(soak(args, url, pid))
        finally:
            procs.stop_all()
    grew = verdict(samples, args.flat)
    log(f"{load.streams_done} streams, {load.chats_done} chats, {len(load.errors)} errors")
    for error in load.errors[:5]:
        log(f"  {error}")
    log(f"flat within {args.flat:.0%}" if not grew else "grew: " + "; ".join(grew))
    return 1 if grew or load.errors else 0


if __name__ == "__main__":
    sys.exit(main())
