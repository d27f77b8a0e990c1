"""Prometheus metrics (``GET /metrics``): traffic, errors, latency, tokens and cold starts.

With ``hfgate serve --workers N`` every worker writes to ``PROMETHEUS_MULTIPROC_DIR`` (set by
``serve``) and a scrape of any worker reports the sum over all of them.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
COLD_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200)

REQUESTS = Counter("hfgate_requests", "Generation requests", ["model", "route", "code"])
LATENCY = Histogram(
    "hfgate_request_seconds",
    "Whole request time through hfgate",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
TTFT = Histogram(
    "hfgate_time_to_first_token_seconds",
    "Time to the first streamed token",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM = Histogram(
    "hfgate_upstream_seconds",
    "Time the endpoint took per successful call: to the whole answer, or to a stream's end",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
TOKENS = Counter("hfgate_tokens", "Tokens relayed", ["model", "kind"])
# Counted when hfgate waits one out: the endpoint answered 502/503/504, or the proxy's hold of
# the first attempt (5 s) ran out. A wake-up shorter than that hold is invisible behind it.
COLD_STARTS = Counter(
    "hfgate_cold_starts", "Wake-ups of scaled-to-zero endpoints that hfgate waited out", ["model"]
)
COLD_START_SECONDS = Histogram(
    "hfgate_cold_start_seconds",
    "How long endpoints took to wake, from the first attempt",
    ["model"],
    buckets=COLD_BUCKETS,
)

# Usage records are written off the hot path; when the database refuses them (disk full, read
# only, restarting) they wait in memory and these say so.
USAGE_WRITE_FAILURES = Counter(
    "hfgate_usage_write_failures", "Attempts to write usage records that the database refused"
)
USAGE_UNWRITTEN = Gauge(
    "hfgate_usage_unwritten",
    "Usage records waiting in memory for the database",
    multiprocess_mode="livesum",
)
USAGE_DROPPED = Counter(
    "hfgate_usage_dropped", "Usage records dropped because too many were waiting"
)


def observe_request(
    model: str,
    route: str,
    code: int,
    seconds: float,
    ttft: float | None,
    prompt: int,
    completion: int,
) -> None:
    _requests(model, route, code).inc()
    latency, first_token, prompt_tokens, completion_tokens = _per_model(model)
    latency.observe(seconds)
    if ttft is not None:
        first_token.observe(ttft)
    if prompt:
        prompt_tokens.inc(prompt)
    if completion:
        completion_tokens.inc(completion)


# ``.labels()`` takes a lock and builds a key on every call; the label sets are few (models
# are registered by admins, routes and status codes are fixed), so each child is looked up once.
@functools.cache
def _requests(model: str, route: str, code: int) -> Counter:
    return REQUESTS.labels(model, route, str(code))


@functools.cache
def _per_model(model: str) -> tuple[Histogram, Histogram, Counter, Counter]:
    return (
        LATENCY.labels(model),
        TTFT.labels(model),
        TOKENS.labels(model, "prompt"),
        TOKENS.labels(model, "completion"),
    )


def observe_upstream(model: str, seconds: float) -> None:
    _upstream(model).observe(seconds)


@functools.cache
def _upstream(model: str) -> Histogram:
    return UPSTREAM.labels(model)


def observe_cold_start(model: str, seconds: float) -> None:
    COLD_STARTS.labels(model).inc()
    COLD_START_SECONDS.labels(model).observe(seconds)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
