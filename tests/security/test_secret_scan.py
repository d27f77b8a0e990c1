"""The session-wide secret scan itself (``plugin.py``): it sees everything, and it catches leaks."""

from __future__ import annotations

import logging
import uuid

import orjson

from tests.security import plugin
from tests.security.plugin import Finding, SecretScan
from tests.security.support import World, wait_until
from tests.support import peers
from tests.support.peers import ADMIN_KEY, SIM_TOKEN, Exchange


def exchange(
    path: str,
    body: object,
    *,
    method: str = "GET",
    status: int = 200,
    request: object = None,
    headers: list[tuple[str, str]] | None = None,
) -> Exchange:
    raw = b"" if request is None else orjson.dumps(request)
    return Exchange(method, path, "", raw, status, headers or [], orjson.dumps(body))


def scan_with_defaults() -> SecretScan:
    scan = SecretScan()
    scan.register(ADMIN_KEY, "ADMIN_KEY")
    scan.register(SIM_TOKEN, "SIM_TOKEN")
    scan.nodeid = "tests/x.py::test_leaky"
    return scan


def test_a_leaked_token_in_an_answer_is_found_and_attributed() -> None:
    scan = scan_with_defaults()
    scan.observe(exchange("/api/integrations", {"api_key": SIM_TOKEN}))
    scan.observe(exchange("/v1/models", {"ok": True}))
    assert scan.findings() == [
        Finding("tests/x.py::test_leaky", "the answer to GET /api/integrations → 200", "SIM_TOKEN")
    ]


def test_any_hugging_face_token_or_whole_hfgate_key_is_found() -> None:
    scan = scan_with_defaults()
    scan.observe(exchange("/a", {"error": "bad token hf_" + "Q" * 30}))
    scan.observe(exchange("/b", {"key": "hfg_" + "z" * 43}))
    scan.observe(exchange("/c", {"mask": "hf_…x9Qa", "prefix": "hfg_abcdefgh…"}))
    found = scan.findings()
    assert [f.where for f in found] == [
        "the answer to GET /a → 200",
        "the answer to GET /b → 200",
    ]
    assert found[0].secret.startswith("a Hugging Face token hf_QQQ")
    assert "Q" * 10 not in found[0].secret  # the report never repeats the secret


def test_a_new_key_may_appear_once_in_its_own_answer_and_nowhere_else() -> None:
    scan = scan_with_defaults()
    key = "hfg_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
    scan.observe(exchange("/api/keys", {"id": 3, "key": key}, method="POST", status=201))
    assert scan.findings() == []
    scan.observe(exchange("/api/keys", {"id": 3, "key": key, "also": ADMIN_KEY}, method="POST"))
    scan.observe(exchange("/api/keys", [{"id": 3, "echo": key}]))
    found = {(f.where, f.secret.split(" (")[0]) for f in scan.findings()}
    assert found == {
        ("the answer to POST /api/keys → 200", "ADMIN_KEY"),
        ("the answer to POST /api/keys → 200", "the hfgate key created in tests/x.py::test_leaky"),
        ("the answer to GET /api/keys → 200", "the hfgate key created in tests/x.py::test_leaky"),
    }


def test_what_the_suite_sent_is_learned_cookies_included() -> None:
    scan = scan_with_defaults()
    password = "a-long-password-" + uuid.uuid4().hex
    cookie = uuid.uuid4().hex + uuid.uuid4().hex
    scan.observe(
        exchange(
            "/auth/login",
            {"csrf_token": "c"},
            method="POST",
            request={"email": "a@b.c", "password": password},
            headers=[("set-cookie", f"hfgate_session={cookie}; HttpOnly; Path=/")],
        )
    )
    assert scan.findings() == []  # the Set-Cookie header is where the cookie belongs
    scan.observe(exchange("/auth/me", {"echo": password, "session": cookie}))
    assert len(scan.findings()) == 2


def test_log_records_are_searched_messages_and_tracebacks() -> None:
    scan = scan_with_defaults()
    logger = logging.getLogger("hfgate.test_secret_scan")
    record = logger.makeRecord(
        logger.name, logging.DEBUG, __file__, 1, "token %s", (SIM_TOKEN,), None
    )
    scan.record(record)
    try:
        raise ValueError(f"upstream said: bad key {ADMIN_KEY}")
    except ValueError:
        import sys

        failing = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 2, "boom", (), sys.exc_info()
        )
    scan.record(failing)
    client = logging.getLogger("openai._base_client")  # a test client's log is not hfgate's
    scan.record(client.makeRecord(client.name, logging.DEBUG, __file__, 3, ADMIN_KEY, (), None))
    found = scan.findings()
    assert [(f.where.split(" (")[0], f.secret) for f in found] == [
        ("log record hfgate.test_secret_scan:1", "SIM_TOKEN"),
        ("log record hfgate.test_secret_scan:2", "ADMIN_KEY"),
    ]


def test_the_session_scan_sees_the_gateways_answers_and_its_logs(world: World) -> None:
    assert plugin.SCAN.observe in peers.EXCHANGE_OBSERVERS
    before = plugin.SCAN.exchanges
    marker = f"/api/integrations/no-such-{uuid.uuid4().hex}"
    with world.api(world.owner) as api:
        assert api.get(marker).status_code == 404
    # (recorded just after the answer is sent: wait a moment for the server's thread)
    wait_until(lambda: plugin.SCAN.exchanges > before)
    assert any(a.label.startswith(f"the answer to GET {marker}") for a in plugin.SCAN.answers)
    logged = wait_until(lambda: [text for text in list(plugin.SCAN.logs) if marker in text])
    assert logged, "the gateway's access log was not captured: the log scan would be vacuous"
    assert logging.getLogger().level == logging.DEBUG
