"""Schemathesis against hfgate's own OpenAPI schema, on a live gateway, with the owner's key.

Every operation of ``/openapi.json`` gets a bounded number of generated requests, valid
(positive) and invalid (negative), and every answer must pass

* ``not_a_server_error``: no 5xx, ever;
* ``response_schema_conformance``: the body matches what the schema documents for the status;
* hfgate's own contract (docs/protocols.md §7, §8): every 4xx carries one OpenAI-shaped error
  ``{"error": {"message", "type", "param", "code"}}`` (TGI's ``{"error", "error_type"}`` on
  ``/tgi/…``), because the schema itself documents no error body at all.

Left out: ``DELETE /api/keys/{key_id}``, which would revoke the key the run itself uses.
Statuses the schema does not document are collected and printed (``-s``): the schema
documents only 200/201 and FastAPI's default 422, which hfgate never sends in that shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.security.support import World, world_at
from tests.support.peers import ADMIN_KEY

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (add it to the dev extras)"
)
hypothesis = pytest.importorskip("hypothesis")

MAX_EXAMPLES = 6
EXCLUDED = {("DELETE", "/api/keys/{key_id}")}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_at(tmp_path_factory.mktemp("fuzz") / "home") as running:
        yield running


def error_shape_problem(path: str, status: int, content: bytes) -> str | None:
    if status < 400:
        return None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return f"a {status} whose body is not JSON: {content[:120]!r}"
    if path.startswith("/tgi/"):
        ok = isinstance(body, dict) and {"error", "error_type"} <= set(body)
        return None if ok else f"a {status} not in TGI's error shape: {body!r:.200}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not {"message", "type", "param", "code"} <= set(error):
        return f"a {status} not in the OpenAI error shape: {body!r:.200}"
    if not isinstance(error["message"], str) or not error["message"]:
        return f"a {status} without a message: {body!r:.200}"
    return None


def test_generated_requests_find_no_server_error_and_no_schema_violation(
    fuzzed: World, tmp_path: Path
) -> None:
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    failures: dict[str, str] = {}
    undocumented: dict[str, set[int]] = {}
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in EXCLUDED:
            operations.append(operation)
    assert len(operations) > 20, "the schema lists too few operations: is it the right one?"

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            documented = {int(code) for code in operation.definition.raw.get("responses", {})}
            run = exercise(operation, mode, label, documented, fuzzed.url, failures, undocumented)
            with contextlib.suppress(Unsatisfiable):
                run()  # (Unsatisfiable: no invalid request exists for an operation without inputs)

    for label, codes in sorted(undocumented.items()):
        print(f"undocumented statuses: {label}: {sorted(codes)}")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def exercise(
    operation: Any,
    mode: Any,
    label: str,
    documented: set[int],
    base_url: str,
    failures: dict[str, str],
    undocumented: dict[str, set[int]],
) -> Callable[[], None]:
    """A Hypothesis test of one operation in one mode, recording what it finds."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code not in documented:
            undocumented.setdefault(label, set()).add(response.status_code)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance], headers=headers
            )
        except Exception as exc:  # keep going: report every operation at once
            failures.setdefault(label, str(exc)[:1500])
        problem = error_shape_problem(case.formatted_path, response.status_code, response.content)
        if problem:
            failures.setdefault(label + " error shape", problem)

    return run  # type: ignore[no-any-return]
