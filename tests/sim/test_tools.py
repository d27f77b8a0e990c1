"""Tool calls: TGI 3.3's shapes (``tools.py``) and vLLM's (``vllm_tools.py``), and the
ecosystem's clients driving a tool loop against the simulator.

The simulated model's rule under ``auto``: after a ``role: "tool"`` message it answers in text;
otherwise it calls the tool the last user message names, else the first tool.
"""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest
import text_generation
from huggingface_hub import InferenceClient

from hfgate.sim import generation, schemagen, tokenizer, tools
from tests.sim.support import (
    AUTH,
    TIME,
    TOKEN,
    TOOLS,
    WEATHER,
    WEATHER_SCHEMA,
    Sim,
    chat_post,
    sse_json,
    valid_arguments,
)

ASK_TIME = "What time is it in Tokyo? Use get_time."
ASK_BOTH = "Use get_weather for Paris and get_time for Tokyo."
USER = [{"role": "user", "content": ASK_TIME}]
WEATHER_ARGS = schemagen.instance(WEATHER_SCHEMA)


def rendered(user: str, tail: str) -> str:
    """The ChatML prompt of one user message with ``tail`` appended (the tool text)."""
    return f"<|im_start|>user\n{user}{tail}<|im_end|>\n<|im_start|>assistant\n"


def tool_text(offered: list[dict[str, Any]], prompt: str = tools.DEFAULT_TOOL_PROMPT) -> str:
    return f"\n---\n{tools.compact(tools.serialized(offered))}\n{prompt}"


def history(call_id: str = "0") -> list[dict[str, Any]]:
    """USER, the assistant's call of get_time, and the tool's answer."""
    call = {"name": "get_time", "arguments": '{"timezone": "Asia/Tokyo"}'}
    return [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": call}
        ]},
        {"role": "tool", "tool_call_id": call_id, "content": "12:00"},
    ]  # fmt: skip


# -- TGI, not streamed ---------------------------------------------------------------------------


def test_tgi_tool_call_is_tgis_exact_shape(sim: Sim) -> None:
    result = chat_post(sim, messages=USER, tools=TOOLS).json()
    choice = result["choices"][0]
    assert choice["finish_reason"] == "stop"  # TGI does not say "tool_calls"
    message = choice["message"]
    assert list(message) == ["role", "tool_calls"]  # no content key at all
    (call,) = message["tool_calls"]
    assert call["id"] == "0" and call["type"] == "function"
    assert call["function"]["description"] is None and call["function"]["name"] == "get_time"
    args = valid_arguments("get_time", call["function"]["arguments"])
    assert call["function"]["arguments"] == json.dumps(args, separators=(",", ":"))
    script = tools.script(TIME)
    assert json.loads(script) == {"function": {"_name": "get_time", **args}}
    generated = len(generation.PIECES.findall(script)) + 1  # the JSON, then EOS
    prompt = tokenizer.count(rendered(ASK_TIME, tool_text([*TOOLS, tools.NO_TOOL])))
    assert result["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
    }


def test_tgi_tool_prompt_is_appended_and_counted(sim: Sim) -> None:
    with sim.client() as client:
        default = client.post("/chat_tokenize", json={"messages": USER, "tools": [WEATHER]})
        custom = client.post(
            "/chat_tokenize", json={"messages": USER, "tools": [WEATHER], "tool_prompt": "Go."}
        )
    offered = [WEATHER, tools.NO_TOOL]
    assert default.json()["templated_text"] == rendered(ASK_TIME, tool_text(offered))
    assert custom.json()["templated_text"] == rendered(ASK_TIME, tool_text(offered, "Go."))
    assert '"arguments":"{\\"type\\":\\"object\\",' in default.json()["templated_text"]
    result = chat_post(sim, messages=USER, tools=[WEATHER], tool_prompt="Go.").json()
    assert result["usage"]["prompt_tokens"] == len(custom.json()["tokenize_response"])
    plain = chat_post(sim, messages=USER).json()["usage"]["prompt_tokens"]
    assert result["usage"]["prompt_tokens"] > plain


def test_tgi_template_that_reads_tools_gets_only_the_tool_prompt(sim: Sim) -> None:
    template = (
        "{% if tools %}TOOLS {{ tools | map(attribute='function') | map(attribute='name')"
        " | join(',') }}\n{% endif %}{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    )
    sim.patch(chat_template=template)
    with sim.client() as client:
        named = {"type": "function", "function": {"name": "get_weather"}}
        body = {"messages": USER, "tools": TOOLS, "tool_choice": named}
        text = client.post("/chat_tokenize", json=body).json()["templated_text"]
    # Only the named tool is offered (no no_tool), and its JSON is left to the template.
    assert text == f"TOOLS get_weather\n{ASK_TIME}\n---\n{tools.DEFAULT_TOOL_PROMPT}\n"


@pytest.mark.parametrize(
    ("user", "expected"),
    [(ASK_TIME, "get_time"), ("What is the weather?", "get_weather"), (ASK_BOTH, "get_weather")],
)
def test_tgi_auto_calls_the_named_tool_else_the_first(sim: Sim, user: str, expected: str) -> None:
    message = chat_post(sim, messages=[{"role": "user", "content": user}], tools=TOOLS).json()
    (call,) = message["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == expected
    valid_arguments(expected, call["function"]["arguments"])


def test_tgi_after_a_tool_result_auto_answers_in_text(sim: Sim) -> None:
    messages = history()
    result = chat_post(sim, messages=messages, tools=TOOLS).json()
    message = result["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"] and "tool_calls" not in message
    assert result["choices"][0]["finish_reason"] == "stop"
    # no_tool: TGI generated again without tools; usage is the second generation's.
    with sim.client() as client:
        plain = client.post("/chat_tokenize", json={"messages": messages}).json()
        offered = client.post("/chat_tokenize", json={"messages": messages, "tools": TOOLS})
    assert result["usage"]["prompt_tokens"] == len(plain["tokenize_response"])
    assert "\n---\n" in offered.json()["templated_text"]  # the first generation's prompt


def test_tgi_history_tool_calls_are_serialized_as_tgi_does(sim: Sim) -> None:
    with sim.client() as client:
        text = client.post("/chat_tokenize", json={"messages": history()}).json()["templated_text"]
    expected = json.dumps(
        [{"id": "0", "type": "function", "function": {
            "description": None, "name": "get_time",
            "arguments": json.dumps('{"timezone": "Asia/Tokyo"}'),
        }}],
        separators=(",", ":"),
    )  # fmt: skip
    assert f"<|im_start|>assistant\n{expected}<|im_end|>" in text  # arguments quoted twice


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("required", "get_weather"), ("get_time", "get_time"),
     ({"type": "function", "function": {"name": "get_time"}}, "get_time")],
)  # fmt: skip
def test_tgi_required_and_named_always_call(sim: Sim, choice: Any, expected: str) -> None:
    messages = [*history()[:-1], {"role": "tool", "content": "12:00"}]  # even after a result
    messages[0] = {"role": "user", "content": "Hello!"}
    result = chat_post(sim, messages=messages, tools=TOOLS, tool_choice=choice).json()
    (call,) = result["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == expected


def test_tgi_tool_choice_none_is_plain_text_without_tools(sim: Sim) -> None:
    result = chat_post(sim, messages=USER, tools=TOOLS, tool_choice="none").json()
    assert result["choices"][0]["message"]["content"]
    plain = chat_post(sim, messages=USER).json()
    assert result["usage"] == plain["usage"]  # the prompt holds no tools either


def test_tgi_tool_errors(sim: Sim) -> None:
    for stream in (False, True):  # before the stream: HTTP 422 JSON
        response = chat_post(sim, messages=USER, tools=TOOLS, tool_choice="nope", stream=stream)
        assert response.status_code == 422
        assert response.json() == {
            "error": "Tool error: Tool with name nope not found",
            "error_type": "tool_error",
        }
    both = chat_post(sim, messages=USER, tools=[], response_format={"type": "regex", "value": "a"})
    assert both.json()["error"] == "Tool error: Grammar and tools are mutually exclusive"
    cut = chat_post(sim, messages=USER, tools=TOOLS, max_tokens=5)
    assert cut.status_code == 422 and cut.json()["error_type"] == "tool_error"
    assert cut.json()["error"].startswith("Tool error: Failed to parse generated text: ")
    assert sim.stats()["failures"]["tool_error"] == 4


def test_tgi_tool_shapes_are_serde_rejections(sim: Sim) -> None:
    bare = {"type": "function", "function": {"name": "f"}}  # OpenAI allows it; TGI does not
    response = chat_post(sim, messages=USER, tools=[bare])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == (
        "Failed to deserialize the JSON body into the target type: "
        "tools[0].function: missing field `arguments`"
    )
    odd = chat_post(sim, messages=USER, tools=TOOLS, tool_choice={"type": "function"})
    assert odd.status_code == 422
    assert "untagged enum ToolTypeDeserializer" in odd.text
    aliased = {"type": "function", "function": {"name": "f", "arguments": {"type": "object"}}}
    assert chat_post(sim, messages=USER, tools=[aliased]).status_code == 200


# -- TGI, streamed -------------------------------------------------------------------------------


def tool_chunks(events: list[Any]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict) and e["choices"]]


def test_tgi_streamed_tool_call(sim: Sim) -> None:
    body = {"messages": USER, "tools": TOOLS, "stream": True}
    events = sse_json(chat_post(sim, **body, stream_options={"include_usage": True}).text)
    assert events[-1] == "[DONE]" and events[-2]["choices"] == []
    chunks = tool_chunks(events)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks]
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)  # TGI's quirk
    assert calls[0]["function"] == {"name": "get_time", "arguments": "{"}
    assert all(c["function"]["name"] is None for c in calls[1:])
    assert {(c["index"], c["id"], c["type"]) for c in calls} == {(0, "0", "function")}
    arguments = "".join(c["function"]["arguments"] for c in calls)
    whole = chat_post(sim, messages=USER, tools=TOOLS).json()
    expected = whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == json.loads(expected)
    assert events[-2]["usage"] == whole["usage"]


@pytest.mark.parametrize(("ids", "expected"), [([], "0"), (["0", "3"], "4"), (["call_x"], None)])
def test_tgi_stream_call_id_follows_the_history(sim: Sim, ids: list[str], expected: str) -> None:
    calls = [
        {"id": i, "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        for i in ids
    ]
    messages = [*USER, {"role": "assistant", "tool_calls": calls}, *USER] if ids else USER
    events = sse_json(chat_post(sim, messages=messages, tools=TOOLS, stream=True).text)
    found = {c["choices"][0]["delta"]["tool_calls"][0]["id"] for c in tool_chunks(events)}
    (call_id,) = found
    if expected is None:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", call_id
        )
    else:
        assert call_id == expected


def test_tgi_stream_after_a_tool_result_is_text(sim: Sim) -> None:
    events = sse_json(chat_post(sim, messages=history(), tools=TOOLS, stream=True).text)
    chunks = tool_chunks(events)
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert (
        text
        == chat_post(sim, messages=history(), tools=TOOLS).json()["choices"][0]["message"][
            "content"
        ]
    )


def test_tgi_stream_cut_short_ends_with_length(sim: Sim) -> None:
    events = sse_json(chat_post(sim, messages=USER, tools=TOOLS, stream=True, max_tokens=12).text)
    chunks = tool_chunks(events)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert events[-1] == "[DONE]"


def test_tgi_stream_of_an_argument_less_function(sim: Sim) -> None:
    ping = {"type": "function", "function": {"name": "ping", "arguments": {
        "type": "object", "properties": {}, "additionalProperties": False,
    }}}  # fmt: skip
    events = sse_json(chat_post(sim, messages=USER, tools=[ping], stream=True).text)
    first, last = tool_chunks(events)
    assert first["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "{"
    # TGI sends EOS of an argument-less call as an empty text delta, with the finish reason.
    assert last["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert last["choices"][0]["finish_reason"] == "stop"


# -- vLLM ----------------------------------------------------------------------------------------

TOOL_ID = re.compile(r"chatcmpl-tool-[0-9a-f]{32}")


def test_vllm_auto_tool_call(sim: Sim) -> None:
    sim.patch(engine="vllm")
    result = chat_post(sim, messages=USER, tools=TOOLS).json()
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert TOOL_ID.fullmatch(call["id"]) and call["type"] == "function"
    args = valid_arguments("get_time", call["function"]["arguments"])
    assert call["function"]["arguments"] == json.dumps(args)  # Python's separators
    raw = f"<tool_call>\n{json.dumps({'name': 'get_time', 'arguments': args})}\n</tool_call>"
    assert result["usage"]["completion_tokens"] == len(generation.PIECES.findall(raw)) + 1


@pytest.mark.parametrize(("parallel", "count"), [(None, 2), (True, 2), (False, 1)])
def test_vllm_parallel_calls(sim: Sim, parallel: bool | None, count: int) -> None:
    sim.patch(engine="vllm")
    body: dict[str, Any] = {"messages": [{"role": "user", "content": ASK_BOTH}], "tools": TOOLS}
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    calls = chat_post(sim, **body).json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"][:count]
    assert len({c["id"] for c in calls}) == count


def test_vllm_streamed_parallel_calls(sim: Sim) -> None:
    sim.patch(engine="vllm")
    body = {"messages": [{"role": "user", "content": ASK_BOTH}], "tools": TOOLS, "stream": True}
    events = sse_json(chat_post(sim, **body, stream_options={"include_usage": True}).text)
    assert events[-1] == "[DONE]" and events[-2]["choices"] == []
    chunks = [e["choices"][0] for e in events[:-2]]
    assert chunks[0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls",
        "stop_reason": None,
    }  # fmt: skip
    assert all(c["finish_reason"] is None for c in chunks[:-1])
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    for chunk in chunks[1:-1]:
        (call,) = chunk["delta"]["tool_calls"]
        if "id" in call:  # a header: id, type, name
            assert TOOL_ID.fullmatch(call["id"]) and call["type"] == "function"
            names[call["index"]] = call["function"]["name"]
            assert "arguments" not in call["function"]
        else:
            assert set(call) == {"index", "function"}
            arguments[call["index"]] = (
                arguments.get(call["index"], "") + call["function"]["arguments"]
            )
    assert names == {0: "get_weather", 1: "get_time"}
    for index, name in names.items():
        valid_arguments(name, arguments[index])


def test_vllm_named_and_required(sim: Sim) -> None:
    sim.patch(engine="vllm")
    named = {"type": "function", "function": {"name": "get_weather"}}
    result = chat_post(sim, messages=USER, tools=TOOLS, tool_choice=named).json()
    choice = result["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == ""
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["get_weather"]
    required = chat_post(sim, messages=history(), tools=TOOLS, tool_choice="required").json()
    assert required["choices"][0]["message"]["tool_calls"]  # even after a tool result
    events = sse_json(
        chat_post(sim, messages=USER, tools=TOOLS, tool_choice=named, stream=True).text
    )
    first = events[1]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"]["name"] == "get_weather" and first["function"]["arguments"]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_vllm_text_after_a_tool_result_and_with_none(sim: Sim) -> None:
    sim.patch(engine="vllm")
    for body in ({"messages": history()}, {"messages": USER, "tool_choice": "none"}):
        result = chat_post(sim, tools=TOOLS, **body).json()
        assert result["choices"][0]["message"]["tool_calls"] == []
        assert result["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tools": TOOLS}, "auto"),
        ({"tools": TOOLS, "tool_choice": "auto"}, "auto"),
        ({"tool_choice": "required"}, "When using `tool_choice`, `tools` must be set."),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}}},
         "The tool specified in `tool_choice` does not match any of the specified `tools`"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "Invalid value for `tool_choice`"),
    ],
)  # fmt: skip
def test_vllm_tool_refusals(sim: Sim, body: dict[str, Any], message: str) -> None:
    sim.patch(engine="vllm", vllm_auto_tool_choice=False)
    response = chat_post(sim, messages=USER, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400
    if message == "auto":
        message = (
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        )
        assert error["message"] == message
    assert message in error["message"]


def test_vllm_without_auto_tool_choice_still_takes_required_and_named(sim: Sim) -> None:
    sim.patch(engine="vllm", vllm_auto_tool_choice=False)
    required = chat_post(sim, messages=USER, tools=TOOLS, tool_choice="required")
    assert required.status_code == 200 and required.json()["choices"][0]["message"]["tool_calls"]
    assert chat_post(sim, messages=USER, tools=TOOLS, tool_choice="none").status_code == 200


# -- the ecosystem's clients ---------------------------------------------------------------------


def hub_client(sim: Sim) -> InferenceClient:
    return InferenceClient(base_url=sim.url, api_key=TOKEN, provider="hf-inference")


def test_inference_client_tool_loop(sim: Sim) -> None:
    client = hub_client(sim)
    output = client.chat_completion(USER, tools=TOOLS)
    call = output.choices[0].message.tool_calls[0]
    assert call.id == "0" and call.function.name == "get_time"
    valid_arguments("get_time", call.function.arguments)
    chunks = list(client.chat_completion(USER, tools=TOOLS, stream=True))
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices[0].delta.tool_calls]
    assert deltas[0].function.name == "get_time"
    valid_arguments("get_time", "".join(d.function.arguments for d in deltas))
    answer = client.chat_completion(history(), tools=TOOLS)
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls


def test_text_generation_client_chat_with_tools(sim: Sim) -> None:
    client = text_generation.Client(sim.url, headers=AUTH)
    response = client.chat(messages=[text_generation.types.Message(**USER[0])], tools=TOOLS)
    calls = response.choices[0].message.tool_calls
    assert calls[0]["function"]["name"] == "get_time"
    valid_arguments("get_time", calls[0]["function"]["arguments"])
    assert response.choices[0].message.content is None


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_openai_sdk_tool_loop(sim: Sim, engine: str) -> None:
    sim.patch(engine=engine)
    client = openai.OpenAI(base_url=f"{sim.url}/v1", api_key=TOKEN, max_retries=0)
    model = "tgi" if engine == "tgi" else sim.state()["model_id"]
    reply = client.chat.completions.create(model=model, messages=USER, tools=TOOLS)
    (call,) = reply.choices[0].message.tool_calls or []
    args = valid_arguments("get_time", call.function.arguments)
    with client.chat.completions.stream(model=model, messages=USER, tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    (streamed,) = final.choices[0].message.tool_calls or []
    assert streamed.function.name == "get_time"
    assert json.loads(streamed.function.arguments) == args
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    if engine == "tgi":  # no finish_reason ever comes, so the SDK never calls the call done
        assert done == [] and final.choices[0].finish_reason is None
    else:
        assert len(done) == 1 and json.loads(done[0].arguments) == args
        assert final.choices[0].finish_reason == "tool_calls"
    loop: list[Any] = [*USER, reply.choices[0].message.model_dump(exclude_none=True)]
    loop.append({"role": "tool", "tool_call_id": call.id, "content": "12:00"})
    answer = client.chat.completions.create(model=model, messages=loop, tools=TOOLS)
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
    assert answer.choices[0].finish_reason == "stop"
