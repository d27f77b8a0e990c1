"""``hfgate hf …`` against a running gateway whose Hugging Face is the simulator.

The simulator is the endpoint, the management API (``{sim}/v2``) and the Hub's whoami; the
gateway points at it with ``HFGATE_ENDPOINTS_API_URL`` and ``HFGATE_HUB_URL``. The CLI runs
through ``typer.testing.CliRunner`` in an 80-column terminal, as people run it, and the
Hugging Face token must never appear in anything it prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import Result
from tests.support.peers import MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway, running_sim
from typer.testing import CliRunner

from hfgate.cli import app
from hfgate.sim import SimConfig
from hfgate.sim.records import endpoint_name

# A resume stays "pending" (not yet scheduled) for seconds: long enough to read it back.
BASE_SIM = SimConfig(token=SIM_TOKEN, cold_start=0.5, management_pending_seconds=5).to_dict()
NAMESPACE = "acme"
ENDPOINT = f"{NAMESPACE}/{endpoint_name(SimConfig(token=SIM_TOKEN))}"
MASK = "hf_…" + SIM_TOKEN[-4:]
BAD_TOKEN = "hf_test_not_a_real_token_000000000"
CUSTOM_RECORD = {  # a container hfgate cannot know the protocol of
    "name": "my-handler",
    "model": {
        "repository": "acme/handler",
        "task": "custom",
        "image": {"custom": {"url": "ghcr.io/acme/handler:1"}},
    },
}
CHECKLIST_TITLES = [
    "Credential",
    "Reach the endpoint",
    "Token accepted",
    "Endpoint running",
    "Inference engine",
    "Model task",
    "Model matches",
    "Context window",
    "Chat route",
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("hf-cli") / "home"
    with running_sim(**BASE_SIM) as sim:
        management = {"HFGATE_ENDPOINTS_API_URL": f"{sim.url}/v2"}
        with running_gateway(home, hub_url=sim.url, **management) as gateway:
            yield sim, gateway


@pytest.fixture
def sim(live: tuple[SimHandle, Gateway]) -> SimHandle:
    handle = live[0]
    handle.patch(**BASE_SIM)  # also the management API's records and the lifecycle
    handle.reset()
    return handle


@pytest.fixture
def gateway(live: tuple[SimHandle, Gateway], sim: SimHandle) -> Iterator[Gateway]:
    gateway = live[1]
    forget_everything(gateway)
    yield gateway
    forget_everything(gateway)


def forget_everything(gateway: Gateway) -> None:
    with gateway.client() as client:
        for row in client.get("/api/integrations").json()["data"]:
            client.delete(f"/api/integrations/{row['id']}").raise_for_status()
        for account in client.get("/api/hf/accounts").json()["data"]:
            client.delete(f"/api/hf/accounts/{account['id']}").raise_for_status()


def run(gateway: Gateway, *args: str, stdin: str | None = None, columns: int = 80) -> Result:
    """``hfgate hf ARGS`` in a terminal that wide; no output may ever hold the token."""
    env = {
        "HFGATE_URL": gateway.url,
        "HFGATE_API_KEY": gateway.key,
        "HFGATE_ADMIN_KEY": None,
        "COLUMNS": str(columns),
    }
    result = CliRunner().invoke(app, ["hf", *args], env=env, input=stdin)
    assert SIM_TOKEN not in result.output + result.stderr
    assert not isinstance(result.exception, Exception), result.exception  # no traceback
    return result


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def connect(gateway: Gateway) -> Result:
    result = run(gateway, "connect", "--token-stdin", "--namespace", NAMESPACE, stdin=SIM_TOKEN)
    assert result.exit_code == 0, result.output
    return result


def add_record(sim: SimHandle, record: dict[str, Any]) -> None:
    httpx.post(f"{sim.url}/_sim/endpoints", json=record, timeout=10).raise_for_status()


def endpoints_json(gateway: Gateway) -> dict[str, dict[str, Any]]:
    result = run(gateway, "endpoints", "--json", "--refresh")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["endpoints"]
    return {f"{row['namespace']}/{row['name']}": row for row in rows}


def models(gateway: Gateway) -> dict[str, str]:
    with gateway.client() as client:
        return {m["id"]: m["status"] for m in client.get("/api/models").json()["data"]}


# ---- accounts ----------------------------------------------------------------------------------


def test_connect_reads_the_token_from_stdin_and_shows_it_masked(
    sim: SimHandle, gateway: Gateway
) -> None:
    out = lines(connect(gateway).stdout)
    assert out[0] == f"connected sim-user: namespaces {NAMESPACE}"
    assert out[1].startswith(f"token {MASK}, account id ")
    account_id = out[1].rsplit(" ", 1)[-1]

    listed = run(gateway, "accounts", "--json")
    assert listed.exit_code == 0, listed.output
    [account] = json.loads(listed.stdout)
    assert (account["id"], account["user"], account["token"]) == (account_id, "sim-user", MASK)
    assert account["namespaces"] == [NAMESPACE]

    shown = run(gateway, "accounts")
    assert shown.exit_code == 0, shown.output
    assert MASK in shown.stdout and "sim-user" in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())


def test_a_bad_token_is_one_clear_line(sim: SimHandle, gateway: Gateway) -> None:
    result = run(gateway, "connect", "--token-stdin", stdin=BAD_TOKEN + "\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert lines(result.stderr) == [
        "error: HTTP 400: Hugging Face rejected the token (HTTP 401) when asked to read whoami"
    ]
    assert BAD_TOKEN not in result.stderr
    assert json.loads(run(gateway, "accounts", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), SIM_TOKEN, "error: give the token on standard input with --token-stdin"),
        (("--token-stdin",), "\n", "error: --token-stdin was given but standard input held"),
    ],
    ids=["no-flag", "empty-stdin"],
)
def test_connect_takes_the_token_only_from_stdin(
    args: tuple[str, ...], stdin: str, message: str, gateway: Gateway
) -> None:
    result = run(gateway, "connect", *args, stdin=stdin)
    assert result.exit_code == 1
    assert lines(result.stderr)[0].startswith(message), result.stderr


def test_disconnect_forgets_the_account(sim: SimHandle, gateway: Gateway) -> None:
    account_id = lines(connect(gateway).stdout)[1].rsplit(" ", 1)[-1]
    result = run(gateway, "disconnect", account_id)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [f"disconnected {account_id}; its imported models stay"]
    assert json.loads(run(gateway, "accounts", "--json").stdout) == []

    again = run(gateway, "disconnect", account_id)
    assert again.exit_code == 1
    assert lines(again.stderr) == [f"error: HTTP 404: no Hugging Face account {account_id!r}"]


# ---- endpoints ---------------------------------------------------------------------------------


def test_endpoints_table_fits_80_columns_and_keeps_names_whole(
    sim: SimHandle, gateway: Gateway
) -> None:
    add_record(sim, CUSTOM_RECORD)
    connect(gateway)
    assert run(gateway, "import", ENDPOINT, columns=400).exit_code == 0

    result = run(gateway, "endpoints", "--refresh")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in out), out
    assert out[0].split() == ["endpoint", "state", "engine", "instance", "$/h", "in", "hfgate"]
    served = next(line for line in out if line.startswith(ENDPOINT + " "))
    assert served.split()[1:5] == ["running", "tgi", "a10g", "x1"]
    assert served.split()[5] == "1.00"
    custom = next(line for line in out if line.startswith(f"{NAMESPACE}/my-handler "))
    assert custom.split()[1:3] == ["running", "custom"] and custom.split()[-1] == "unsupported"
    assert f"unsupported: {NAMESPACE}/my-handler is a custom container" in result.stdout
    assert last_column(out, ENDPOINT) == MODEL  # folded if need be, never cut


def last_column(table: list[str], endpoint: str) -> str:
    """The "in hfgate" cell of an endpoint's row, its folded lines joined."""
    start = table[0].index("in hfgate")
    row = next(i for i, line in enumerate(table) if line.startswith(endpoint + " "))
    cell = [table[row][start:].strip()]
    for line in table[row + 1 :]:
        if not line.startswith(" "):
            break
        cell.append(line[start:].strip())
    return "".join(cell)


def test_endpoints_json_is_the_api_answer(sim: SimHandle, gateway: Gateway) -> None:
    connect(gateway)
    rows = endpoints_json(gateway)
    assert list(rows) == [ENDPOINT]
    row = rows[ENDPOINT]
    assert (row["state"], row["engine"], row["instance_type"]) == ("running", "tgi", "nvidia-a10g")
    assert (row["price_per_hour"], row["model"], row["supported"]) == (1.0, None, True)


def test_endpoints_print_a_namespace_error_below_the_table(
    sim: SimHandle, gateway: Gateway
) -> None:
    connect(gateway)
    sim.patch(management_error=503)
    result = run(gateway, "endpoints", "--refresh")
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        f"error: {NAMESPACE}: Hugging Face's management API failed to list the endpoints of"
        f" '{NAMESPACE}' (HTTP 503: Service Unavailable); try again in a minute"
    ]


def test_endpoints_without_an_account_says_how_to_connect(gateway: Gateway) -> None:
    result = run(gateway, "endpoints")
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [
        "no Hugging Face account connected: run `hfgate hf connect --token-stdin`"
    ]


# ---- import ------------------------------------------------------------------------------------


def test_import_prints_the_checklist_and_serves_the_model(sim: SimHandle, gateway: Gateway) -> None:
    connect(gateway)
    result = run(gateway, "import", ENDPOINT, columns=400)
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert [line.split(":")[0] for line in out[:9]] == [f"✓ {t}" for t in CHECKLIST_TITLES]
    assert out[9] == "valid: the endpoint passed every check"
    assert out[10].startswith(f"stored as {MODEL} (id ") and out[10].endswith(f"key {MASK})")
    assert models(gateway) == {MODEL: "ready"}
    assert endpoints_json(gateway)[ENDPOINT]["model"] == MODEL


def test_import_takes_a_name_a_context_window_and_a_key_from_stdin(
    sim: SimHandle, gateway: Gateway
) -> None:
    connect(gateway)
    options = ["--name", "llama", "--context-window", "2048", "--api-key-stdin"]
    result = run(gateway, "import", ENDPOINT, *options, stdin=SIM_TOKEN + "\n", columns=400)
    assert result.exit_code == 0, result.output
    assert "✓ Context window: 2,048 tokens (the endpoint allows up to 4,096)" in result.stdout
    assert lines(result.stdout)[-1].startswith("stored as llama (id ")
    assert models(gateway) == {"llama": "ready"}


def test_import_of_a_paused_endpoint_is_pending_and_exits_2(
    sim: SimHandle, gateway: Gateway
) -> None:
    """As ``hfgate endpoint add``: stored, finished when the endpoint runs."""
    connect(gateway)
    sim.patch(state="paused")
    result = run(gateway, "import", ENDPOINT, columns=400)
    assert result.exit_code == 2, result.output
    out = lines(result.stdout)
    assert out[3].startswith("! Endpoint running: ")
    assert [line for line in out if line.startswith("pending: ")], out
    assert out[-1].startswith(f"stored as {MODEL}")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            f"{NAMESPACE}/my-handler",
            f"error: not imported: {NAMESPACE}/my-handler is a custom container",
        ),
        (
            f"{NAMESPACE}/nowhere",
            f"error: HTTP 404: Hugging Face found nothing when asked to read {NAMESPACE}/nowhere",
        ),
        ("other/thing", "error: HTTP 404: no connected Hugging Face account covers"),
        ("nowhere", "error: 'nowhere' is not NAMESPACE/NAME"),
    ],
    ids=["unsupported", "unknown", "namespace-not-connected", "not-ns-slash-name"],
)
def test_import_refused_is_one_line_and_exit_1(
    target: str, message: str, sim: SimHandle, gateway: Gateway
) -> None:
    add_record(sim, CUSTOM_RECORD)
    connect(gateway)
    result = run(gateway, "import", target, columns=400)
    assert result.exit_code == 1
    assert len(lines(result.stderr)) == 1
    assert result.stderr.startswith(message), result.stderr
    assert models(gateway) == {}


def test_import_all_imports_the_supported_and_skips_the_rest(
    sim: SimHandle, gateway: Gateway
) -> None:
    add_record(sim, CUSTOM_RECORD)
    connect(gateway)
    result = run(gateway, "import-all", columns=400)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [
        f"✓ {ENDPOINT} → {MODEL}: valid: the endpoint passed every check",
        f"– {NAMESPACE}/my-handler: skipped: {NAMESPACE}/my-handler is a custom container:"
        " hfgate cannot know which protocol it speaks",
    ]
    assert models(gateway) == {MODEL: "ready"}

    again = run(gateway, "import-all", columns=400)
    assert again.exit_code == 0, again.output
    assert f"– {ENDPOINT}: skipped: already imported" in lines(again.stdout)


# ---- operate -----------------------------------------------------------------------------------


def test_pause_resume_and_scale_to_zero_print_the_new_state(
    sim: SimHandle, gateway: Gateway
) -> None:
    connect(gateway)
    assert run(gateway, "import", ENDPOINT, columns=400).exit_code == 0

    paused = run(gateway, "pause", ENDPOINT, columns=400)
    assert paused.exit_code == 0, paused.output
    assert lines(paused.stdout) == [
        f"{ENDPOINT}: paused (Endpoint is paused); model {MODEL} is paused"
    ]
    assert sim.state()["state"] == "paused"
    assert models(gateway) == {MODEL: "paused"}

    resumed = run(gateway, "resume", ENDPOINT, columns=400)
    assert resumed.exit_code == 0, resumed.output
    waiting = f"{ENDPOINT}: pending (Endpoint waiting to be scheduled); model {MODEL} is "
    assert resumed.stdout.startswith(waiting), resumed.stdout
    assert sim.state()["state"] == "initializing"

    scaled = run(gateway, "scale-to-zero", ENDPOINT, columns=400)
    assert scaled.exit_code == 0, scaled.output
    assert scaled.stdout.startswith(f"{ENDPOINT}: scaledToZero (Endpoint is scaled to zero)")
    assert sim.state()["state"] == "scaled_to_zero"
    assert endpoints_json(gateway)[ENDPOINT]["state"] == "scaledToZero"


def test_an_operation_hugging_face_refuses_is_one_line(sim: SimHandle, gateway: Gateway) -> None:
    connect(gateway)
    sim.patch(state="paused")
    result = run(gateway, "scale-to-zero", ENDPOINT)
    assert result.exit_code == 1
    assert len(lines(result.stderr)) == 1
    assert result.stderr.startswith("error: HTTP 400: Hugging Face refused to scale-to-zero")


def test_resume_of_a_running_endpoint_is_not_an_error(sim: SimHandle, gateway: Gateway) -> None:
    connect(gateway)
    result = run(gateway, "resume", ENDPOINT)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{ENDPOINT}: running")


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["hf", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for command in ("connect", "accounts", "disconnect", "endpoints", "import", "import-all"):
        assert f" {command} " in result.output
    for command in ("resume", "pause", "scale-to-zero"):
        assert f" {command} " in result.output
