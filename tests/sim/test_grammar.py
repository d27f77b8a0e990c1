"""Grammar-constrained output: ``response_format`` in TGI's shapes and vLLM's, the schema-instance
and regex generators behind it, and the OpenAI SDK's structured output against the simulator."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from hfgate.sim import generation, regexgen, schemagen
from tests.sim.support import TOKEN, Sim, chat_post, sse_json

USER = [{"role": "user", "content": "Describe Paris."}]
CITY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "country": {"type": "string"},
        "population": {"type": "integer", "minimum": 1000},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "minItems": 2},
    },
    "required": ["name", "country", "population"],
    "additionalProperties": False,
}
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


class Place(BaseModel):
    name: str
    country: str | None = None
    kind: str
    population: int


def content(response: Any) -> str:
    assert response.status_code == 200, response.text
    text = response.json()["choices"][0]["message"]["content"]
    assert isinstance(text, str)
    return text


# -- the generators ------------------------------------------------------------------------------

SCHEMAS: list[Any] = [
    CITY,
    {"type": "object"},
    {"type": "object", "properties": {}},
    {"type": "object", "additionalProperties": False},
    Place.model_json_schema(),
    {"type": ["string", "null"], "minLength": 12, "maxLength": 12},
    {"type": "number", "exclusiveMinimum": 5, "exclusiveMaximum": 6},
    {"type": "integer", "multipleOf": 7, "minimum": 10},
    {"type": "array", "prefixItems": [{"const": 1}, {"type": "boolean"}], "items": False},
    {"enum": ["red", "green"]},
    {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
    {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"properties": {"b": {"type": "string", "pattern": "^[A-Z]{3}$"}},
                "required": ["b"]}]},
    {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
     "$ref": "#/$defs/node"},
    {"type": "object", "required": ["x"], "additionalProperties": {"type": "integer"},
     "minProperties": 3},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_schema_instances_validate(schema: Any) -> None:
    value = schemagen.instance(schema)
    jsonschema.validate(value, schema)
    assert schemagen.instance(schema) == value  # deterministic


def test_object_alone_is_a_non_empty_object() -> None:
    assert schemagen.instance({"type": "object"}) and isinstance(
        schemagen.instance({"type": "object"}), dict
    )


def test_schema_errors() -> None:
    for schema in ({"$ref": "#/$defs/missing"}, {"type": "integer", "minimum": 3, "maximum": 2}):
        with pytest.raises(schemagen.SchemaError):
            schemagen.instance(schema)


@pytest.mark.parametrize(
    "pattern",
    [r"\d{3}-\d{4}", "(yes|no)", r"[A-Z][a-z]+ \w+", r"-?\d+(\.\d+)?", "[^a-z]{2}",
     r"\{\"a\": \d\}", "a{2,}b*c?", "(?:ab)+", "(?P<x>q)", r"^\S+@\S+\.com$", ".{5}",
     "[]a]", r"\bword\b", "x{0}y"],
)  # fmt: skip
def test_regex_samples_match(pattern: str) -> None:
    assert re.fullmatch(pattern, regexgen.sample(pattern))


@pytest.mark.parametrize("pattern", ["(?=a)a", r"(a)\1", "(?i)a", "a)", "[a"])
def test_regex_limits(pattern: str) -> None:
    with pytest.raises(regexgen.RegexUnsupported):
        regexgen.sample(pattern)


# -- TGI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json", "value": CITY},
        {"type": "json_object", "value": CITY},  # serde alias of json
        {"type": "json", "value": json.dumps(CITY)},  # a string is parsed again
        {"type": "json_schema", "value": {"name": "city", "schema": CITY, "strict": True}},
    ],
    ids=["json", "json_object", "string", "json_schema"],
)
def test_tgi_json_grammar(sim: Sim, fmt: dict[str, Any]) -> None:
    response = chat_post(sim, messages=USER, response_format=fmt)
    text = content(response)
    jsonschema.validate(json.loads(text), CITY)
    assert text == json.dumps(schemagen.instance(CITY))
    usage = response.json()["usage"]
    assert usage["completion_tokens"] == len(generation.PIECES.findall(text)) + 1
    assert response.json()["choices"][0]["finish_reason"] == "stop"
    events = sse_json(chat_post(sim, messages=USER, response_format=fmt, stream=True).text)
    streamed = "".join(e["choices"][0]["delta"]["content"] for e in events[:-1])
    assert streamed == text


def test_tgi_regex_grammar(sim: Sim) -> None:
    fmt = {"type": "regex", "value": r"(Paris|Lyon), [A-Z]{2} \d{5}"}
    text = content(chat_post(sim, messages=USER, response_format=fmt))
    assert re.fullmatch(fmt["value"], text)


def test_tgi_grammar_cut_by_max_tokens(sim: Sim) -> None:
    response = chat_post(sim, messages=USER, response_format={"type": "json", "value": CITY},
                         max_tokens=3)  # fmt: skip
    assert response.json()["choices"][0]["finish_reason"] == "length"
    assert content(response) == "".join(
        generation.PIECES.findall(json.dumps(schemagen.instance(CITY)))[:3]
    )


@pytest.mark.parametrize(
    ("fmt", "detail"),
    [
        ({"type": "json_schema", "json_schema": {"name": "c", "schema": CITY}},
         "response_format: missing field `value`"),
        ({"type": "json_object"}, "response_format: missing field `value`"),
        ({"type": "text"}, "response_format: unknown variant `text`, expected one of "
                           "`json`, `json_object`, `regex`, `json_schema`"),
        ({"value": CITY}, "response_format: missing field `type`"),
        ({"type": "regex", "value": {"a": 1}}, "response_format: invalid type: map, expected a string"),
        ({"type": "json_schema", "value": {"name": "c"}}, "response_format: missing field `schema`"),
    ],
)  # fmt: skip
def test_tgi_openai_shapes_are_serde_rejections(sim: Sim, fmt: Any, detail: str) -> None:
    for stream in (False, True):
        response = chat_post(sim, messages=USER, response_format=fmt, stream=stream)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == DESERIALIZE + detail


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"type": "object"}, "grammar is not valid: Grammar must have a 'properties' field"),
        (42, "grammar is not supported"),
        ("{not json", "grammar is not valid: "),
    ],
)
def test_tgi_grammar_validation(sim: Sim, value: Any, error: str) -> None:
    fmt = {"type": "json", "value": value}
    response = chat_post(sim, messages=USER, response_format=fmt)
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation"
    assert response.json()["error"].startswith(f"Input validation error: {error}")
    events = sse_json(chat_post(sim, messages=USER, response_format=fmt, stream=True).text)
    assert events[0]["error"]["message"].startswith(f"Input validation error: {error}")
    assert events[-1] == "[DONE]"


def test_tgi_before_2_3_takes_a_schema_without_properties(sim: Sim) -> None:
    sim.patch(tgi_version="2.2.0")
    text = content(
        chat_post(sim, messages=USER, response_format={"type": "json", "value": {"type": "object"}})
    )
    assert isinstance(json.loads(text), dict) and json.loads(text)
    sim.patch(tgi_version="3.3.6-dev0")
    fmt = {"type": "json", "value": {"type": "object", "properties": {}}}
    assert isinstance(json.loads(content(chat_post(sim, messages=USER, response_format=fmt))), dict)


def test_tgi_regex_the_sim_cannot_follow_is_a_validation_error(sim: Sim) -> None:
    response = chat_post(sim, messages=USER, response_format={"type": "regex", "value": "(?=a)b"})
    assert response.status_code == 422
    assert "the simulator cannot follow this regex" in response.json()["error"]


# -- vLLM ----------------------------------------------------------------------------------------


def test_vllm_response_formats(sim: Sim) -> None:
    sim.patch(engine="vllm")
    obj = json.loads(
        content(chat_post(sim, messages=USER, response_format={"type": "json_object"}))
    )
    assert isinstance(obj, dict) and obj
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}}
    jsonschema.validate(
        json.loads(content(chat_post(sim, messages=USER, response_format=fmt))), CITY
    )
    assert content(chat_post(sim, messages=USER, response_format={"type": "text"}))
    regex = r"[a-z]+-\d\d"
    for body in ({"guided_regex": regex}, {"structured_outputs": {"regex": regex}}):
        assert re.fullmatch(regex, content(chat_post(sim, messages=USER, **body)))
    assert content(chat_post(sim, messages=USER, guided_choice=["yes", "no"])) == "yes"
    events = sse_json(chat_post(sim, messages=USER, response_format=fmt, stream=True).text)
    streamed = "".join(e["choices"][0]["delta"]["content"] for e in events[:-1])
    assert json.loads(streamed) == schemagen.instance(CITY)
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"type": "json_schema"}, "When response_format type is 'json_schema'"),
        ({"type": "json", "value": CITY}, "response_format.type: Input should be"),
    ],
)
def test_vllm_response_format_refusals(sim: Sim, fmt: Any, message: str) -> None:
    sim.patch(engine="vllm")
    response = chat_post(sim, messages=USER, response_format=fmt)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


# -- the OpenAI SDK -----------------------------------------------------------------------------


def sdk(sim: Sim) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key=TOKEN, max_retries=0)


def test_openai_sdk_parse_on_vllm(sim: Sim) -> None:
    sim.patch(engine="vllm")
    model = sim.state()["model_id"]
    reply = sdk(sim).chat.completions.parse(model=model, messages=USER, response_format=Place)
    assert isinstance(reply.choices[0].message.parsed, Place)
    with sdk(sim).chat.completions.stream(model=model, messages=USER, response_format=Place) as s:
        final = s.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Place)


def test_openai_sdk_against_tgi_needs_tgis_shape(sim: Sim) -> None:
    client = sdk(sim)
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.parse(model="tgi", messages=USER, response_format=Place)
    assert "missing field `value`" in refused.value.response.text  # axum's text/plain
    schema = Place.model_json_schema()
    reply = client.chat.completions.create(
        model="tgi", messages=USER, response_format={"type": "json", "value": schema}
    )
    Place.model_validate_json(reply.choices[0].message.content or "")
