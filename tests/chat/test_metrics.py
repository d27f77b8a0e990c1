"""Prometheus metrics on ``GET /metrics``: traffic, errors, latency, tokens and cold starts.

The exposition is parsed with ``prometheus_client``'s own parser. The registry is global to the
process and every chat test module uses the same model name, so each test reads the metrics
before and after what it does and checks the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.chat.support import Peers, chat, sse_payloads

MESSAGES = [{"role": "user", "content": "Count my requests, please."}]
COLD_START = 2.5
FIRST_HOLD = 1.0


@dataclass(frozen=True)
class Scrape:
    """One ``GET /metrics``: every sample by (name, labels)."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    families: dict[str, str]  # family name → type

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def matching(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample called ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return {
            sample_labels: value
            for (sample_name, sample_labels), value in self.samples.items()
            if sample_name == name and wanted <= sample_labels
        }


def scrape(peers: Peers) -> Scrape:
    with peers.client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    families: dict[str, str] = {}
    for family in text_string_to_metric_families(answer.text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples, families)


class Delta:
    """What changed between two scrapes."""

    def __init__(self, before: Scrape, after: Scrape) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return self.after.value(name, **labels) - self.before.value(name, **labels)

    def labelled(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        """The non-zero changes of every ``name`` sample whose labels include ``labels``."""
        after, before = self.after.matching(name, **labels), self.before.matching(name, **labels)
        changes = {key: value - before.get(key, 0.0) for key, value in after.items()}
        return {key: change for key, change in changes.items() if change}


def settled(
    peers: Peers, before: Scrape, done: Callable[[Delta], bool], timeout: float = 5
) -> Delta:
    """Scrape until ``done(delta)`` holds (a stream is recorded as its generator finishes)."""
    deadline = time.monotonic() + timeout
    while True:
        delta = Delta(before, scrape(peers))
        if done(delta) or time.monotonic() > deadline:
            return delta
        time.sleep(0.05)


def assert_histogram(delta: Delta, name: str, count: int, model: str) -> None:
    """``count`` new observations, consistent across ``_count``, ``_sum`` and the buckets."""
    assert delta.after.families[name] == "histogram"
    assert delta(f"{name}_count", model=model) == count
    assert delta(f"{name}_bucket", model=model, le="+Inf") == count
    if count:
        assert delta(f"{name}_sum", model=model) > 0
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for labels, value in delta.after.matching(f"{name}_bucket", model=model).items()
    )
    assert len(buckets) > 2
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative


def stream_usage(text: str) -> dict[str, int]:
    payloads = sse_payloads(text)
    assert payloads[-1] == "[DONE]"
    assert not any(isinstance(p, dict) and "error" in p for p in payloads), payloads
    usages = [p["usage"] for p in payloads if isinstance(p, dict) and p.get("usage")]
    assert len(usages) == 1, payloads
    return usages[0]


def chat_once(peers: Peers, **body: Any) -> dict[str, Any]:
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, **body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stream_once(peers: Peers, **body: Any) -> str:
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stream=True, **body)
    assert answer.status_code == 200, answer.text
    return answer.text


# -- tests ---------------------------------------------------------------------------------------


def test_requests_are_counted_by_model_route_and_code(peers: Peers) -> None:
    model = peers.model
    before = scrape(peers)

    chat_once(peers)
    stream_usage(stream_once(peers, stream_options={"include_usage": True}))
    peers.sim.patch(state="paused")
    with peers.client() as client:
        refused = chat(client, model, messages=MESSAGES)
    assert refused.status_code == 503, refused.text

    delta = settled(
        peers,
        before,
        lambda d: d("hfgate_requests_total", model=model, route="chat", code="200") >= 2,
    )
    assert before.families["hfgate_requests"] == "counter"
    assert delta.labelled("hfgate_requests_total", model=model) == {
        frozenset({("model", model), ("route", "chat"), ("code", "200")}): 2,
        frozenset({("model", model), ("route", "chat"), ("code", "503")}): 1,
    }
    assert_histogram(delta, "hfgate_request_seconds", 3, model)  # failures are timed too


def test_a_stream_reports_its_time_to_first_token(peers: Peers) -> None:
    model = peers.model
    peers.sim.patch(token_delay=0.02)
    before = scrape(peers)

    chat_once(peers)
    plain = settled(peers, before, lambda d: d("hfgate_request_seconds_count", model=model) >= 1)
    assert_histogram(plain, "hfgate_time_to_first_token_seconds", 0, model)  # not a stream

    stream_usage(stream_once(peers, stream_options={"include_usage": True}))
    delta = settled(peers, before, lambda d: d("hfgate_request_seconds_count", model=model) >= 2)
    assert_histogram(delta, "hfgate_time_to_first_token_seconds", 1, model)
    # The first token comes before the end of the stream, the end after 16 tokens 20 ms apart.
    stream_seconds = delta("hfgate_request_seconds_sum", model=model) - plain(
        "hfgate_request_seconds_sum", model=model
    )
    assert 0 < delta("hfgate_time_to_first_token_seconds_sum", model=model) < stream_seconds
    assert stream_seconds >= 15 * 0.02


def test_upstream_time_is_observed_per_successful_endpoint_call(peers: Peers) -> None:
    model = peers.model
    peers.sim.patch(token_delay=0.02)  # 16 tokens: at least 0.3 s at the endpoint
    before = scrape(peers)

    chat_once(peers)
    plain = settled(peers, before, lambda d: d("hfgate_upstream_seconds_count", model=model) >= 1)
    assert_histogram(plain, "hfgate_upstream_seconds", 1, model)
    assert plain("hfgate_upstream_seconds_sum", model=model) >= 15 * 0.02
    assert plain("hfgate_upstream_seconds_sum", model=model) <= plain(
        "hfgate_request_seconds_sum", model=model
    )

    peers.sim.patch(state="paused")  # the endpoint refuses: no endpoint time to speak of
    with peers.client() as client:
        assert chat(client, model, messages=MESSAGES).status_code == 503
    failed = settled(peers, before, lambda d: d("hfgate_request_seconds_count", model=model) >= 2)
    assert failed("hfgate_request_seconds_count", model=model) == 2
    assert failed("hfgate_upstream_seconds_count", model=model) == 1


def test_upstream_time_is_observed_for_streams(peers: Peers) -> None:
    model = peers.model
    peers.sim.patch(token_delay=0.02)
    before = scrape(peers)

    stream_usage(stream_once(peers, stream_options={"include_usage": True}))
    with peers.client() as client:
        native = client.post(
            f"/tgi/{model}/generate_stream",
            json={"inputs": "The gateway streams", "parameters": {"max_new_tokens": 4}},
        )
    assert native.status_code == 200, native.text

    delta = settled(
        peers, before, lambda d: d("hfgate_upstream_seconds_count", model=model) >= 2, timeout=2
    )
    assert_histogram(delta, "hfgate_upstream_seconds", 2, model)
    assert delta("hfgate_upstream_seconds_sum", model=model) >= 15 * 0.02 + 3 * 0.02


def test_tokens_are_the_usage_the_answers_reported(peers: Peers) -> None:
    model = peers.model
    before = scrape(peers)

    usages = [
        chat_once(peers)["usage"],
        chat_once(peers, max_tokens=5)["usage"],
        stream_usage(stream_once(peers, stream_options={"include_usage": True})),
        stream_usage(stream_once(peers, max_tokens=3, stream_options={"include_usage": True})),
    ]

    assert [u["completion_tokens"] for u in usages] == [16, 5, 16, 3]
    prompt = sum(u["prompt_tokens"] for u in usages)
    completion = sum(u["completion_tokens"] for u in usages)
    delta = settled(
        peers,
        before,
        lambda d: d("hfgate_requests_total", model=model, route="chat", code="200") >= 4,
    )
    assert before.families["hfgate_tokens"] == "counter"
    assert delta.labelled("hfgate_tokens_total", model=model) == {
        frozenset({("model", model), ("kind", "prompt")}): prompt,
        frozenset({("model", model), ("kind", "completion")}): completion,
    }


def test_a_wake_from_scale_to_zero_is_a_cold_start_with_its_duration(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt is held for less than the cold start, so hfgate's waker takes over."""
    model = peers.model
    monkeypatch.setattr("hfgate.endpoints.waking.FIRST_HOLD", FIRST_HOLD)
    peers.sim.patch(state="scaled_to_zero", cold_start=COLD_START)
    before = scrape(peers)

    started = time.monotonic()
    chat_once(peers)
    waited = time.monotonic() - started

    assert peers.sim.stats()["wakeups"] == 1
    delta = settled(peers, before, lambda d: d("hfgate_cold_starts_total", model=model) >= 1)
    assert before.families["hfgate_cold_starts"] == "counter"
    assert delta("hfgate_cold_starts_total", model=model) == 1
    assert_histogram(delta, "hfgate_cold_start_seconds", 1, model)
    # Timed from the first attempt, its hold included.
    seconds = delta("hfgate_cold_start_seconds_sum", model=model)
    assert COLD_START * 0.8 <= seconds <= waited

    # Awake now: the next request is no cold start.
    chat_once(peers)
    after = settled(
        peers,
        before,
        lambda d: d("hfgate_requests_total", model=model, route="chat", code="200") >= 2,
    )
    assert after("hfgate_cold_starts_total", model=model) == 1
    assert after("hfgate_cold_start_seconds_count", model=model) == 1


@pytest.mark.parametrize(("route", "tokens"), [("generate", 3), ("generate_stream", 4)])
def test_tgi_routes_are_labelled_tgi(peers: Peers, route: str, tokens: int) -> None:
    """Both TGI routes count as ``tgi``; a stream also reports its first token."""
    model = peers.model
    before = scrape(peers)

    with peers.client() as client:
        answer = client.post(
            f"/tgi/{model}/{route}",
            json={"inputs": "The gateway streams", "parameters": {"max_new_tokens": tokens}},
        )
    assert answer.status_code == 200, answer.text
    streamed = route == "generate_stream"
    if streamed:
        assert len(sse_payloads(answer.text)) == tokens

    delta = settled(
        peers,
        before,
        lambda d: d("hfgate_requests_total", model=model, route="tgi", code="200") >= 1,
    )
    assert delta.labelled("hfgate_requests_total", model=model) == {
        frozenset({("model", model), ("route", "tgi"), ("code", "200")}): 1,
    }
    assert delta("hfgate_tokens_total", model=model, kind="completion") == tokens
    assert_histogram(delta, "hfgate_request_seconds", 1, model)
    if streamed:
        assert_histogram(delta, "hfgate_time_to_first_token_seconds", 1, model)
    else:
        assert delta("hfgate_tokens_total", model=model, kind="prompt") > 0
        assert_histogram(delta, "hfgate_upstream_seconds", 1, model)
