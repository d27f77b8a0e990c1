"""A deterministic instance of a JSON schema: what a grammar-constrained model would write.

TGI (outlines-core, ``router/src/validation.rs``: ``json_schema_to_regex``) and vLLM (xgrammar)
only let the model write JSON that validates against the schema; the simulator writes one fixed,
plausible instance instead, so tests can check it with ``jsonschema``. Shared by tool arguments
(``tools.py``, ``vllm_tools.py``) and ``response_format`` (``grammar.py``).

Rules (the same schema and path always give the same value):

* ``const`` → it; ``enum`` → its first value; ``anyOf``/``oneOf`` → the first branch that is
  not ``{"type": "null"}``; ``allOf`` → the branches merged; ``$ref`` → ``#``, ``#/$defs/…``,
  ``#/definitions/…`` (any JSON pointer into the root); a ``type`` list → its first non-null
  type; no ``type`` → guessed from ``properties``/``items``, else a string.
* objects: every ``required`` property, and the optional ones down to depth 2 (in the schema's
  order, as outlines writes them); none declared and ``additionalProperties`` not false →
  ``{"answer": …}`` (so ``{"type": "object"}`` alone is a non-empty object); ``minProperties``
  filled with extra keys when additional ones are allowed.
* arrays: ``prefixItems`` then ``items``, ``max(minItems, 1)`` long (0 past depth 3), at most
  ``maxItems``; items differ by index, so ``uniqueItems`` holds.
* strings: a word picked by the path's crc32, padded/cut to ``minLength``/``maxLength``;
  ``pattern`` via ``regexgen``; common ``format``s (date, date-time, time, email, uri, uuid,
  ipv4, ipv6, hostname) get a fixed valid value.
* numbers: ``1 + crc32(path) % 9`` (``.5`` added for ``number``), moved inside ``minimum``,
  ``maximum``, the exclusive bounds and ``multipleOf``; booleans ``true``; null ``null``.

Not modelled: ``not``, ``if``/``then``/``else``, ``dependentSchemas``, ``patternProperties``,
``contains``, and a ``oneOf`` whose first branch also matches another.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

from hfgate.sim import regexgen

WORDS: tuple[str, ...] = (
    "Paris", "blue", "river", "north", "cedar", "orbit", "amber", "delta", "harbor", "maple",
)  # fmt: skip
FORMATS: dict[str, str] = {
    "date": "2024-05-01",
    "date-time": "2024-05-01T12:00:00Z",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}
_OPTIONAL_DEPTH = 2  # optional properties are written down to this depth
_ARRAY_DEPTH = 3  # arrays are empty below this depth (unless minItems says otherwise)
_MAX_DEPTH = 12  # a recursive $ref stops here


class SchemaError(ValueError):
    """The schema cannot be instantiated (a dangling ``$ref``, ``false``, a contradiction)."""


def instance(schema: Any, root: Any = None) -> Any:
    """One value valid against ``schema`` (``root`` resolves ``$ref``; default: the schema)."""
    return _Gen(schema if root is None else root).value(schema, "$", 0)


def _crc(path: str) -> int:
    return zlib.crc32(path.encode())


class _Gen:
    def __init__(self, root: Any) -> None:
        self.root = root

    def value(self, schema: Any, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise SchemaError(f"{path}: schema nests deeper than {_MAX_DEPTH} levels")
        if schema is True or schema == {}:
            return WORDS[_crc(path) % len(WORDS)]
        if not isinstance(schema, dict):
            raise SchemaError(f"{path}: no value satisfies the schema {schema!r}")
        schema = self._resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.value(_pick_branch(schema, key), path, depth + 1)
        return self._typed(schema, _type_of(schema), path, depth)

    def _resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = _pointer(self.root, ref)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self._resolve(target, depth + 1), **rest}
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for branch in schema["allOf"]:
                merged = _merge(merged, self._resolve(branch, depth + 1))
            schema = merged
        return schema

    def _typed(self, schema: dict[str, Any], kind: str, path: str, depth: int) -> Any:
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer", path)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(schema, path)

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or depth < _OPTIONAL_DEPTH:
                out[name] = self.value(sub, f"{path}.{name}", depth + 1)
        for name in required:  # required but not declared: additionalProperties decides
            if name not in out:
                sub = extra if extra is not False else {}
                out[name] = self.value(sub, f"{path}.{name}", depth + 1)
        if extra is False:
            return out
        wanted = max(int(schema.get("minProperties") or 0), 0 if out or props else 1)
        for i in range(len(out), wanted):
            key = "answer" if i == 0 and "answer" not in out else f"key{i}"
            out[key] = self.value(extra, f"{path}.{key}", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        low = int(schema.get("minItems") or 0)
        shallow = depth < _ARRAY_DEPTH
        size = max(low, len(prefix) if shallow else 0, 1 if shallow else 0)
        high = schema.get("maxItems")
        if isinstance(high, int):
            size = min(size, high)
        if items is False:
            size = min(size, len(prefix))
        out: list[Any] = []
        for i in range(size):
            sub = prefix[i] if i < len(prefix) else items
            out.append(_distinct(out, self.value(sub, f"{path}[{i}]", depth + 1)))
        return out


def _distinct(seen: list[Any], value: Any) -> Any:
    """Keep ``uniqueItems`` true: a string or number already in the array gets a suffix/offset
    (``enum`` and ``const`` items may still repeat)."""
    if value not in seen or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return f"{value} {len(seen)}"
    if isinstance(value, int | float):
        return value + len(seen)
    return value


def _pick_branch(schema: dict[str, Any], key: str) -> Any:
    branches = schema[key]
    chosen = next((b for b in branches if b != {"type": "null"}), branches[0])
    rest = {k: v for k, v in schema.items() if k != key}
    # Sibling keywords apply on top of the branch (pydantic puts "description" beside anyOf).
    return _merge(rest, chosen) if isinstance(chosen, dict) else chosen


def _merge(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **more}
    if "properties" in base and "properties" in more:
        merged["properties"] = {**base["properties"], **more["properties"]}
    if "required" in base and "required" in more:
        merged["required"] = list(dict.fromkeys([*base["required"], *more["required"]]))
    return merged


def _pointer(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise SchemaError(f"cannot resolve $ref {ref!r}: only local references are supported")
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise SchemaError(f"cannot resolve $ref {ref!r}")
    return node


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return "string"


def _string(schema: dict[str, Any], path: str) -> str:
    fmt = schema.get("format")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            text = regexgen.sample(pattern, anchored=False)
        except regexgen.RegexUnsupported:
            text = WORDS[_crc(path) % len(WORDS)]
    elif isinstance(fmt, str) and fmt in FORMATS:
        text = FORMATS[fmt]
    else:
        text = WORDS[_crc(path) % len(WORDS)]
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text += "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _number(schema: dict[str, Any], integer: bool, path: str) -> int | float:
    value: float = 1 + _crc(path) % 9 + (0 if integer else 0.5)
    low, high = _bounds(schema, integer)
    if value < low:
        value = low
    if value > high:
        value = high
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
        if value > high:
            value = math.floor(high / step) * step
    if integer or (float(value).is_integer() and isinstance(step, int)):
        return int(value)
    return value


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float, float]:
    nudge = 1 if integer else 0.25
    low, high = -math.inf, math.inf
    if isinstance(schema.get("minimum"), int | float):
        low = schema["minimum"]
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = max(low, schema["exclusiveMinimum"] + nudge)
    if isinstance(schema.get("maximum"), int | float):
        high = schema["maximum"]
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = min(high, schema["exclusiveMaximum"] - nudge)
    if integer and math.isfinite(low):
        low = math.ceil(low)
    if integer and math.isfinite(high):
        high = math.floor(high)
    if low > high:
        raise SchemaError(f"no number lies between {low} and {high}")
    return low, high
