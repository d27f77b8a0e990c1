"""LangChain's ``ChatOpenAI`` through hfgate: a streamed multi-step tool loop with
``bind_tools`` and ``with_structured_output`` in every method it has, against simulated TGI 3.3
and vLLM.

``ChatOpenAI`` is the OpenAI SDK underneath, but it reads the answers its own way: tool-call
chunks merged by ``index`` into ``AIMessageChunk.tool_call_chunks``, the arguments parsed as it
goes (``invalid_tool_calls`` when they do not parse), ``finish_reason`` into
``response_metadata``; streamed ``json_schema`` output goes through the SDK's
``beta.chat.completions.stream``.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from tests.chat.support import Peers
from tests.clients.support import (
    ASK_WEATHER,
    CITY_SCHEMA,
    LC_TOOLS,
    LC_TOOLS_BY_NAME,
    TGI_JSON_OBJECT,
    City,
    chat_model,
    checked,
    engine,
    lc_schema,
    sent,
    sent_all,
    weather,
)


def _streamed(runnable: Any, messages: list[BaseMessage]) -> AIMessageChunk:
    """One streamed turn, its chunks added up as LangChain's agents do."""
    total: AIMessageChunk | None = None
    count = 0
    for chunk in runnable.stream(messages):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
        count += 1
    assert total is not None and count > 1
    return total


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "invoke"])
def test_bind_tools_in_a_multi_step_tool_loop(peers: Peers, stream: bool) -> None:
    llm = chat_model(peers, stream_usage=True).bind_tools(LC_TOOLS)
    messages: list[BaseMessage] = [HumanMessage(ASK_WEATHER)]
    turns: list[AIMessage] = []
    for _ in range(4):
        reply = _streamed(llm, messages) if stream else llm.invoke(messages)
        assert isinstance(reply, AIMessage)
        assert reply.invalid_tool_calls == []
        turns.append(reply)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(
                LC_TOOLS_BY_NAME[call["name"]].invoke(call)
            )  # a ToolMessage with its id

    assert len(turns) == 2, [t.content or t.tool_calls for t in turns]
    first, last = turns
    assert [c["name"] for c in first.tool_calls] == ["get_weather"]
    call = first.tool_calls[0]
    checked(call["args"], lc_schema("get_weather"))
    assert call["id"]
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert isinstance(last.content, str) and last.content
    assert last.response_metadata["finish_reason"] == "stop"
    if stream:
        assert first.usage_metadata is not None and first.usage_metadata["output_tokens"] > 0
    # What the engine got on the second turn: the call and the tool's answer, tied by the id.
    requests = sent_all(peers)
    assert len(requests) == 2
    assert requests[0]["tools"] == [convert_to_openai_tool(t) for t in LC_TOOLS]
    history = requests[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["id"] == call["id"]
    assert history[2]["tool_call_id"] == call["id"]
    assert history[2]["content"] == weather(**call["args"])
    assert all(r.get("stream", False) is stream for r in requests)


# -- with_structured_output -------------------------------------------------------------------


def _expect_engine_got(peers: Peers, method: str) -> None:
    body = sent(peers)
    if method == "function_calling":
        assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}
        assert body["tools"][0]["function"]["name"] == "City"
        return
    response_format = body["response_format"]
    if method == "json_mode":
        expected = TGI_JSON_OBJECT if engine(peers) == "tgi" else {"type": "json_object"}
        assert response_format == expected
    elif engine(peers) == "tgi":
        assert response_format["type"] == "json"
        assert set(response_format["value"]["properties"]) == set(City.model_fields)
    else:
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["name"] == "City"


# Streamed json_schema: LangChain dumps the SDK's ParsedChatCompletion, whose `parsed` field
# pydantic types as None, and pydantic warns; the value is right (asserted below).
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_with_structured_output_gives_a_valid_instance(
    peers: Peers, method: Literal["function_calling", "json_schema"], stream: bool
) -> None:
    structured = chat_model(peers).with_structured_output(City, method=method)
    question = [HumanMessage("Describe Paris.")]
    if stream:
        outputs = list(structured.stream(question))
        assert outputs, "no output streamed"
        result = outputs[-1]
    else:
        result = structured.invoke(question)

    assert isinstance(result, City), result
    checked(result.model_dump(), CITY_SCHEMA)
    _expect_engine_got(peers, method)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_with_structured_output_json_mode_gives_a_json_object(peers: Peers, stream: bool) -> None:
    """``json_mode`` promises a JSON object, not a schema (OpenAI's json_object): a JSON-schema
    dict makes LangChain parse the content as JSON, without validating it."""
    structured = chat_model(peers).with_structured_output(CITY_SCHEMA, method="json_mode")
    question = [HumanMessage("Describe Paris as a JSON object with name, country, population.")]
    if stream:
        outputs = list(structured.stream(question))
        assert outputs, "no output streamed"
        result = outputs[-1]
    else:
        result = structured.invoke(question)

    assert isinstance(result, dict), result
    _expect_engine_got(peers, "json_mode")


def test_with_structured_output_include_raw_keeps_the_message(peers: Peers) -> None:
    structured = chat_model(peers).with_structured_output(
        City, method="function_calling", include_raw=True
    )
    result = structured.invoke([HumanMessage("Describe Paris.")])

    assert isinstance(result, dict)
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], City)
    raw = result["raw"]
    assert isinstance(raw, AIMessage) and raw.tool_calls[0]["name"] == "City"
    assert raw.response_metadata["finish_reason"] == "tool_calls"
