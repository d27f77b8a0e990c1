"""`hfgate serve --workers 2`: one port, two worker processes, one PostgreSQL, one Redis.

The server is a real subprocess on a loopback port. Which worker answers a connection is the
kernel's choice, so the tests send many requests on separate connections and read each
worker's own share from its files in ``PROMETHEUS_MULTIPROC_DIR`` (named after its pid).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from tests.chat.support import expected_chat
from tests.cluster.support import flush_redis, serve_env, wait_ready
from tests.conftest import REDIS_HOST, REDIS_PORT, reachable
from tests.support.peers import ADMIN_KEY, MODEL, SimHandle, running_sim

from hfgate._server import free_port

REDIS_DB = 13  # test_scale_out uses 14, test_rate_limits 15
DRAIN_SECONDS = 1.5
SHUTDOWN_GRACE = 10.0
CHATS = 40


@dataclass
class Served:
    """A running ``hfgate serve --workers 2`` and the simulator it serves."""

    url: str
    popen: subprocess.Popen[bytes]
    log: Path
    sim: SimHandle
    workers: list[int] = field(default_factory=list)
    metrics_dir: Path | None = None

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that just ended
            continue
    return kids


def _worker_pids(master: int) -> list[int]:
    """The master's live worker processes (not multiprocessing's resource tracker)."""
    workers = []
    for pid in _children(master):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in cmdline and state != "Z":
            workers.append(pid)
    return sorted(workers)


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def _wait_serving(served: Served, timeout: float = 60) -> None:
    """Both workers have finished their startup and the port answers."""

    def both_started() -> bool:
        log = served.log.read_text(errors="replace")
        return log.count("Application startup complete") >= 2

    wait_ready(served.url, served.popen, timeout, both_started, served.log_tail)


@pytest.fixture
def served(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Served]:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    flush_redis(REDIS_DB)
    with running_sim() as sim:
        env = serve_env(
            str(tmp_path / "home"),
            fresh_postgres_url,
            REDIS_DB,
            sim.url,
            HFGATE_DRAIN_SECONDS=str(DRAIN_SECONDS),
            HFGATE_SHUTDOWN_GRACE=str(SHUTDOWN_GRACE),
        )
        port = free_port()
        command = [sys.executable, "-m", "hfgate", "serve", "--port", str(port), "--workers", "2"]
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [*command, "--log-level", "info"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        served = Served(f"http://127.0.0.1:{port}", popen, log, sim)
        try:
            _wait_serving(served)
            served.workers = _worker_pids(popen.pid)
            assert len(served.workers) == 2, (served.workers, served.log_tail())
            # ``serve`` made the directory; every worker was started with it in its environment.
            dirs = {_environ(pid).get("PROMETHEUS_MULTIPROC_DIR") for pid in served.workers}
            assert len(dirs) == 1 and None not in dirs, dirs
            served.metrics_dir = Path(str(dirs.pop()))
            yield served
        finally:
            if popen.poll() is None:
                popen.kill()
                popen.wait(10)
            for pid in served.workers:  # orphans, if the master could not stop them
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
            if served.metrics_dir is not None:
                shutil.rmtree(served.metrics_dir, ignore_errors=True)
            flush_redis(REDIS_DB)


# -- helpers -------------------------------------------------------------------------------------


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"caller {i} says hello"}]


def _chat(served: Served, i: int) -> httpx.Response:
    with served.client() as client:  # a client, and so a connection, of its own
        return client.post("/v1/chat/completions", json={"model": MODEL, "messages": _messages(i)})


def _add(served: Served) -> None:
    with served.client() as client:
        answer = client.post("/api/integrations", content=json.dumps(served.sim.credential()))
    assert answer.status_code == 201, answer.text


def _scrape(served: Served) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with httpx.Client(base_url=served.url, timeout=30) as client:  # a new connection each time
        answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return _samples(answer.text)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _chat_ok(route: str = "chat") -> frozenset[tuple[str, str]]:
    return frozenset({("model", MODEL), ("route", route), ("code", "200")})


def _served_by(served: Served, pid: int, tmp: Path) -> float:
    """The 200 chats worker ``pid`` counted: its own metric files, read on their own."""
    assert served.metrics_dir is not None
    own = tmp / f"worker-{pid}"
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir()
    for path in served.metrics_dir.glob(f"*_{pid}.db"):
        shutil.copy(path, own / path.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(own))  # type: ignore[no-untyped-call]
    value = registry.get_sample_value("hfgate_requests_total", dict(_chat_ok()))
    return value or 0.0


# -- tests ---------------------------------------------------------------------------------------


def test_both_workers_serve_an_integration_added_through_either_and_metrics_sum_them(
    served: Served, tmp_path: Path
) -> None:
    assert len(_worker_pids(served.popen.pid)) == 2
    _add(served)  # answered by one worker; the other learns of it from the database on a miss

    answers: list[httpx.Response] = []
    deadline = time.monotonic() + 30
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        # Which worker accepts is the kernel's choice: send batches until both have served.
        while True:
            start = len(answers)
            answers += pool.map(lambda i: _chat(served, i), range(start, start + CHATS // 2))
            if len(answers) < CHATS:
                continue
            shares = {pid: _served_by(served, pid, tmp_path) for pid in served.workers}
            if all(shares.values()) or time.monotonic() > deadline:
                break

    codes = [answer.status_code for answer in answers]
    assert codes == [200] * len(answers), [a.text for a in answers if a.status_code != 200][:3]
    for i, answer in enumerate(answers):
        assert answer.json()["choices"][0]["message"]["content"] == expected_chat(_messages(i)).text
    # (a) two live workers, and each served part of the traffic
    assert _worker_pids(served.popen.pid) == served.workers
    assert all(share > 0 for share in shares.values()), shares
    assert sum(shares.values()) == len(answers), shares

    # (c) any worker's /metrics reports the sum over both (several scrapes, new connections)
    prompt = sum(answer.json()["usage"]["prompt_tokens"] for answer in answers)
    completion = sum(answer.json()["usage"]["completion_tokens"] for answer in answers)
    for _ in range(6):
        samples = _scrape(served)
        requests = {
            labels: value
            for (name, labels), value in samples.items()
            if name == "hfgate_requests_total"
        }
        assert requests == {_chat_ok(): len(answers)}
        tokens = frozenset({("model", MODEL), ("kind", "prompt")})
        assert samples[("hfgate_tokens_total", tokens)] == prompt
        tokens = frozenset({("model", MODEL), ("kind", "completion")})
        assert samples[("hfgate_tokens_total", tokens)] == completion
        model = frozenset({("model", MODEL)})
        assert samples[("hfgate_request_seconds_count", model)] == len(answers)
        assert samples[("hfgate_upstream_seconds_count", model)] == len(answers)


def test_sigterm_drains_finishes_the_stream_in_flight_and_exits(served: Served) -> None:
    _add(served)
    served.sim.patch(token_delay=0.05, reply_tokens=60)  # a 3 s answer
    messages = [{"role": "user", "content": "a long answer, please"}]
    body = {"model": MODEL, "messages": messages, "stream": True}
    first_token = threading.Event()

    def stream() -> list[str]:
        lines = []
        with (
            served.client() as client,
            client.stream("POST", "/v1/chat/completions", json=body) as answer,
        ):
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line.startswith("data:"):
                    first_token.set()
                lines.append(line)
        return lines

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(stream)
        assert first_token.wait(15), "the stream did not start"
        workers = _worker_pids(served.popen.pid)
        assert len(workers) == 2
        served.popen.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # Draining: /readyz says 503 while the workers still accept, then connections are refused.
        readiness: list[Any] = []
        while time.monotonic() - signalled < DRAIN_SECONDS + 3:
            try:
                answer = httpx.get(f"{served.url}/readyz", timeout=2)
                readiness.append(answer.status_code)
                if answer.status_code == 503:
                    assert answer.json() == {"status": "draining"}
                    break
            except httpx.TransportError as exc:
                readiness.append(type(exc).__name__)
                break
            time.sleep(0.05)
        assert 503 in readiness, readiness

        lines = future.result(timeout=SHUTDOWN_GRACE + DRAIN_SECONDS + 5)

    payloads = [line[5:].strip() for line in lines if line.startswith("data:")]
    assert payloads[-1] == "[DONE]"
    assert not any('"error"' in payload for payload in payloads), payloads[-3:]
    text = "".join(
        (choice.get("delta") or {}).get("content") or ""
        for payload in payloads[:-1]
        for choice in json.loads(payload).get("choices") or []
    )
    assert text == expected_chat(messages, reply_tokens=60).text  # the whole answer

    # + the supervisor's 0.5 s signal poll, and slack for a machine busy with other tests
    bound = DRAIN_SECONDS + SHUTDOWN_GRACE + 6
    code = served.popen.wait(timeout=bound)
    assert time.monotonic() - signalled < bound
    assert code in (0, -signal.SIGTERM), served.log_tail()
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # workers ended too
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.url}/readyz", timeout=2)
    assert served.metrics_dir is not None
    assert not served.metrics_dir.exists()  # serve removed the workers' metrics folder
