"""``hfgate demo``: the gateway plus a simulated endpoint, registered the normal way, offline."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path

import httpx
import typer
import uvicorn

from hfgate._server import free_port, uvicorn_config
from hfgate.cli._render import checklist, console
from hfgate.settings import Settings

DEMO_MODEL = "meta-llama/Llama-2-7b-chat-hf"
DEMO_NAME = "simulated/llama-2-7b-chat"


def _remembered(home: Path, name: str, make: str) -> str:
    """A demo secret kept in the demo's home, so a second run reuses it."""
    path = home / name
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(make + "\n")
    path.chmod(0o600)
    return make


def _next_steps(url: str, key: str, password: str) -> str:
    return f"""
[bold green]hfgate demo is running[/] at {url}  (the model [bold]{DEMO_NAME}[/] is a simulator)

  workspace:      {url}  — sign in as owner@localhost / {password}
  admin API key:  {key}

  curl:    curl {url}/v1/chat/completions -H 'Authorization: Bearer {key}' \\
             -H 'Content-Type: application/json' \\
             -d '{{"model": "{DEMO_NAME}", "messages": [{{"role": "user", "content": "Hello"}}]}}'
  python:  from openai import OpenAI
           client = OpenAI(base_url="{url}/v1", api_key="{key}")
           reply = client.chat.completions.create(
               model="{DEMO_NAME}", messages=[{{"role": "user", "content": "Hello"}}])
  chat:    HFGATE_URL={url} HFGATE_API_KEY={key} hfgate chat {DEMO_NAME}

The simulated endpoint scales to zero after 2 idle minutes, so you will see a cold start.
Press Ctrl-C to stop."""


async def _register(url: str, key: str, credential: dict[str, object]) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=90
    ) as client:
        for existing in (await client.get("/api/integrations")).json()["data"]:
            if existing["name"] == DEMO_NAME:
                await client.delete(f"/api/integrations/{existing['id']}")
        console.print("registering the simulated endpoint (it starts scaled to zero: waking it)…")
        response = await client.post("/api/integrations", params={"wait": 60}, json=credential)
        checklist(response.json()["report"])
        await _connect_account(client, str(credential["api_key"]))


async def _connect_account(client: httpx.AsyncClient, token: str) -> None:
    """The simulator is also Hugging Face's management API: connect it as an account, so the
    Hugging Face tab lists its endpoint and the model's status comes from its record."""
    accounts = (await client.get("/api/hf/accounts")).json()["data"]
    for account in accounts:
        await client.delete(f"/api/hf/accounts/{account['id']}")
    response = await client.post("/api/hf/accounts", json={"token": token})
    if response.status_code != 201:
        console.print(
            f"[yellow]could not connect the simulated Hugging Face account:[/] {response.text}"
        )


async def _run(host: str, port: int, home: Path) -> None:
    from hfgate.app import create_app
    from hfgate.sim import SimConfig
    from hfgate.sim import create_app as create_sim

    token = "hf_demo_" + secrets.token_urlsafe(16)
    key = _remembered(home, "demo-admin.key", "hfg_demo_" + secrets.token_urlsafe(24))
    password = _remembered(home, "demo-owner.password", secrets.token_urlsafe(9))
    sim_port = free_port()
    sim = SimConfig(
        model_id=DEMO_MODEL,
        token=token,
        state="scaled_to_zero",
        cold_start=4.0,
        idle_timeout=120.0,
        token_delay=0.03,
    )
    env = {
        "HFGATE_HOME": str(home),
        "HFGATE_ADMIN_KEY": key,
        "HFGATE_ALLOW_HOSTS": "127.0.0.1",
        "HFGATE_HUB_URL": f"http://127.0.0.1:{sim_port}",
        "HFGATE_ENDPOINTS_API_URL": f"http://127.0.0.1:{sim_port}/v2",
        "HFGATE_OWNER_PASSWORD": password,
    }
    servers = [
        uvicorn.Server(uvicorn_config(create_sim(sim), "127.0.0.1", sim_port)),
        uvicorn.Server(uvicorn_config(create_app(Settings.from_env(env)), host, port)),
    ]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            raise typer.Exit(1)
        await asyncio.sleep(0.05)
    url = f"http://{host}:{port}"
    credential = {
        "api_key": token,
        "endpoint": f"http://127.0.0.1:{sim_port}",
        "model_name": DEMO_MODEL,
        "context_window": 4096,
        "name": DEMO_NAME,
    }
    await _register(url, key, credential)
    console.print(_next_steps(url, key, password))
    await asyncio.gather(*tasks)


def demo(
    host: str = typer.Option("127.0.0.1", help="Interface for the gateway."),
    port: int = typer.Option(8000, help="Gateway port."),
    home: Path | None = typer.Option(None, help="Data folder [default: HFGATE_HOME/demo]."),
) -> None:
    """Try hfgate offline: the gateway with a simulated TGI endpoint, registered and validated."""
    home = home or Settings.from_env().home / "demo"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(host, port, home))
