"""A worker killed mid-answer (issue 17): SIGKILL the ``hfgate serve`` process relaying a
workspace chat. Started again on the same database, the conversation shows the answer's text
as far as it was checkpointed (a prefix of what the browser received), marked interrupted once
no process could still be writing it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from hfgate.conversations.service import STALE_SECONDS
from tests.conversations.support import events
from tests.faults.support import Serve, base_env, start_serve, stop
from tests.support.peers import MODEL, running_sim

TOKENS = 200  # × 0.1 s: far longer than the test waits


def _answer(serve: Serve, conversation_id: str) -> dict[str, Any]:
    with serve.client() as client:
        answer = client.get(f"/api/conversations/{conversation_id}")
    assert answer.status_code == 200, answer.text
    messages = answer.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"], messages
    return dict(messages[1])


def test_an_answer_cut_by_a_killed_process_is_kept_and_shown_interrupted(tmp_path: Path) -> None:
    with running_sim() as sim:
        sim.patch(token_delay=0.1, reply_tokens=TOKENS)
        env = base_env(tmp_path / "home")
        first = start_serve(env, tmp_path / "first.log")
        try:
            first.add(sim.credential())
            with first.client() as client:
                made = client.post("/api/conversations", json={"model": MODEL})
                assert made.status_code == 201, made.text
                cid = made.json()["id"]
                received = ""
                body = {"content": "tell me a long story"}
                with client.stream("POST", f"/api/conversations/{cid}/chat", json=body) as reply:
                    assert reply.status_code == 200
                    tokens = 0
                    for event, data in events(reply):
                        if event != "message" or data == "[DONE]":
                            continue
                        for choice in json.loads(data).get("choices", []):
                            text = choice["delta"].get("content") or ""
                            received += text
                            tokens += bool(text)
                        if tokens >= 25:  # past the first checkpoint and a later one
                            break
                    first.popen.send_signal(signal.SIGKILL)
                    killed_at = time.monotonic()
            assert first.popen.wait(10) == -signal.SIGKILL
        finally:
            stop(first)

        second = start_serve(env, tmp_path / "second.log")
        try:
            answer = _answer(second, cid)
            assert answer["content"] and received.startswith(answer["content"]), (answer, received)
            assert len(answer["content"]) > len(received) // 3, "checkpointed about once a second"
            assert answer["completion_tokens"] >= 1
            # Until no process could still be writing it, it may be a live answer elsewhere.
            if answer["status"] != "interrupted":
                assert answer["status"] == "streaming", answer
                time.sleep(max(0.0, killed_at + STALE_SECONDS + 1 - time.monotonic()))
                answer = _answer(second, cid)
            assert answer["status"] == "interrupted", answer
            assert received.startswith(answer["content"])
            assert answer["versions"][0]["status"] == "interrupted"
        finally:
            stop(second)
