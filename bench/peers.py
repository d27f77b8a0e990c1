"""The servers of a run: the simulator, hfgate (one process and ``--workers 2``), LiteLLM.

Every gateway is configured for the same simulator and model. hfgate gets a fresh
``HFGATE_HOME`` (SQLite) per instance, ``HFGATE_ADMIN_KEY``, ``HFGATE_ALLOW_HOSTS=127.0.0.1``
and ``HFGATE_HUB_URL`` = the simulator; the simulator is registered through
``POST /api/integrations``, as an admin would. ``--workers 2`` runs on SQLite in one
``HFGATE_HOME``, the one-host set-up docs/deploy.md describes (its container recipe).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import litellm_peer
import teibench
from common import (
    ADMIN_KEY,
    HOST,
    MODEL,
    NONSTREAM_TOKENS,
    ROUTE,
    SIM_TOKEN,
    STREAM_TOKENS,
    TARGETS,
    log,
    request_body,
)
from procs import Processes, Quiet, clean_env, tree_cpu, tree_memory, tree_pids, wait_http

WARMUP_REQUESTS = 20  # per target and kind (plain, stream) before anything is measured


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def sim_argv(port: int) -> list[str]:
    """``hfgate sim`` if its CLI imports; else the same app built with ``create_app`` + uvicorn."""
    try:
        import hfgate.cli.sim  # noqa: F401

        return [
            sys.executable, "-m", "hfgate", "sim",
            "--host", HOST, "--port", str(port), "--token", SIM_TOKEN,
            "--model-id", MODEL, "--reply-tokens", str(NONSTREAM_TOKENS),
            "--token-delay", "0", "--log-level", "warning",
        ]  # fmt: skip
    except Exception as exc:
        log(f"`hfgate sim` does not import ({exc!r}); starting the simulator app directly")
    code = (
        "import uvicorn\n"
        "from hfgate._server import uvicorn_config\n"
        "from hfgate.sim import SimConfig, create_app\n"
        f"config = SimConfig(token={SIM_TOKEN!r}, model_id={MODEL!r},"
        f" reply_tokens={NONSTREAM_TOKENS}, token_delay=0.0)\n"
        f"uvicorn.Server(uvicorn_config(create_app(config), {HOST!r}, {port})).run()\n"
    )
    return [sys.executable, "-c", code]


@dataclass
class Server:
    """One server: its process (or process tree), where it listens, the key it takes."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    logfile: Path

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid)


def wait_log(server: Server, text: str, count: int, timeout: float = 30.0) -> None:
    """Until ``text`` appears ``count`` times in the server's log (e.g. every worker started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if server.logfile.read_text(errors="replace").count(text) >= count:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name}: {count} × {text!r} not in its log within {timeout:g} s")


class Peers:
    """Starts the servers, registers the simulator, checks every path, then says where is what.

    Target names (``direct``, ``hfgate``, ``hfgate2``, ``litellm``) are also the names of their
    servers, except ``direct``, whose server is the simulator (``sim``).
    """

    def __init__(
        self, procs: Processes, workdir: Path, gateway_log_level: str, quiet: Quiet
    ) -> None:
        self.quiet = quiet
        self.procs = procs
        self.workdir = workdir
        self.gateway_log_level = gateway_log_level
        self.servers: dict[str, Server] = {}
        self.rest_memory: dict[str, dict[str, Any]] = {}
        self.startup_s: dict[str, float] = {}
        self.embeddings_ready = True  # both hfgates took the TEI simulators

    @property
    def sim_url(self) -> str:
        return self.servers["sim"].url

    def start(self) -> None:
        self.start_sim()
        self.start_tei()
        litellm_port = free_port()
        litellm = self.launch_litellm(litellm_port)  # the slowest to start: first
        self.start_hfgate("hfgate", workers=1)
        self.start_hfgate("hfgate2", workers=2)
        took = wait_http(f"{litellm.url}/health/liveliness", litellm.proc, "LiteLLM", 180)
        self.startup_s["litellm"] = took
        log(f"litellm pid {litellm.proc.pid} on {litellm.url}: up in {took:.1f} s")
        self.sanity_check()
        self.warm_up()
        self.rest_memory = self.memory()

    def add(self, name: str, proc: subprocess.Popen[bytes], port: int, token: str) -> Server:
        server = Server(name, proc, f"http://{HOST}:{port}", token, self.workdir / f"{name}.log")
        self.servers[name] = server
        return server

    def start_sim(self) -> None:
        port = free_port()
        proc = self.procs.start("sim", sim_argv(port), clean_env())
        sim = self.add("sim", proc, port, SIM_TOKEN)
        self.startup_s["sim"] = wait_http(f"{sim.url}/_sim/state", proc, "the simulator")
        # TGI's default of 128 would answer 429 to the 256-stream and the 1,000-stream phases.
        self.patch_sim(max_concurrent_requests=100_000)
        log(f"simulator pid {proc.pid} on {sim.url}")

    def start_tei(self) -> None:
        """The embeddings simulators (``bench/teibench.py``): one taking 256 inputs per call,
        one taking 32 and holding each call a moment."""
        for name, max_batch in teibench.SERVERS.items():
            port = free_port()
            delay = 0.0 if max_batch > teibench.PART else teibench.SPLIT_DELAY
            argv = teibench.tei_argv(port, max_batch, delay)
            server = self.add(name, self.procs.start(name, argv, clean_env()), port, SIM_TOKEN)
            self.startup_s[name] = wait_http(f"{server.url}/_sim/state", server.proc, name)
            log(f"TEI simulator {name} pid {server.proc.pid} on {server.url}")

    def start_hfgate(self, name: str, workers: int) -> None:
        port, home = free_port(), self.workdir / f"{name}-home"
        env = clean_env(
            HFGATE_HOME=str(home),
            HFGATE_ADMIN_KEY=ADMIN_KEY,
            HFGATE_ALLOW_HOSTS=HOST,
            HFGATE_HUB_URL=self.sim_url,
        )
        argv = [sys.executable, "-m", "hfgate", "serve", "--host", HOST, "--port", str(port)]
        argv += ["--log-level", self.gateway_log_level, "--workers", str(workers)]
        started = time.monotonic()
        server = self.add(name, self.procs.start(name, argv, env), port, ADMIN_KEY)
        wait_http(f"{server.url}/healthz", server.proc, f"hfgate serve --workers {workers}")
        if workers > 1:
            wait_log(server, "Application startup complete.", workers)
        self.startup_s[name] = time.monotonic() - started
        log(f"{name} pid {server.proc.pid} ({workers} worker(s)) on {server.url} ({home})")
        self.register(server)

    def launch_litellm(self, port: int) -> Server:
        urls = {name: self.servers[name].url for name in teibench.SERVERS}
        extra = teibench.litellm_models(urls)
        proc = litellm_peer.launch(self.procs, self.workdir, self.sim_url, port, extra_models=extra)
        return self.add("litellm", proc, port, litellm_peer.key(litellm_peer.SETTINGS))

    def register(self, server: Server) -> None:
        summary = register_sim(server.url, self.sim_url, server.name)
        log(f"registered the simulator in {server.name}: {summary}")
        urls = {name: self.servers[name].url for name in teibench.SERVERS}
        self.embeddings_ready &= teibench.register(server.url, urls)

    def patch_sim(self, **changes: Any) -> None:
        response = httpx.patch(f"{self.sim_url}/_sim/state", json=changes, timeout=10)
        response.raise_for_status()

    def sim_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.sim_url}/_sim/stats", timeout=10).json())

    def sim_requests(self) -> int:
        return int(self.sim_stats()["requests"].get(f"POST {ROUTE}", 0))

    def ask(self, name: str, stream: bool = False) -> httpx.Response:
        target = self.target(name)
        return httpx.post(
            target["url"],
            json=request_body(stream=stream),
            headers={"Authorization": f"Bearer {target['token']}"},
            timeout=30,
        )

    def sanity_check(self) -> None:
        """One request each way; each must reach the simulator and bring back the same reply."""
        before, answers = self.sim_requests(), {}
        for name in TARGETS:
            response = self.ask(name)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:500]}")
            answers[name] = response.json()["choices"][0]["message"]["content"]
        relayed = self.sim_requests() - before
        if relayed != len(TARGETS) or len(set(answers.values())) != 1:
            raise RuntimeError(f"not every target relayed the simulator's reply: {answers}")

    def warm_up(self) -> None:
        """A few requests each way (plain and streaming) before anything is measured."""
        self.patch_sim(reply_tokens=STREAM_TOKENS)
        for name in TARGETS:
            for stream in (False, True) * WARMUP_REQUESTS:
                response = self.ask(name, stream)
                if response.status_code != 200:
                    raise RuntimeError(f"warm-up, {name}: {response.status_code}")
        self.patch_sim(reply_tokens=NONSTREAM_TOKENS)

    def targets(self, names: tuple[str, ...] = TARGETS) -> list[dict[str, str]]:
        return [self.target(name) for name in names]

    def target(self, name: str) -> dict[str, str]:
        server = self.servers["sim" if name == "direct" else name]
        return {"name": name, "url": server.url + ROUTE, "token": server.token}

    def pids(self) -> dict[str, list[int]]:
        return {name: server.pids() for name, server in self.servers.items()}

    def cpu(self) -> dict[str, float]:
        return {name: tree_cpu(server.pids()) for name, server in self.servers.items()}

    def memory(self) -> dict[str, dict[str, Any]]:
        return {name: tree_memory(server.proc.pid) for name, server in self.servers.items()}


def register_sim(gateway_url: str, sim_url: str, what: str) -> str:
    """Add the simulator to an hfgate through its API, as an admin would; the report's summary."""
    credential = {
        "api_key": SIM_TOKEN,
        "endpoint": sim_url,
        "model_name": MODEL,
        "context_window": 4096,
    }
    response = httpx.post(
        f"{gateway_url}/api/integrations",
        content=json.dumps(credential),
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=60,
    )
    if response.status_code != 201:
        raise RuntimeError(
            f"registering the simulator in {what} failed: {response.status_code} {response.text}"
        )
    return str(response.json()["report"]["summary"])
