"""Endpoint tokens never leak (SECURITY.md): not in answers, not in the database, not in logs.

Distinctive tokens go through every integration route — add (201, 202, 409, 422, 400), validate,
list, get, PATCH (rotation, refused rotation, refused paste), revalidate, the model lists, DELETE
— and then the test looks for them, whole or in part, in every response body and header, in
the raw bytes of the SQLite database and its WAL, and in every log record the process emitted
(the servers run on threads of this process, so ``caplog`` sees their records).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.peers import MODEL, Gateway, SimHandle

TOKEN = "hf_fake_CanaryTOKENcanary7Q2x9LmPzR4vK8wN1sYd"
ROTATED = "hf_fake_RotatedCANARYrotated5Ht3Jk6Vb9Xc2Zq7Lp"
REJECTED = "hf_fake_RejectedCANARYrejected8Gf4Dm1Qw6Er3Ty"
PASTED = "hf_fake_PastedCANARYpasted2Nb7Vc4Xz9Lk5Jh8Gf"
SECRETS = (TOKEN, ROTATED, REJECTED, PASTED)
LOGGERS = ("hfgate", "uvicorn", "uvicorn.error", "uvicorn.access", "aiohttp", "httpx", "httpcore")


def fragments(secret: str) -> list[str]:
    """The whole secret and the parts a mask must never show (all but ``hf_`` and the last 4)."""
    return [secret, secret[3:-4], secret[:-4]]


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        for fragment in fragments(secret):
            assert fragment not in text, f"{where} contains a token ({fragment[:8]}…)"


class Recorder:
    """Every response the test received, bodies and headers, to search afterwards."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        label = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        self.seen.append((label, headers + "\n" + response.text))


@pytest.fixture
def server_logs(
    caplog: pytest.LogCaptureFixture, gateway: Gateway
) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG records of every logger, including uvicorn's (which do not propagate to root)."""
    caplog.set_level(logging.DEBUG)
    attached = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        attached.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for logger, level in attached:
            logger.setLevel(level)
            if caplog.handler in logger.handlers:
                logger.removeHandler(caplog.handler)


def test_tokens_never_leak_through_answers_database_or_logs(
    sim: SimHandle, gateway: Gateway, server_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    sim.patch(token=TOKEN)
    headers = {"Authorization": f"Bearer {gateway.key}"}
    with httpx.Client(
        base_url=gateway.url, headers=headers, timeout=30, event_hooks={"response": [recorder]}
    ) as api:

        def post(path: str, credential: dict[str, object], expect: int) -> dict[str, object]:
            response = api.post(path, content=json.dumps(credential))
            assert response.status_code == expect, response.text
            return response.json()

        # validate and add, the happy path: the answer shows a mask, "hf_…" + the last 4
        post("/api/integrations/validate", sim.credential(api_key=TOKEN), 200)
        stored = post("/api/integrations", sim.credential(api_key=TOKEN), 201)["integration"]
        assert stored["api_key"] == "hf_…" + TOKEN[-4:]
        integration_id = stored["id"]
        for path in ("/api/integrations", f"/api/integrations/{integration_id}"):
            assert api.get(path).status_code == 200
        assert api.get("/api/integrations").json()["data"][0]["api_key"] == "hf_…" + TOKEN[-4:]
        assert api.get("/v1/models").status_code == api.get("/api/models").status_code == 200

        # the failures: a rejected token, a duplicate, a token pasted with quotes and a newline
        post("/api/integrations", sim.credential(api_key=REJECTED, name="rejected"), 422)
        post("/api/integrations/validate", sim.credential(api_key=REJECTED), 422)
        post("/api/integrations", sim.credential(api_key=TOKEN), 409)
        post("/api/integrations", sim.credential(api_key=f'"{PASTED}"\n', name="pasted"), 400)
        post("/api/integrations", sim.credential(api_key=f"Bearer {PASTED}", name="bearer"), 400)
        sim.patch(state="paused")
        post("/api/integrations", sim.credential(api_key=TOKEN, name="asleep"), 202)
        sim.patch(state="running")

        # PATCH: a refused rotation (422), a refused paste (400), then a rotation that works
        patch = f"/api/integrations/{integration_id}"
        assert api.patch(patch, json={"api_key": REJECTED}).status_code == 422
        assert api.patch(patch, json={"api_key": f" {PASTED} "}).status_code == 400
        sim.patch(token=ROTATED)
        assert api.patch(patch, json={"api_key": ROTATED}).status_code == 200
        assert api.get(patch).json()["api_key"] == "hf_…" + ROTATED[-4:]
        assert api.post(f"{patch}/revalidate").status_code == 200
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        assert api.post("/v1/chat/completions", json=chat).status_code == 200
        assert api.get("/api/integrations").status_code == 200
        assert api.delete(patch).status_code == 200

    assert len(recorder.seen) >= 20
    for label, text in recorder.seen:
        assert_clean(f"the answer to {label}", text)

    assert_database_clean(gateway.home)

    records = server_logs.records
    assert any("/api/integrations" in r.getMessage() for r in records), (
        "the server's access log should have been captured; the log check would be vacuous"
    )
    for record in records:
        assert_clean(f"log record {record.name}:{record.lineno}", record.getMessage())
        if record.exc_text:
            assert_clean(f"traceback in {record.name}", record.exc_text)
    assert_clean("the captured log text", server_logs.text)


def assert_database_clean(home: Path) -> None:
    files = [home / "hfgate.db", home / "hfgate.db-wal", home / "hfgate.db-journal"]
    present = [path for path in files if path.exists()]
    assert home / "hfgate.db" in present
    for path in present:
        raw = path.read_bytes()
        for secret in SECRETS:
            for fragment in fragments(secret):
                assert fragment.encode() not in raw, f"{path.name} holds a token in clear"


def test_the_mask_never_shows_more_than_the_last_four(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(token=TOKEN)
    response = gateway.add(sim.credential(api_key=TOKEN))
    assert response.status_code == 201, response.text
    shown = response.json()["integration"]["api_key"]
    assert shown == "hf_…" + TOKEN[-4:]
    assert len(shown.replace("hf_…", "")) == 4
    assert TOKEN not in response.text
