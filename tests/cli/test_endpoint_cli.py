"""``hfgate endpoint add|validate|list|remove`` and ``hfgate models`` against a running gateway.

The commands talk to the server over HTTP (``HFGATE_URL``, ``HFGATE_API_KEY``: README,
"Settings") and print the same checklist the API returns. ``endpoint add`` exits 0 when stored,
2 when stored as pending, 1 when refused. Most runs go through ``typer.testing.CliRunner`` in
this process; one runs the installed ``hfgate`` script in a subprocess to prove the entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from tests.support.peers import MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway, running_sim
from typer.testing import CliRunner

from hfgate._server import free_port
from hfgate.cli import app
from hfgate.sim import SimConfig

BASE_SIM = SimConfig(token=SIM_TOKEN).to_dict()
HFGATE_SCRIPT = Path(sys.executable).with_name("hfgate")
MASK = "hf_…" + SIM_TOKEN[-4:]
OK_LINES = [
    "✓ Credential: well-formed",
    "✓ Reach the endpoint: connected over HTTP",
    "✓ Token accepted: the endpoint accepted the token",
    "✓ Endpoint running: the endpoint is running",
    "✓ Inference engine: text-generation-inference 3.3.6-dev0",
    "✓ Model task: text-generation (from /info)",
    f"✓ Model matches: the endpoint serves {MODEL}",
    "✓ Context window: 4,096 tokens",
    "✓ Chat route: POST /v1/chat/completions (Messages API)",
    "valid: the endpoint passed every check",
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("cli") / "home"
    with running_sim() as handle, running_gateway(home, hub_url=handle.url) as gw:
        yield handle, gw


@pytest.fixture
def sim(live: tuple[SimHandle, Gateway]) -> SimHandle:
    handle = live[0]
    handle.patch(**BASE_SIM)
    handle.reset()
    return handle


@pytest.fixture
def gateway(live: tuple[SimHandle, Gateway], sim: SimHandle) -> Iterator[Gateway]:
    gw = live[1]
    remove_all(gw)
    yield gw
    remove_all(gw)


def remove_all(gw: Gateway) -> None:
    with gw.client() as client:
        for row in client.get("/api/integrations").json()["data"]:
            client.delete(f"/api/integrations/{row['id']}").raise_for_status()


def run(
    gw: Gateway, *args: str, stdin: str | None = None, columns: int = 400, **env: str | None
) -> Result:
    """``hfgate ARGS`` as a user with HFGATE_URL/HFGATE_API_KEY set and a terminal that wide."""
    environment: dict[str, str | None] = {
        "HFGATE_URL": gw.url,
        "HFGATE_API_KEY": gw.key,
        "HFGATE_ADMIN_KEY": None,
        "COLUMNS": str(columns),
    }
    return CliRunner().invoke(app, list(args), env=environment | env, input=stdin)


def lines(result: Result) -> list[str]:
    return [line.rstrip() for line in result.output.splitlines() if line.strip()]


def credential_file(tmp_path: Path, credential: dict[str, Any] | str) -> str:
    path = tmp_path / "credential.json"
    text = credential if isinstance(credential, str) else json.dumps(credential, indent=2)
    path.write_text(text, encoding="utf-8")
    return str(path)


def stored(gw: Gateway) -> list[str]:
    with gw.client() as client:
        return [row["name"] for row in client.get("/api/integrations").json()["data"]]


def served(gw: Gateway) -> list[str]:
    with gw.client() as client:
        return [model["id"] for model in client.get("/v1/models").json()["data"]]


# ---- endpoint add ------------------------------------------------------------------------------


def test_add_stores_and_exits_0(sim: SimHandle, gateway: Gateway, tmp_path: Path) -> None:
    result = run(gateway, "endpoint", "add", credential_file(tmp_path, sim.credential()))

    assert result.exit_code == 0, result.output
    out = lines(result)
    assert out[: len(OK_LINES)] == OK_LINES
    assert len(out) == len(OK_LINES) + 1
    assert out[-1].startswith(f"stored as {MODEL} (id ")
    assert out[-1].endswith(f", key {MASK})")
    assert SIM_TOKEN not in result.output
    assert stored(gateway) == served(gateway) == [MODEL]


def test_add_pending_exits_2(sim: SimHandle, gateway: Gateway, tmp_path: Path) -> None:
    sim.patch(state="paused")
    result = run(gateway, "endpoint", "add", credential_file(tmp_path, sim.credential()))

    assert result.exit_code == 2, result.output
    out = lines(result)
    assert out[:3] == OK_LINES[:3]
    assert out[3].startswith("! Endpoint running: the endpoint is paused and will not wake")
    assert "resume" in out[3]
    not_yet = ["Inference engine", "Model task", "Model matches", "Context window"]
    assert out[4:9] == [
        f"– {title}: waiting for the endpoint to run" for title in [*not_yet, "Chat route"]
    ]
    assert [line for line in out if line.startswith("pending: ")], out
    assert out[-1].startswith(f"stored as {MODEL}")
    assert stored(gateway) == [MODEL]
    assert served(gateway) == []


def test_add_with_wait_rides_out_a_cold_start(
    sim: SimHandle, gateway: Gateway, tmp_path: Path
) -> None:
    sim.patch(state="scaled_to_zero", cold_start=1.0)
    path = credential_file(tmp_path, sim.credential())
    result = run(gateway, "endpoint", "add", path, "--wait", "5")
    assert result.exit_code == 0, result.output
    assert served(gateway) == [MODEL]


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        pytest.param(
            {"context_window": 8192},
            [
                "✗ Context window: context_window 8,192 is more than the endpoint's"
                " max_total_tokens 4,096: set context_window to 4,096 or less",
                "failed: Context window: context_window 8,192 is more than the endpoint's"
                " max_total_tokens 4,096: set context_window to 4,096 or less",
            ],
            id="live-check-failed-422",
        ),
        pytest.param(
            {"api_key": "hf_fake_wrongWRONGwrong0123456789abcdefgh"},
            [
                "✗ Token accepted: the endpoint rejected the token (HTTP 401): paste a current"
                " Hugging Face token (hf_…) that can call this endpoint",
            ],
            id="wrong-token-422",
        ),
        pytest.param(
            '{"api_key": "hf_x",\n  "endpoint": }',
            [
                "✗ Credential: The credential is not valid JSON: Expecting value at line 2,"
                " column 15.",
                "– Reach the endpoint: not checked: the credential is invalid",
            ],
            id="not-json-400",
        ),
    ],
)
def test_add_refused_exits_1_and_stores_nothing(
    credential: dict[str, Any] | str,
    expected: list[str],
    sim: SimHandle,
    gateway: Gateway,
    tmp_path: Path,
) -> None:
    body = credential if isinstance(credential, str) else sim.credential(**credential)
    result = run(gateway, "endpoint", "add", credential_file(tmp_path, body))

    assert result.exit_code == 1, result.output
    out = lines(result)
    for line in expected:
        assert [seen for seen in out if seen.startswith(line)], (line, out)
    assert stored(gateway) == served(gateway) == []


def test_add_reports_every_problem_of_an_invalid_credential(
    sim: SimHandle, gateway: Gateway, tmp_path: Path
) -> None:
    body = sim.credential(context_window="4096", model_name="llama")
    result = run(gateway, "endpoint", "add", credential_file(tmp_path, body))
    assert result.exit_code == 1
    text = result.output
    assert "`model_name` needs the organisation too" in text
    assert "`context_window` must be an integer, not a string" in text


def test_add_a_served_name_exits_1_with_the_hint(
    sim: SimHandle, gateway: Gateway, tmp_path: Path
) -> None:
    path = credential_file(tmp_path, sim.credential())
    assert run(gateway, "endpoint", "add", path).exit_code == 0
    result = run(gateway, "endpoint", "add", path)
    assert result.exit_code == 1
    assert "already served" in result.stderr and '"name"' in result.stderr
    assert stored(gateway) == [MODEL]


def test_add_a_missing_file_exits_1(gateway: Gateway, tmp_path: Path) -> None:
    result = run(gateway, "endpoint", "add", str(tmp_path / "nope.json"))
    assert result.exit_code == 1
    assert "no such file" in result.stderr


# ---- endpoint validate ---------------------------------------------------------------------------


def test_validate_reads_stdin_and_stores_nothing(sim: SimHandle, gateway: Gateway) -> None:
    result = run(gateway, "endpoint", "validate", "-", stdin=json.dumps(sim.credential()))
    assert result.exit_code == 0, result.output
    assert lines(result) == OK_LINES
    assert stored(gateway) == served(gateway) == []

    bad = json.dumps(sim.credential(context_window=8192))
    result = run(gateway, "endpoint", "validate", "-", stdin=bad)
    assert result.exit_code == 1, result.output
    assert lines(result)[-1].startswith("failed: Context window")
    assert stored(gateway) == []


def test_validate_json_prints_the_report(sim: SimHandle, gateway: Gateway) -> None:
    result = run(gateway, "endpoint", "validate", "-", "--json", stdin=json.dumps(sim.credential()))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["integration"] is None
    assert body["report"]["outcome"] == "valid"
    assert [c["status"] for c in body["report"]["checks"]] == ["ok"] * 9


# ---- endpoint list, remove, models ---------------------------------------------------------------


def test_list_shows_what_is_stored_with_the_token_masked(sim: SimHandle, gateway: Gateway) -> None:
    assert gateway.add(sim.credential()).status_code == 201
    sim.patch(state="paused")
    assert gateway.add(sim.credential(name="asleep")).status_code == 202

    result = run(gateway, "endpoint", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == sorted([MODEL, "asleep"])
    assert (rows[MODEL]["status"], rows["asleep"]["status"]) == ("ready", "pending")
    assert {row["api_key"] for row in rows.values()} == {MASK}

    table = run(gateway, "endpoint", "list")
    assert table.exit_code == 0, table.output
    text = table.output
    for word in ("model", "status", "engine", "context", "endpoint", "key", "id"):
        assert word in lines(table)[1]
    for row in rows.values():
        line = next(line for line in text.splitlines() if f" {row['name']} " in line)
        for cell in (row["status"], row["api_key"], row["id"], sim.url):
            assert cell in line, (cell, line)
    assert "4,096" in text
    assert SIM_TOKEN not in text + result.output


def test_list_in_an_80_column_terminal_keeps_names_and_ids_whole(
    sim: SimHandle, gateway: Gateway
) -> None:
    """The id (or name) is what ``endpoint remove`` takes: a table that cuts it is no help."""
    row = gateway.add(sim.credential()).json()["integration"]
    result = run(gateway, "endpoint", "list", columns=80)
    assert result.exit_code == 0, result.output
    cells = table_columns(result.output)
    assert cells["id"] == row["id"], result.output
    assert cells["model"] == MODEL, result.output


def table_columns(output: str) -> dict[str, str]:
    """A one-row rich table read back per column, a wrapped cell's lines joined."""
    header = next(line for line in output.splitlines() if line.startswith("┃"))
    names = [name.strip() for name in header.strip("┃").split("┃")]
    parts: list[list[str]] = [[] for _ in names]
    for line in output.splitlines():
        if line.startswith("│"):
            for index, cell in enumerate(line.strip("│").split("│")):
                parts[index].append(cell.strip())
    return {name: "".join(part) for name, part in zip(names, parts, strict=True)}


def test_remove_by_name_takes_the_model_out_of_every_list(sim: SimHandle, gateway: Gateway) -> None:
    assert gateway.add(sim.credential()).status_code == 201
    result = run(gateway, "endpoint", "remove", MODEL)
    assert result.exit_code == 0, result.output
    assert lines(result) == [f"removed {MODEL}"]
    assert stored(gateway) == served(gateway) == []

    again = run(gateway, "endpoint", "remove", MODEL)
    assert again.exit_code == 1
    assert "no integration with id or name" in again.stderr


def test_remove_by_id(sim: SimHandle, gateway: Gateway) -> None:
    row = gateway.add(sim.credential(name="by-id")).json()["integration"]
    result = run(gateway, "endpoint", "remove", row["id"])
    assert result.exit_code == 0, result.output
    assert lines(result) == ["removed by-id"]
    assert stored(gateway) == []


def test_models_lists_served_and_pending_models(sim: SimHandle, gateway: Gateway) -> None:
    assert gateway.add(sim.credential()).status_code == 201
    sim.patch(state="paused")
    assert gateway.add(sim.credential(name="asleep")).status_code == 202

    result = run(gateway, "models", "--json")
    assert result.exit_code == 0, result.output
    models = {m["id"]: m for m in json.loads(result.stdout)}
    assert (models[MODEL]["status"], models["asleep"]["status"]) == ("ready", "pending")
    assert models[MODEL]["context_window"] == 4096

    table = run(gateway, "models")
    assert table.exit_code == 0, table.output
    ready = next(line for line in table.output.splitlines() if f" {MODEL} " in line)
    assert "ready" in ready and "4,096" in ready and "tgi" in ready
    assert "pending" in next(line for line in table.output.splitlines() if " asleep " in line)


# ---- reaching the server -----------------------------------------------------------------------


def test_without_an_api_key_the_command_says_so(gateway: Gateway) -> None:
    result = run(gateway, "endpoint", "list", HFGATE_API_KEY=None)
    assert result.exit_code == 1
    assert "HTTP 401" in result.stderr


def test_an_unknown_key_is_refused(gateway: Gateway) -> None:
    result = run(gateway, "endpoint", "list", HFGATE_API_KEY="hfg_unknown_key_000000000000000000")
    assert result.exit_code == 1
    assert "HTTP 401" in result.stderr


def test_admin_key_env_is_the_fallback(sim: SimHandle, gateway: Gateway) -> None:
    assert gateway.add(sim.credential()).status_code == 201
    result = run(gateway, "models", "--json", HFGATE_API_KEY=None, HFGATE_ADMIN_KEY=gateway.key)
    assert result.exit_code == 0, result.output
    assert [m["id"] for m in json.loads(result.stdout)] == [MODEL]


def test_no_server_is_a_clear_error(gateway: Gateway) -> None:
    result = run(gateway, "endpoint", "list", HFGATE_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach hfgate" in result.stderr


def test_the_installed_script_talks_to_the_server(sim: SimHandle, gateway: Gateway) -> None:
    assert HFGATE_SCRIPT.exists(), HFGATE_SCRIPT
    assert gateway.add(sim.credential()).status_code == 201
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFGATE_")}
    env |= {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": gateway.key}
    done = subprocess.run(
        [str(HFGATE_SCRIPT), "endpoint", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["name"], r["status"], r["api_key"]) for r in rows] == [(MODEL, "ready", MASK)]
