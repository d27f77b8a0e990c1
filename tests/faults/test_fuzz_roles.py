"""Authenticated fuzzing: schemathesis over the whole OpenAPI schema as an admin, as a member
and with no key — thousands of generated requests, valid and invalid — against a live gateway.

Every answer must be: no 5xx; the body the schema documents for its status (the schema lists
the error answers, ``api/errors.py``); no secret (the endpoint token, another person's key);
and no member or anonymous caller ever answered 2xx on an admin route (the role matrix's
``ADMIN`` rows), nor an anonymous one on a route that needs a key. The single-key run with
fewer examples is ``tests/security/test_schemathesis.py``; this one extends it to roles."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.security.support import World, world_at
from tests.security.test_role_matrix import ROUTES, Kind
from tests.security.test_schemathesis import error_shape_problem
from tests.support.peers import ADMIN_KEY, SIM_TOKEN

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

MAX_EXAMPLES = 32
AT_LEAST = 5000
BUDGET_SECONDS = (
    240  # a bound against a runaway, not a benchmark: about 100 s on a quiet 2-core machine
)
# Left out for the admin only: they would remove or demote the very people the run uses.
ADMIN_EXCLUDED = {
    ("DELETE", "/api/keys/{key_id}"),
    ("DELETE", "/api/users/{user_id}"),
    ("PATCH", "/api/users/{user_id}"),
}


def _kinds() -> dict[tuple[str, str], Kind]:
    """The role matrix by OpenAPI path (which drops ``:path``)."""
    kinds: dict[tuple[str, str], Kind] = {}
    for (method, path), row in ROUTES.items():
        if " " not in path:
            kinds[(method, path.replace(":path", ""))] = row.kind
    return kinds


@dataclass
class Tally:
    requests: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def fail(self, label: str, problem: str) -> None:
        self.failures.setdefault(label, problem[:1500])


@dataclass(frozen=True)
class Caller:
    name: str
    key: str | None
    forbidden_texts: tuple[str, ...]  # secrets this caller must never be shown

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_at(tmp_path_factory.mktemp("fuzz-roles") / "home") as running:
        yield running


def _callers(world: World) -> list[Caller]:
    admin, member = world.admin.key, world.member.key
    return [
        Caller("admin", admin, (SIM_TOKEN, ADMIN_KEY, member)),
        Caller("member", member, (SIM_TOKEN, ADMIN_KEY, admin)),
        Caller("no key", None, (SIM_TOKEN, ADMIN_KEY, admin, member)),
    ]


def test_fuzzing_as_admin_member_and_no_key_finds_no_5xx_leak_or_escalation(
    fuzzed: World,
) -> None:
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    kinds = _kinds()
    assert len(operations) > 40 and all(
        (op.method.upper(), op.path) in kinds for op in operations
    ), [
        (op.method.upper(), op.path)
        for op in operations
        if (op.method.upper(), op.path) not in kinds
    ]
    tally = Tally()
    started = time.monotonic()
    for caller in _callers(fuzzed):
        for operation in operations:
            key = (operation.method.upper(), operation.path)
            if caller.name == "admin" and key in ADMIN_EXCLUDED:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run = exercise(operation, mode, caller, kinds[key], fuzzed.url, tally)
                with contextlib.suppress(Unsatisfiable):
                    run()
    seconds = time.monotonic() - started
    print(f"fuzzing: {tally.requests} requests in {seconds:.0f} s")
    assert not tally.failures, "\n\n".join(f"{k}:\n{v}" for k, v in tally.failures.items())
    assert tally.requests >= AT_LEAST
    assert seconds < BUDGET_SECONDS


def exercise(
    operation: Any, mode: Any, caller: Caller, kind: Kind, base_url: str, tally: Tally
) -> Callable[[], None]:
    """A Hypothesis test of one operation, in one mode, as one caller."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    label = f"{caller.name}: {operation.method.upper()} {operation.path} ({mode.value})"
    headers = caller.headers()

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
        tally.requests += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance], headers=headers
            )
        except Exception as exc:  # keep going: report every operation at once
            tally.fail(label, str(exc))
        status, content = response.status_code, response.content
        if problem := error_shape_problem(case.formatted_path, status, content):
            tally.fail(label + " error shape", problem)
        if leaked := [t for t in caller.forbidden_texts if t.encode() in content]:
            tally.fail(label + " leak", f"a {status} shows a secret ({len(leaked)})")
        if 200 <= status < 300 and not allowed(caller, kind):
            tally.fail(label + " escalation", f"{caller.name} was answered {status}")

    return run  # type: ignore[no-any-return]


def allowed(caller: Caller, kind: Kind) -> bool:
    """Whether ``caller`` may be answered 2xx on a route of ``kind`` (with a key: SELF_OR_ADMIN
    lets a member change their own record, which generated ids rarely are)."""
    if caller.key is None:
        return kind in (Kind.PUBLIC, Kind.WEB_PUBLIC, Kind.WEB_SETUP)
    if caller.name == "member":
        return kind is not Kind.ADMIN and kind is not Kind.WEB_ADMIN
    return True
