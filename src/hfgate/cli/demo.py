"""``hfgate demo``: the gateway plus a simulated endpoint, registered the normal way, offline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
from pathlib import Path

import httpx
import typer
import uvicorn

from hfgate._server import free_port, uvicorn_config
from hfgate.cli._render import checklist, console
from hfgate.settings import Settings
from hfgate.storage.private import private_dir, write_private

DEMO_MODEL = "meta-llama/Llama-2-7b-chat-hf"
DEMO_NAME = "simulated/llama-2-7b-chat"
ENV_FILE = "demo.env"
SNIPPETS_FILE = "snippets.txt"


def _remembered(home: Path, name: str, make: str) -> str:
    """A demo secret kept in the demo's home (0600), so a second run reuses it."""
    path = home / name
    if path.exists():
        return path.read_text().strip()
    write_private(path, make + "\n")
    return make


def _curl(url: str, key: str) -> str:
    body = (
        f'{{"model": "{DEMO_NAME}",\n       "messages": [{{"role": "user", "content": "Hello"}}]}}'
    )
    return (
        f"curl -sS {url}/v1/chat/completions \\\n"
        f"  -H 'Authorization: Bearer {key}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


def _python(url: str, key: str) -> str:
    return f"""python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="{url}/v1", api_key="{key}")
reply = client.chat.completions.create(
    model="{DEMO_NAME}",
    messages=[{{"role": "user", "content": "Hello"}}])
print(reply.choices[0].message.content)
PY"""


def _snippets(url: str, key: str, credential: dict[str, object]) -> dict[str, str]:
    """Each a shell command (or JSON) that works when pasted as it is."""
    pasted = {name: credential[name] for name in ("api_key", "endpoint", "model_name")}
    pasted["context_window"] = credential["context_window"]
    return {
        "curl": _curl(url, key),
        "python (the OpenAI SDK)": _python(url, key),
        "chat in the terminal": (
            f"HFGATE_URL={url} \\\nHFGATE_API_KEY={key} \\\n  hfgate chat {DEMO_NAME}"
        ),
        # No "name": it is served as its model_name, next to the demo's own registration.
        "a credential to paste on the integrations page (the same simulated endpoint)": (
            json.dumps(pasted)
        ),
    }


def _environment(url: str, key: str) -> str:
    return (
        f"export HFGATE_URL={url}\nexport HFGATE_API_KEY={key}\n"
        f"export OPENAI_BASE_URL={url}/v1\nexport OPENAI_API_KEY={key}\n"
    )


def _next_steps(url: str, key: str, password: str, home: Path, snippets: dict[str, str]) -> str:
    """Plain text, never passed through rich: rich wraps long lines at the terminal's width,
    even inside quoted strings, and a wrapped command no longer works when pasted."""
    blocks = "\n\n".join(f"# {title}\n{text}" for title, text in snippets.items())
    return f"""
hfgate demo is running at {url}  (the model {DEMO_NAME} is a simulator)

workspace:      {url}  (sign in as owner@localhost / {password})
admin API key:  {key}

{blocks}

The same are in {home / SNIPPETS_FILE}; `source {home / ENV_FILE}` sets HFGATE_URL,
HFGATE_API_KEY, OPENAI_BASE_URL and OPENAI_API_KEY for your own commands.
The simulated endpoint scales to zero after 2 idle minutes, so you will see a cold start.
Press Ctrl-C to stop.
"""


def _show(url: str, key: str, password: str, home: Path, credential: dict[str, object]) -> None:
    snippets = _snippets(url, key, credential)
    write_private(home / ENV_FILE, _environment(url, key))
    write_private(
        home / SNIPPETS_FILE,
        "".join(f"# {title}\n{text}\n\n" for title, text in snippets.items()),
    )
    sys.stdout.write(_next_steps(url, key, password, home, snippets))
    sys.stdout.flush()


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
    _show(url, key, password, home, credential)
    await asyncio.gather(*tasks)


def demo(
    host: str = typer.Option("127.0.0.1", help="Interface for the gateway."),
    port: int = typer.Option(8000, help="Gateway port."),
    home: Path | None = typer.Option(None, help="Data folder [default: HFGATE_HOME/demo]."),
) -> None:
    """Try hfgate offline: the gateway with a simulated TGI endpoint, registered and validated."""
    if home is None:
        # HFGATE_HOME itself private too, when the demo is the first to create it.
        home = private_dir(Settings.from_env().home) / "demo"
    private_dir(home)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(host, port, home))
