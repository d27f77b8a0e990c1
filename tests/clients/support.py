"""What the client tests share: tools with JSON schemas, structured-output models, checks.

Every tool's arguments are validated against the tool's own schema with ``jsonschema``, so a
call whose arguments were cut, doubled or re-encoded on the way (a JSON string parsed twice,
an object where a string belongs) fails where it happened.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from tests.chat.support import Peers
from tests.support.peers import ADMIN_KEY

VLLM_MODEL = "Qwen/Qwen2.5-7B-Instruct"
VISION_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"timezone": {"type": "string", "description": "An IANA zone, e.g. UTC"}},
    "required": ["timezone"],
}
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_SCHEMA,
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": TIME_SCHEMA,
    },
}
TOOLS = [WEATHER, TIME]
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}

ASK_WEATHER = "What is the weather in Paris right now? Use get_weather."
ASK_TIME = "What time is it in Tokyo? Use get_time."
ASK_BOTH = "Use get_weather for Paris and get_time for Tokyo."


class City(BaseModel):
    """A structured answer: what ``response_format`` / ``with_structured_output`` ask for."""

    name: str
    country: str
    population: int


CITY_SCHEMA: dict[str, Any] = {
    "title": "City",
    "description": "A city and where it is.",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer"},
    },
    "required": ["name", "country", "population"],
}

# OpenAI's json_object as TGI gets it (docs/protocols.md §5a): TGI refuses a grammar without a
# "properties" key, and empty properties alone would close the object (only "{}" is valid).
TGI_JSON_OBJECT: dict[str, Any] = {
    "type": "json",
    "value": {"type": "object", "properties": {}, "additionalProperties": True},
}


def engine(peers: Peers) -> str:
    """``"tgi"`` or ``"vllm"``: the engine the simulator plays."""
    return str(peers.sim.base["engine"])


def arguments(name: str, raw: Any) -> dict[str, Any]:
    """A tool call's arguments, decoded once from their JSON string and valid for the tool."""
    assert isinstance(raw, str), f"arguments must be a JSON string, got {raw!r}"
    value = json.loads(raw)
    assert isinstance(value, dict), raw
    jsonschema.validate(value, SCHEMAS[name])
    return value


def checked(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` (a JSON string or a decoded value), valid against ``schema``."""
    decoded = json.loads(value) if isinstance(value, str) else value
    jsonschema.validate(decoded, schema)
    return decoded


def sent(peers: Peers) -> dict[str, Any]:
    """The body of the one generation request the endpoint received."""
    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 1, [c.route for c in calls]
    body: dict[str, Any] = calls[0].json()
    return body


def sent_all(peers: Peers) -> list[dict[str, Any]]:
    """The bodies of every generation request the endpoint received, in order."""
    return [call.json() for call in peers.sim.recorder.generation_calls()]


def weather(city: str, unit: str = "celsius") -> str:
    """What the test's tool answers (the model's next turn sees it)."""
    return json.dumps({"city": city, "temperature": 21, "unit": unit, "sky": "clear"})


# -- LangChain -----------------------------------------------------------------------------------


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """The current weather in a city."""
    return weather(city, unit)


@tool
def get_time(timezone: str) -> str:
    """The current time in a time zone."""
    return f"12:00 in {timezone}"


LC_TOOLS: list[BaseTool] = [get_weather, get_time]
LC_TOOLS_BY_NAME = {t.name: t for t in LC_TOOLS}


def lc_schema(name: str) -> dict[str, Any]:
    """The JSON schema LangChain sends for one of ``LC_TOOLS``."""
    tool_spec = convert_to_openai_tool(LC_TOOLS_BY_NAME[name])
    parameters: dict[str, Any] = tool_spec["function"]["parameters"]
    return parameters


def chat_model(peers: Peers, **kwargs: Any) -> ChatOpenAI:
    """LangChain's OpenAI chat model, pointed at hfgate as its docs say for any OpenAI server."""
    return ChatOpenAI(
        model=peers.model,
        base_url=peers.gateway.url + "/v1",
        api_key=SecretStr(ADMIN_KEY),
        max_retries=0,
        timeout=30,
        **kwargs,
    )
