"""The admin routes and the ``hfgate sim`` command."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from hfgate.cli.sim import sim as sim_command
from hfgate.sim.config import CHATML_TEMPLATE, SimConfig
from tests.sim.support import AUTH, BASE, Sim


def test_state_lists_every_field_and_the_live_state(sim: Sim) -> None:
    state = sim.state()
    assert set(BASE.to_dict()) <= set(state)
    assert (state["state"], state["ready_in"], state["in_flight"]) == ("running", None, 0)
    assert state["chat_template"] == CHATML_TEMPLATE
    assert sim.admin.get("/_sim/state", headers=AUTH).json()["token"] == "hf_simtoken"


def test_state_shows_the_tokens_only_to_a_holder_of_one(sim: Sim) -> None:
    sim.patch(management_tokens=["hf_manager_token"], forbidden_tokens=["hf_forbidden_token"])
    hidden = {"token": "hf_…redacted", "management_tokens": ["hf_…redacted"]}
    hidden["forbidden_tokens"] = ["hf_…redacted"]
    wrong = {"Authorization": "Bearer hf_forbidden_token"}
    for headers in ({}, wrong, {"Authorization": "hf_simtoken"}):
        state = sim.admin.get("/_sim/state", headers=headers).json()
        assert {name: state[name] for name in hidden} == hidden, headers
        assert "hf_simtoken" not in sim.admin.get("/_sim/state", headers=headers).text
    assert hidden.items() <= sim.admin.patch("/_sim/state", json={"reply_tokens": 3}).json().items()
    for key in ("hf_simtoken", "hf_manager_token"):
        shown = sim.admin.get("/_sim/state", headers={"Authorization": f"Bearer {key}"}).json()
        assert (shown["token"], shown["forbidden_tokens"]) == (
            "hf_simtoken",
            ["hf_forbidden_token"],
        )


def test_patch_changes_knobs_and_refuses_bad_ones(sim: Sim) -> None:
    changed = sim.patch(max_total_tokens=8192, max_input_tokens=8000, chat_template=None)
    assert (changed["max_total_tokens"], changed["chat_template"]) == (8192, None)
    with sim.client() as client:
        assert client.get("/info").json()["max_total_tokens"] == 8192  # caches follow the patch
    for bad in (
        {"nope": 1},
        {"state": "sleeping"},
        {"cold_start": "slow"},
        {"max_input_tokens": 9000},
    ):
        response = sim.admin.patch("/_sim/state", json=bad)
        assert response.status_code == 400 and "error" in response.json()
    not_object = sim.admin.patch("/_sim/state", content=b"[1]")
    assert not_object.status_code == 400
    assert sim.state()["max_total_tokens"] == 8192  # a refused patch changes nothing


def test_reset_zeroes_the_counters(sim: Sim) -> None:
    with sim.client() as client:
        client.get("/info")
    assert sim.stats()["requests"] == {"GET /info": 1}
    sim.reset()
    stats = sim.stats()
    assert stats["requests"] == {} and stats["last_headers"] is None and stats["wakeups"] == 0
    state = sim.admin.get("/_sim/state", headers=AUTH).json()
    assert (state["token"], state["reply_tokens"]) == ("hf_simtoken", BASE.reply_tokens)  # kept


def test_stats_are_not_counted_for_admin_or_hub_routes(sim: Sim) -> None:
    sim.state()
    sim.admin.get("/api/models/meta-llama/Llama-2-7b-chat-hf")
    assert sim.stats()["requests"] == {}


def test_make_sim_starts_with_its_own_config(make_sim: Any) -> None:
    other = make_sim(state="paused", model_id="org/model", token=None)
    assert other.state()["state"] == "paused"
    response = httpx.get(f"{other.url}/info")
    assert response.status_code == 400


def _cli() -> typer.Typer:
    app = typer.Typer(rich_markup_mode="markdown")
    app.command()(sim_command)
    return app


def test_cli_help_documents_the_admin_routes() -> None:
    result = CliRunner().invoke(_cli(), ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for text in ("/_sim/state", "/_sim/stats", "/_sim/reset", "--cold-start", "--drop-after"):
        assert text in result.output


def test_cli_builds_the_config_and_runs_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(self: uvicorn.Server) -> None:
        seen["port"] = self.config.port
        seen["config"] = self.config.app.state.sim.config

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    args = [
        "--port", "9123", "--token", "hf_x", "--forbidden-token", "hf_ro", "--engine", "vllm",
        "--state", "scaled_to_zero", "--cold-start", "2", "--repository", "--no-chat-template",
        "--drop-after", "3", "--idle-timeout", "60",
    ]  # fmt: skip
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    config: SimConfig = seen["config"]
    assert seen["port"] == 9123
    assert (config.token, config.forbidden_tokens, config.engine) == ("hf_x", ["hf_ro"], "vllm")
    assert (config.state, config.cold_start, config.idle_timeout) == ("scaled_to_zero", 2.0, 60.0)
    assert config.model_id_repository and config.chat_template is None and config.drop_after == 3


def test_cli_refuses_impossible_limits() -> None:
    result = CliRunner().invoke(_cli(), ["--max-input-tokens", "5000"])
    assert result.exit_code != 0
    assert "max_input_tokens" in result.output
