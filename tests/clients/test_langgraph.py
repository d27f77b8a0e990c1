"""LangGraph's prebuilt ReAct agent, driving ``ChatOpenAI`` through hfgate: the model calls
the tool, the graph runs it, the model answers — against simulated TGI 3.3 and vLLM."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from tests.chat.support import Peers
from tests.clients.support import ASK_WEATHER, LC_TOOLS, chat_model, checked, lc_schema, sent_all

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


def _agent(peers: Peers) -> Any:
    with warnings.catch_warnings():
        # langgraph 1.x points to langchain.agents.create_agent (another package); the
        # prebuilt agent is still the one LangGraph ships.
        warnings.simplefilter("ignore")
        return create_react_agent(chat_model(peers), LC_TOOLS)


def _check_run(peers: Peers, messages: list[Any]) -> None:
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"], kinds
    _, called, result, answer = messages
    assert [c["name"] for c in called.tool_calls] == ["get_weather"]
    args = checked(called.tool_calls[0]["args"], lc_schema("get_weather"))
    assert isinstance(result, ToolMessage) and result.status == "success"
    assert result.tool_call_id == called.tool_calls[0]["id"]
    assert json.loads(str(result.content))["city"] == args["city"]
    assert isinstance(answer, AIMessage) and answer.content and not answer.tool_calls
    requests = sent_all(peers)
    assert len(requests) == 2
    assert [m["role"] for m in requests[1]["messages"]] == ["user", "assistant", "tool"]


def test_react_agent_calls_the_tool_and_answers(peers: Peers) -> None:
    state = _agent(peers).invoke({"messages": [HumanMessage(ASK_WEATHER)]})

    _check_run(peers, state["messages"])
    assert state["messages"][1].response_metadata["finish_reason"] == "tool_calls"


def test_react_agent_streams_tokens_and_tool_calls(peers: Peers) -> None:
    agent = _agent(peers)
    chunks: list[AIMessageChunk] = []
    final: dict[str, Any] = {}
    for mode, data in agent.stream(
        {"messages": [HumanMessage(ASK_WEATHER)]}, stream_mode=["messages", "values"]
    ):
        if mode == "messages":
            message, _metadata = data
            if isinstance(message, AIMessageChunk):
                chunks.append(message)
        else:
            final = data

    _check_run(peers, final["messages"])
    assert all(r["stream"] is True for r in sent_all(peers)), "the agent streamed each turn"
    streamed_calls = [c for chunk in chunks for c in chunk.tool_call_chunks]
    assert streamed_calls, "the tool call arrived as streamed chunks"
    text = "".join(str(c.content) for c in chunks)
    assert final["messages"][-1].content in text


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield
