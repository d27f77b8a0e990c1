"""What the fault tests share: a real ``hfgate serve`` process, what it holds open, and a
loopback upstream that relays to the simulator except when told to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hfgate._server import free_port
from hfgate.storage.crypto import new_key
from tests.cluster.support import wait_ready
from tests.support.peers import ADMIN_KEY, MODEL

GENERATIONS = ("/generate", "/generate_stream", "/v1/chat/completions", "/v1/completions")
FAULT = re.compile(rb"fault:([a-z_]+)")


# -- a real gateway process ----------------------------------------------------------------------


@dataclass
class Serve:
    """One ``hfgate serve`` subprocess on a loopback port, with its log."""

    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str = ADMIN_KEY, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def add(self, credential: dict[str, Any]) -> None:
        with self.client() as client:
            answer = client.post("/api/integrations", content=json.dumps(credential))
        assert answer.status_code == 201, answer.text

    @property
    def pid(self) -> int:
        return self.popen.pid


def base_env(home: Path, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HFGATE_")}
    inherited.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return inherited | {
        "HFGATE_HOME": str(home),
        "HFGATE_SECRET_KEY": new_key(),
        "HFGATE_ADMIN_KEY": ADMIN_KEY,
        "HFGATE_OWNER_PASSWORD": "owner-password-1",
        "HFGATE_ALLOW_HOSTS": "127.0.0.1",
        "HFGATE_HUB_URL": "http://127.0.0.1:9",
        "HFGATE_DRAIN_SECONDS": "0",
        **extra,
    }


def start_serve(env: dict[str, str], log: Path, port: int | None = None) -> Serve:
    port = port or free_port()
    command = [sys.executable, "-m", "hfgate", "serve", "--port", str(port)]
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [*command, "--log-level", "info"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    serve = Serve(f"http://127.0.0.1:{port}", popen, log)
    try:
        wait_ready(serve.url, popen, 60, log_tail=lambda: serve.log_text()[-3000:])
    except BaseException:
        stop(serve)
        raise
    return serve


def stop(serve: Serve) -> None:
    if serve.popen.poll() is None:
        serve.popen.kill()
        serve.popen.wait(10)


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[Serve]:
    serve = start_serve(env, log)
    try:
        yield serve
    finally:
        stop(serve)


# -- what a process holds ------------------------------------------------------------------------


def sockets(pid: int) -> int:
    """The process's open sockets (listening ones included)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            count += os.readlink(fd).startswith("socket:")
    return count


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def settle(measure: Callable[[], int], at_most: int, timeout: float = 15) -> int:
    """``measure()`` once it is at most ``at_most`` (or its last value after ``timeout``)."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > at_most and time.monotonic() < deadline:
        time.sleep(0.2)
        value = measure()
    return value


# -- chats ---------------------------------------------------------------------------------------


def chat_body(content: str, stream: bool, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"model": MODEL, "messages": messages, "stream": stream, **extra}


@dataclass
class Outcome:
    """What one caller saw: the HTTP status, the text received, and the error, if any."""

    status: int
    text: str = ""
    error: str | None = None
    seconds: float = 0.0
    events: list[Any] = field(default_factory=list)


def call(serve: Serve, body: dict[str, Any], timeout: float = 90) -> Outcome:
    """One chat on a connection of its own; a transport error is an outcome too."""
    started = time.monotonic()
    try:
        with serve.client(timeout=timeout) as client:
            if body.get("stream"):
                outcome = _streamed(client, body)
            else:
                outcome = _whole(client.post("/v1/chat/completions", json=body))
    except httpx.TransportError as exc:
        outcome = Outcome(0, error=f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.monotonic() - started
    return outcome


def _whole(answer: httpx.Response) -> Outcome:
    if answer.status_code != 200:
        return Outcome(answer.status_code, error=answer.json()["error"]["message"])
    return Outcome(200, answer.json()["choices"][0]["message"]["content"])


def _streamed(client: httpx.Client, body: dict[str, Any]) -> Outcome:
    with client.stream("POST", "/v1/chat/completions", json=body) as answer:
        if answer.status_code != 200:
            answer.read()
            return Outcome(answer.status_code, error=answer.json()["error"]["message"])
        outcome = Outcome(200)
        for line in answer.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            event = json.loads(line[5:])
            outcome.events.append(event)
            if "error" in event:
                outcome.error = event["error"]["message"]
            for choice in event.get("choices") or []:
                outcome.text += (choice.get("delta") or {}).get("content") or ""
    return outcome


# -- an upstream that misbehaves on demand -------------------------------------------------------


class FaultyUpstream:
    """A loopback HTTP/1.1 server that relays every request to ``target`` (one connection per
    request), except a generation whose body says ``fault:<name>``: that one gets the fault.

    ``open`` counts the connections it holds now, so a test can see the gateway let go.
    """

    def __init__(self, target: str) -> None:
        self.target = target.split("://", 1)[1]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.open = 0
        self.faults: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faulty-upstream", daemon=True)

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()
        assert self._started.wait(10), "the faulty upstream did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            head, body = await _request(reader)
            path = head.split(b" ", 2)[1].decode()
            fault = FAULT.search(body)
            if fault and path.split("?")[0] in GENERATIONS:
                name = fault.group(1).decode()
                self.faults[name] = self.faults.get(name, 0) + 1
                await FAULTS[name](reader, writer)
            else:
                await self._relay(head, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _relay(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        host, port = self.target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        up_writer.write(b"\r\n".join([*lines, b"Connection: close", b"", b""]) + body)
        await up_writer.drain()
        try:
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()


async def _request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n"))[:-4]
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return head, body


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _until_closed(reader: asyncio.StreamReader) -> None:
    await reader.read()  # returns when the gateway closes its side


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the request and never answers."""
    await _until_closed(reader)


async def byte_a_while(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The status line, one byte every half second (a byte a minute, sped up)."""
    for byte in SSE_HEAD:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.5)


async def keepalives(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A stream that opens, then sends keep-alive comments forever."""
    writer.write(SSE_HEAD)
    while True:
        writer.write(_chunk(b":\n\n"))
        await writer.drain()
        await asyncio.sleep(0.2)


async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Two tokens, then a stray byte every half second and never another token."""
    writer.write(SSE_HEAD + _chunk(TOKEN) + _chunk(TOKEN))
    while True:
        writer.write(_chunk(b"\n"))
        await writer.drain()
        await asyncio.sleep(0.5)


async def drips(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A token every half second, forever (only the total timeout ends it)."""
    writer.write(SSE_HEAD)
    while True:
        writer.write(_chunk(TOKEN))
        await writer.drain()
        await asyncio.sleep(0.5)


async def huge_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 10 MB line that never ends, sent as fast as the gateway reads it."""
    writer.write(SSE_HEAD + _chunk(b'data: {"choices":[{"delta":{"content":"'))
    piece = _chunk(b"x" * 65536)
    for _ in range(160):
        writer.write(piece)
        await writer.drain()
    await _until_closed(reader)


async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A token, then half of a chunk, then the connection closes."""
    writer.write(SSE_HEAD + _chunk(TOKEN) + b'100\r\ndata: {"cho')
    await writer.drain()


FAULTS: dict[str, Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]] = {
    "silent": silent,
    "byte_a_while": byte_a_while,
    "keepalives": keepalives,
    "stalls": stalls,
    "drips": drips,
    "huge_line": huge_line,
    "cut": cut,
}


# -- a Redis of the test's own -------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a port of its own, which the test can stop and start again."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not _answers(self.port):
            assert self.popen.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
        self.popen = None


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def own_redis(log: Path) -> Iterator[RedisServer]:
    import shutil

    if shutil.which("redis-server") is None:
        import pytest

        pytest.skip("redis-server is not installed")
    server = RedisServer(log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def serving_pair(env: dict[str, str], folder: Path) -> Iterator[tuple[Serve, Serve]]:
    """Two ``hfgate serve`` processes of one deployment (one database, one Redis)."""
    first = start_serve(env, folder / "serve-a.log")
    try:
        second = start_serve(env, folder / "serve-b.log")
        try:
            yield first, second
        finally:
            stop(second)
    finally:
        stop(first)


# -- a PostgreSQL cluster of the test's own ------------------------------------------------------


class OwnPostgres:
    """``initdb`` + ``pg_ctl`` in a temporary folder, on a port of its own (trust auth).

    Run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root)."""

    def __init__(self, bindir: Path) -> None:
        import tempfile

        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="hfgate-pg-"))
        self.data = self.folder / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])

    def init(self) -> None:
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        log = str(self.folder / "postgres.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def postgres_bindir() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name
    )
    return found[-1].parent if found else None


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    import shutil

    import pytest

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb is not installed (/usr/lib/postgresql/*/bin)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb refuses root")
    server = OwnPostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
