"""``response_format``: grammar-constrained output, in TGI's shapes and in vLLM's (OpenAI's).

**TGI** (``router/src/lib.rs`` ``GrammarType``, adjacently tagged ``{"type", "value"}``):
``json`` (alias ``json_object``) with any JSON value; ``regex`` with a string; ``json_schema``
with ``{"name"?, "schema"}``. serde refuses anything else before the handler — axum's 422
``text/plain`` ``Failed to deserialize the JSON body into the target type: response_format: …``:
OpenAI's ``{"type": "json_schema", "json_schema": {…}}`` and a value-less ``{"type":
"json_object"}`` are ``missing field `value```, ``{"type": "text"}`` an unknown variant.
Validation (``router/src/validation.rs``, 422 ``Input validation error: …``, in the stream when
streaming): a ``json`` value that is a string is parsed again (``grammar is not valid: …``),
another non-object is ``grammar is not supported``; since v2.3.0 (``f15e808d``, "reject
grammars without properties") a schema without ``properties`` is ``grammar is not valid:
Grammar must have a 'properties' field`` — so ``{"type": "json", "value": {"type":
"object"}}`` is refused by TGI ≥ 2.3.0, while ``{"type": "object", "properties": {}}`` gives
an object. The schema is not checked against the 2020-12 meta-schema (TGI does; the sim has
no ``jsonschema`` at run time).

**vLLM** (``vllm/entrypoints/openai/protocol.py`` ``ResponseFormat``): ``text``,
``json_object`` (some JSON object), ``json_schema`` with ``json_schema.schema``; also the
``guided_json`` / ``guided_regex`` / ``guided_choice`` fields and ``structured_outputs``
(``json``, ``regex``, ``choice``, ``json_object``), which newer releases read. Errors are
``ValueError``s the vLLM face turns into its 400.

The output: ``schemagen.instance`` of the schema written as ``json.dumps`` does (``", "`` and
``": "``, which outlines' default whitespace ``[ ]?`` allows), ``regexgen.sample`` of a regex,
the first of a choice — then EOS; ``max_tokens`` can cut it (``length``), as it would a model's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hfgate.sim import regexgen, schemagen
from hfgate.sim.validation import ShapeError, invalid
from hfgate.sim.versions import parse_version

TGI_VARIANTS = "`json`, `json_object`, `regex`, `json_schema`"
VLLM_FORMATS = ("text", "json_object", "json_schema", "structural_tag")


@dataclass(frozen=True, slots=True)
class Grammar:
    """What the output is constrained to: a JSON value/schema, a regex, or a list of choices."""

    kind: Literal["json", "json_schema", "regex", "choice"]
    value: Any


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "sequence"
    return f"string {json.dumps(value)}" if isinstance(value, str) else json.dumps(value)


def tgi_shape(fmt: Any) -> Grammar | None:
    """serde's ``Option<GrammarType>``: the grammar, or ``ShapeError`` with serde's message."""
    if fmt is None:
        return None
    where = "response_format"
    if not isinstance(fmt, dict):
        raise ShapeError(f"{where}: invalid type: {_found(fmt)}, expected adjacently tagged enum")
    if "type" not in fmt:
        raise ShapeError(f"{where}: missing field `type`")
    kind = fmt["type"]
    if kind not in ("json", "json_object", "regex", "json_schema"):
        raise ShapeError(f"{where}: unknown variant `{kind}`, expected one of {TGI_VARIANTS}")
    if "value" not in fmt:
        raise ShapeError(f"{where}: missing field `value`")
    value = fmt["value"]
    if kind == "regex":
        if not isinstance(value, str):
            raise ShapeError(f"{where}: invalid type: {_found(value)}, expected a string")
        return Grammar("regex", value)
    if kind == "json_schema":
        if not isinstance(value, dict):
            raise ShapeError(f"{where}: invalid type: {_found(value)}, expected struct")
        if "schema" not in value:
            raise ShapeError(f"{where}: missing field `schema`")
        return Grammar("json_schema", value["schema"])
    return Grammar("json", value)


def tgi_validate(grammar: Grammar, tgi_version: str) -> Grammar:
    """``Validation::validate``'s grammar step: the schema actually used, or ``TGIError``."""
    if grammar.kind == "regex":
        return grammar
    schema = grammar.value
    if grammar.kind == "json" and isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise invalid(f"grammar is not valid: {exc}") from None
    elif grammar.kind == "json" and not isinstance(schema, dict):
        raise invalid("grammar is not supported")
    since_2_3 = (parse_version(tgi_version) or (3, 0, 0)) >= (2, 3, 0)
    if since_2_3 and (not isinstance(schema, dict) or "properties" not in schema):
        raise invalid("grammar is not valid: Grammar must have a 'properties' field")
    return Grammar("json", schema)


def output(grammar: Grammar) -> str:
    """The constrained text; ``TGIError`` (422 validation) when the sim cannot write one."""
    try:
        if grammar.kind == "regex":
            return regexgen.sample(str(grammar.value))
        if grammar.kind == "choice":
            return str(grammar.value[0])
        return json.dumps(schemagen.instance(grammar.value), ensure_ascii=False)
    except regexgen.RegexUnsupported as exc:
        raise invalid(
            f"grammar is not valid: the simulator cannot follow this regex: {exc}"
        ) from None
    except schemagen.SchemaError as exc:
        raise invalid(f"grammar is not valid: {exc}") from None


def vllm_grammar(body: dict[str, Any]) -> Grammar | None:
    """The constraint of a vLLM request; ``ValueError`` with vLLM's message for bad shapes."""
    fmt = body.get("response_format")
    if fmt is not None:
        found = _vllm_response_format(fmt)
        if found is not None:
            return found
    outputs = body.get("structured_outputs")
    guided = outputs if isinstance(outputs, dict) else {}
    for key in ("json", "regex", "choice", "json_object"):
        value = guided.get(key, body.get(f"guided_{key}"))
        if value is not None and value is not False:
            return _guided(key, value)
    return None


def _vllm_response_format(fmt: Any) -> Grammar | None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in VLLM_FORMATS:
        allowed = ", ".join(f"'{k}'" for k in VLLM_FORMATS)
        raise ValueError(f"response_format.type: Input should be {allowed}, got {kind!r}")
    if kind == "json_object":
        return Grammar("json", {"type": "object"})
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise ValueError(
                "When response_format type is 'json_schema', the 'json_schema' field must be "
                "provided."
            )
        return Grammar("json", spec.get("schema", {}))
    return None


def _guided(key: str, value: Any) -> Grammar:
    if key == "json":
        schema = json.loads(value) if isinstance(value, str) else value
        return Grammar("json", schema)
    if key == "json_object":
        return Grammar("json", {"type": "object"})
    if key == "regex":
        return Grammar("regex", str(value))
    if not isinstance(value, list) or not value:
        raise ValueError(f"Choice '{value}' cannot be an empty list")
    return Grammar("choice", value)
