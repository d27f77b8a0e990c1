"""Several real `hfgate serve` processes sharing PostgreSQL and Redis (docs/deploy.md).

Each process is a separate OS process on its own loopback port, as behind a load balancer.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.cluster.support import flush_redis, serve_env, wait_ready
from tests.conftest import REDIS_HOST, REDIS_PORT, reachable, within_one_rate_window
from tests.support.peers import ADMIN_KEY, MODEL, SimHandle, running_sim

from hfgate._server import free_port

REDIS_DB = 14


@dataclass
class Process:
    url: str
    popen: subprocess.Popen[bytes]

    def client(self, key: str = ADMIN_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )


Cluster = tuple[list[Process], SimHandle]


@pytest.fixture
def cluster(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    flush_redis(REDIS_DB)
    with running_sim() as sim:
        env = serve_env(
            str(tmp_path), fresh_postgres_url, REDIS_DB, sim.url, HFGATE_DRAIN_SECONDS="1"
        )
        processes = []
        ports: set[int] = set()
        for _ in range(3):
            # free_port() releases its socket: without this, two processes could get one port,
            # the second fail to bind, and its "readiness" be answered by the first.
            while (port := free_port()) in ports:
                pass
            ports.add(port)
            command = [
                sys.executable,
                "-m",
                "hfgate",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
            log = (tmp_path / f"serve-{port}.log").open("wb")
            popen = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            processes.append(Process(f"http://127.0.0.1:{port}", popen))
        try:
            for process in processes:
                wait_ready(process.url, process.popen)
            time.sleep(0.2)
            assert all(p.popen.poll() is None for p in processes), "an hfgate serve exited"
            yield processes, sim
        finally:
            for process in processes:
                process.popen.kill()
                process.popen.wait(10)
            flush_redis(REDIS_DB)


def _chat(process: Process, key: str = ADMIN_KEY, content: str = "hello") -> httpx.Response:
    with process.client(key) as client:
        body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
        return client.post("/v1/chat/completions", json=body)


def _add(process: Process, sim: SimHandle) -> None:
    with process.client() as client:
        response = client.post("/api/integrations", content=json.dumps(sim.credential()))
    assert response.status_code == 201, response.text


def test_an_integration_added_on_one_process_is_served_by_all_at_once(cluster: Cluster) -> None:
    (a, b, c), sim = cluster
    _add(a, sim)
    assert _chat(b).status_code == 200  # immediately: no waiting for a poll
    assert _chat(c).status_code == 200
    with c.client() as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == [MODEL]
    with a.client() as client:
        integration = client.get("/api/integrations").json()["data"][0]
        assert client.delete(f"/api/integrations/{integration['id']}").status_code == 200
    time.sleep(1.0)  # the other processes poll the database twice a second
    for process in (b, c):
        with process.client() as client:
            assert client.get("/v1/models").json()["data"] == []
        assert _chat(process).status_code == 404


def test_twenty_callers_over_three_processes_share_one_wake_up(cluster: Cluster) -> None:
    processes, sim = cluster
    _add(processes[0], sim)
    sim.patch(state="scaled_to_zero", cold_start=2.0)
    sim.reset()
    targets = list(itertools.islice(itertools.cycle(processes), 20))
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(_chat, targets))
    assert [a.status_code for a in answers] == [200] * 20
    stats = sim.stats()
    assert stats["wakeups"] == 1
    # No stampede: each caller sent at most its first attempt and one after the wake-up.
    assert stats["requests"].get("POST /v1/chat/completions", 0) <= 40
    with processes[2].client() as client:
        assert client.get("/v1/models").json()["data"][0]["status"] == "ready"


def test_rate_limits_are_global(cluster: Cluster) -> None:
    processes, sim = cluster
    _add(processes[0], sim)
    with processes[0].client() as client:
        key = client.post("/api/keys", json={"name": "limited", "rpm": 3}).json()["key"]
    within_one_rate_window()  # across a minute's end the count would start again
    codes = [
        _chat(process, key).status_code
        for process in itertools.islice(itertools.cycle(processes), 5)
    ]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]


def test_a_session_and_a_key_work_on_every_process(cluster: Cluster) -> None:
    (a, b, c), sim = cluster
    _add(a, sim)
    login = httpx.post(
        f"{a.url}/auth/login", json={"email": "owner@localhost", "password": "owner-password-1"}
    )
    assert login.status_code == 200
    cookie = {"hfgate_session": login.cookies["hfgate_session"]}
    for process in (b, c):
        me = httpx.get(f"{process.url}/auth/me", cookies=cookie)
        assert me.status_code == 200 and me.json()["user"]["email"] == "owner@localhost"
    with b.client() as client:
        key = client.post("/api/keys", json={"name": "made-on-b"}).json()["key"]
    assert _chat(c, key).status_code == 200


def test_killing_one_process_leaves_the_others_and_the_data_intact(cluster: Cluster) -> None:
    (a, b, c), sim = cluster
    _add(a, sim)
    sim.patch(token_delay=0.02, reply_tokens=60)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "tell me"}], "stream": True}

    def stream_on(process: Process) -> str:
        with (
            process.client() as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            return "".join(response.iter_lines())

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        survivors = [pool.submit(stream_on, p) for p in (b, c, b, c)]
        time.sleep(0.3)
        a.popen.send_signal(signal.SIGKILL)
        results = [future.result(timeout=30) for future in survivors]
    for text in results:
        assert text.endswith("data: [DONE]") and '"error"' not in text
    with b.client() as client:
        assert [i["name"] for i in client.get("/api/integrations").json()["data"]] == [MODEL]
        deadline = time.monotonic() + 5  # every process writes its usage in batches
        while (usage := client.get("/api/usage").json()["by_model"]) == [] or usage[0][
            "requests"
        ] < 4:
            assert time.monotonic() < deadline, usage
            time.sleep(0.1)


def test_sigterm_drains_and_finishes_in_flight_streams(cluster: Cluster) -> None:
    (a, b, _), sim = cluster
    _add(a, sim)
    sim.patch(token_delay=0.05, reply_tokens=40)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "long answer"}],
        "stream": True,
    }
    with concurrent.futures.ThreadPoolExecutor(1) as pool:

        def stream() -> str:
            with (
                b.client() as client,
                client.stream("POST", "/v1/chat/completions", json=body) as response,
            ):
                return "".join(response.iter_lines())

        future = pool.submit(stream)
        time.sleep(0.4)
        b.popen.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert httpx.get(f"{b.url}/readyz").status_code == 503
        text = future.result(timeout=30)
    assert text.endswith("data: [DONE]") and '"error"' not in text
    # uvicorn re-raises the signal once it has shut down cleanly: the process ends "by SIGTERM".
    assert b.popen.wait(30) in (0, -signal.SIGTERM)
