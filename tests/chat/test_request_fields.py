"""What hfgate does with the request fields agents send (issue 14): the translation per engine
(pure), the context policy, capabilities, images, echo and logprobs — over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from hfgate.upstream import openai_compat, tgi
from hfgate.values.request import ChatRequest, parse_chat_request
from tests.chat.support import Peers, chat, chat_tokens

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": SCHEMA},
}


def _request(**body: Any) -> ChatRequest:
    return parse_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]} | body
    )


# -- response_format, per engine (pure) ------------------------------------------------------------

OPENAI_SCHEMA = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}


@pytest.mark.parametrize(
    ("sent", "tgi_gets"),
    [
        ({"type": "json_object"}, {"type": "json", "value": tgi.JSON_OBJECT}),
        (OPENAI_SCHEMA, {"type": "json", "value": SCHEMA}),
        ({"type": "json", "value": SCHEMA}, {"type": "json", "value": SCHEMA}),
        (
            {"type": "json_schema", "value": {"name": "city", "schema": SCHEMA}},
            {"type": "json_schema", "value": {"name": "city", "schema": SCHEMA}},
        ),
        ({"type": "regex", "value": "[0-9]+"}, {"type": "regex", "value": "[0-9]+"}),
    ],
    ids=["json_object", "openai-json_schema", "tgi-json", "tgi-json_schema", "tgi-regex"],
)
def test_response_format_reaches_tgi_in_its_grammar_shape(sent: dict, tgi_gets: dict) -> None:
    body = tgi.messages_body(_request(response_format=sent), None)
    assert body["response_format"] == tgi_gets


def test_text_response_format_sends_no_grammar() -> None:
    assert "response_format" not in tgi.messages_body(_request(response_format={"type": "text"}), 9)


@pytest.mark.parametrize(
    ("sent", "fields"),
    [
        ({"type": "json_object"}, {"response_format": {"type": "json_object"}}),
        (OPENAI_SCHEMA, {"response_format": OPENAI_SCHEMA}),
        (
            {"type": "json", "value": SCHEMA},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": SCHEMA},
                }
            },
        ),
        (
            {"type": "regex", "value": "[0-9]+"},
            {"structured_outputs": {"regex": "[0-9]+"}, "regex": "[0-9]+"},
        ),
        (
            {"type": "json_schema", "value": {"name": "city", "schema": SCHEMA}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "city", "schema": SCHEMA},
                }
            },
        ),
    ],
    ids=["json_object", "openai-json_schema", "tgi-json", "tgi-regex", "tgi-json_schema"],
)
def test_response_format_reaches_vllm_in_openai_shape(sent: dict, fields: dict) -> None:
    body = openai_compat.chat_body(_request(response_format=sent), None, "served")
    assert {key: body[key] for key in fields} == fields


def test_tool_fields_per_engine() -> None:
    request = _request(tools=[WEATHER], tool_prompt="Use a tool.", parallel_tool_calls=False)
    to_tgi = tgi.messages_body(request, None)
    assert to_tgi["tool_prompt"] == "Use a tool." and "parallel_tool_calls" not in to_tgi
    to_vllm = openai_compat.chat_body(request, None, "served")
    assert to_vllm["parallel_tool_calls"] is False and "tool_prompt" not in to_vllm


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"response_format": {"type": "xml"}}, "response_format", "one of"),
        ({"response_format": {"type": "json_schema"}}, "response_format", "schema"),
        ({"response_format": {"type": "regex"}}, "response_format", "needs a value"),
        ({"tools": [{"type": "function"}]}, "tools[0]", "function"),
        ({"tool_prompt": 3}, "tool_prompt", "string"),
        ({"n": 17}, "n", "between 1 and 16"),
    ],
)
def test_malformed_agent_fields_are_named(body: dict, param: str, words: str) -> None:
    with pytest.raises(Exception) as caught:
        _request(**body)
    assert caught.value.param == param  # type: ignore[attr-defined]
    assert words in caught.value.message  # type: ignore[attr-defined]


def test_image_parts_stay_a_list_and_are_counted() -> None:
    request = parse_chat_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, IMAGE]}],
        }
    )
    assert request.images == 1
    assert request.messages[0]["content"][1] == IMAGE
    text_only = _request(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}]}])
    assert text_only.messages[0]["content"] == "a" and text_only.images == 0


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
        {"type": "image_url", "image_url": "https://x/y.png"},
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
    ],
)
def test_bad_content_parts_are_refused_with_where(part: dict) -> None:
    with pytest.raises(Exception) as caught:
        _request(messages=[{"role": "user", "content": [part]}])
    assert "messages[0].content" in caught.value.param  # type: ignore[attr-defined]


# -- over HTTP: the context policy -------------------------------------------------------------------


def _long(peers: Peers) -> list[dict[str, str]]:
    """A conversation longer than a 512-token window: trimming keeps the last turn."""
    messages = []
    for i in range(14):
        messages += [
            {"role": "user", "content": f"Question {i}: " + "tell me more " * 7},
            {"role": "assistant", "content": f"Answer {i}: " + "here is more " * 7},
        ]
    return [*messages, {"role": "user", "content": "And now?"}]


@pytest.fixture(scope="module")
def module_peers(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.chat.support import deployment

    with deployment(
        tmp_path_factory.mktemp("fields") / "home", credential={"context_window": 512}
    ) as peers:
        yield peers


def _integration(peers: Peers) -> str:
    with peers.client() as client:
        return client.get("/api/integrations").json()["data"][0]["id"]


def _patch(peers: Peers, **changes: Any) -> httpx.Response:
    with peers.client() as client:
        return client.patch(f"/api/integrations/{_integration(peers)}", json=changes)


def _key(peers: Peers, **spec: Any) -> str:
    with peers.client() as client:
        answer = client.post("/api/keys", json={"name": "agent", **spec})
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def test_an_api_key_is_strict_by_default_and_the_error_says_how_to_trim(peers: Peers) -> None:
    messages = _long(peers)
    assert chat_tokens(messages) > 512
    with peers.client() as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=20)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "X-Hfgate-Context: trim" in error["message"]
    assert peers.sim.recorder.generation_calls() == []


def test_the_openai_sdk_sees_context_length_exceeded(peers: Peers) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        peers.openai().chat.completions.create(model=peers.model, messages=_long(peers))
    assert caught.value.code == "context_length_exceeded"


def test_a_key_created_with_trim_trims(peers: Peers) -> None:
    key = _key(peers, context_policy="trim")
    with peers.client(key=key) as client:
        answer = chat(client, peers.model, messages=_long(peers), max_tokens=20)
        keys = peers.client().get("/api/keys").json()["data"]
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["x-hfgate-trimmed-messages"]) > 0
    assert {k["name"]: k["context_policy"] for k in keys}["agent"] == "trim"


def test_the_header_overrides_the_key(peers: Peers) -> None:
    key = _key(peers, context_policy="trim")
    with peers.client(key=key) as client:
        answer = chat(
            client, peers.model, messages=_long(peers), headers={"X-Hfgate-Context": "strict"}
        )
    assert answer.json()["error"]["code"] == "context_length_exceeded"


def test_a_model_set_to_trim_trims_for_keys_without_a_choice(peers: Peers) -> None:
    assert _patch(peers, context_policy="trim").status_code == 200
    try:
        with peers.client() as client:
            answer = chat(client, peers.model, messages=_long(peers), max_tokens=20)
        assert answer.status_code == 200, answer.text
    finally:
        _patch(peers, context_policy=None)


@pytest.mark.parametrize(
    ("where", "send"),
    [("header", {"headers": {"X-Hfgate-Context": "shrink"}}), ("key", {"context_policy": "maybe"})],
)
def test_an_unknown_policy_is_refused_by_name(peers: Peers, where: str, send: dict) -> None:
    with peers.client() as client:
        if where == "header":
            answer = chat(client, peers.model, **send)
        else:
            answer = client.post("/api/keys", json={"name": "x", **send})
    assert answer.status_code == 400
    assert "trim or strict" in answer.json()["error"]["message"]


# -- over HTTP: capabilities, images, tools on /generate ------------------------------------------------


def test_models_list_their_capabilities_and_context_length(peers: Peers) -> None:
    entry = peers.openai().models.retrieve(peers.model).model_dump()
    assert entry["capabilities"] == {"vision": False, "tools": True, "json_schema": True}
    assert entry["context_length"] == 512


def test_an_image_for_a_text_model_is_refused_before_any_call(peers: Peers) -> None:
    content = [{"type": "text", "text": "what is this?"}, IMAGE]
    with pytest.raises(openai.BadRequestError) as caught:
        peers.openai().chat.completions.create(
            model=peers.model, messages=[{"role": "user", "content": content}]
        )
    assert caught.value.code == "images_not_supported"
    assert "does not take images" in caught.value.message
    assert peers.sim.recorder.generation_calls() == []


def test_an_admin_can_mark_a_model_as_taking_images(peers: Peers) -> None:
    answer = _patch(peers, capabilities={"vision": True})
    assert answer.status_code == 200, answer.text
    try:
        assert answer.json()["integration"]["capabilities"]["vision"] is True
        entry = peers.openai().models.retrieve(peers.model).model_dump()
        assert entry["capabilities"]["vision"] is True
        content = [{"type": "text", "text": "what is this?"}, IMAGE]
        with peers.client() as client:
            chat(client, peers.model, messages=[{"role": "user", "content": content}])
        assert peers.sim.last_request()["messages"][0]["content"][1] == IMAGE
    finally:
        _patch(peers, capabilities=None)
    assert (
        peers.openai().models.retrieve(peers.model).model_dump()["capabilities"]["vision"] is False
    )


@pytest.mark.parametrize(
    "value", [{"sight": True}, {"vision": "yes"}, ["vision"]], ids=["unknown", "not-bool", "list"]
)
def test_bad_capability_overrides_are_refused(peers: Peers, value: Any) -> None:
    answer = _patch(peers, capabilities=value)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "capabilities"


# -- over HTTP: /v1/completions echo and logprobs on TGI ---------------------------------------------------


def test_completion_echo_repeats_the_prompt(peers: Peers) -> None:
    client = peers.openai()
    plain = client.completions.create(model=peers.model, prompt="Once upon", max_tokens=5, seed=1)
    echoed = client.completions.create(
        model=peers.model, prompt="Once upon", max_tokens=5, seed=1, echo=True
    )
    assert echoed.choices[0].text == "Once upon" + plain.choices[0].text
    streamed = client.completions.create(
        model=peers.model, prompt="Once upon", max_tokens=5, seed=1, echo=True, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in streamed) == echoed.choices[0].text


def test_completion_logprobs_come_from_tgi_details(peers: Peers) -> None:
    client = peers.openai()
    answer = client.completions.create(
        model=peers.model, prompt="Once upon", max_tokens=4, logprobs=2, seed=3
    )
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None
    assert "".join(logprobs.tokens or []) == answer.choices[0].text
    assert len(logprobs.token_logprobs or []) == 4
    assert all(len(top) <= 2 for top in logprobs.top_logprobs or [])
    assert peers.sim.last_request()["parameters"]["top_n_tokens"] == 2
    streamed = client.completions.create(
        model=peers.model, prompt="Once upon", max_tokens=4, logprobs=2, seed=3, stream=True
    )
    pieces = [chunk.choices[0].logprobs for chunk in streamed if chunk.choices]
    tokens = [t for piece in pieces if piece is not None for t in piece.tokens or []]
    assert tokens == logprobs.tokens


def test_no_logprobs_unless_asked(peers: Peers) -> None:
    answer = peers.openai().completions.create(model=peers.model, prompt="Once", max_tokens=3)
    assert answer.choices[0].logprobs is None
    assert "top_n_tokens" not in peers.sim.last_request()["parameters"]


# -- a streamed tool call that ends without a finish_reason (TGI ≥ 3.2) ------------------------------


def test_a_streamed_tool_call_without_finish_reason_ends_as_tool_calls() -> None:
    from hfgate.chat.lifecycle import Tally
    from hfgate.chat.service import _Reader
    from hfgate.upstream.base import Delta
    from hfgate.values.events import Done, ToolCallDelta, Usage

    reader, tally = _Reader([]), Tally(Usage())
    call = [
        {"index": 0, "id": "0", "type": "function", "function": {"name": "f", "arguments": "{"}}
    ]
    events = reader.events([Delta(tool_calls=call), Delta(usage=Usage(5, 3))], tally)
    assert isinstance(events[0], ToolCallDelta)
    end = reader.end(tally)
    assert isinstance(end[0], Done) and end[0].finish_reason == "tool_calls"
    assert end[1] == Usage(5, 3)


def test_a_text_stream_without_finish_reason_is_still_an_error() -> None:
    from hfgate.chat.lifecycle import Tally
    from hfgate.chat.service import _Reader
    from hfgate.errors import UpstreamProtocolError
    from hfgate.upstream.base import Delta
    from hfgate.values.events import Usage

    reader, tally = _Reader([]), Tally(Usage())
    reader.events([Delta(text="half an ans")], tally)
    with pytest.raises(UpstreamProtocolError):
        reader.end(tally)


def test_vllm_gets_echo_and_logprobs_as_sent() -> None:
    from hfgate.values.request import parse_completion_request

    request = parse_completion_request({"model": "m", "prompt": "p", "echo": True, "logprobs": 3})
    body = openai_compat.completion_body(request, 5, "served")
    assert body["echo"] is True and body["logprobs"] == 3


def test_streamed_tool_call_chunks_say_content_null_and_end_with_tool_calls(peers: Peers) -> None:
    from tests.chat.support import sse_payloads

    with peers.client() as client:
        answer = chat(client, peers.model, "weather in Paris?", tools=[WEATHER], stream=True)
    chunks = [c for c in sse_payloads(answer.text) if isinstance(c, dict) and c.get("choices")]
    calls = [c["choices"][0]["delta"] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls and all(delta["content"] is None for delta in calls)
    reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]]
    assert reasons == ["tool_calls"]
