"""What the usage report adds up per cell (a group's bucket, a model over the range, …)."""

from __future__ import annotations

from typing import Any

from hfgate.reports.stats import Sample

ERROR_STATUS = 400  # a call answered 4xx or 5xx counts as an error


class Cell:
    """Requests, tokens and errors of some usage rows; with ``timed``, their TTFT and
    latency too (kept as samples, for percentiles)."""

    __slots__ = (
        "completion_tokens",
        "errors",
        "latency",
        "latency_sum",
        "prompt_tokens",
        "requests",
        "ttft",
        "ttft_count",
        "ttft_sum",
    )

    def __init__(self, timed: bool = False) -> None:
        self.requests = self.errors = self.prompt_tokens = self.completion_tokens = 0
        self.latency_sum = self.ttft_sum = 0.0
        self.ttft_count = 0
        self.latency: Sample | None = Sample() if timed else None
        self.ttft: Sample | None = Sample() if timed else None

    def add(
        self, status: int, prompt: int, completion: int, latency: float, ttft: float | None
    ) -> None:
        self.requests += 1
        self.errors += status >= ERROR_STATUS
        self.prompt_tokens += prompt or 0
        self.completion_tokens += completion or 0
        self.latency_sum += latency or 0.0
        if ttft is not None:
            self.ttft_sum += ttft
            self.ttft_count += 1
        if self.latency is not None and self.ttft is not None:
            self.latency.add(latency)
            self.ttft.add(ttft)

    def counts(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": self.errors,
        }

    def percentiles(self) -> dict[str, float | None]:
        ttft, latency = self.ttft or Sample(), self.latency or Sample()
        return {
            "ttft_p50_ms": ttft.percentile(0.5),
            "ttft_p95_ms": ttft.percentile(0.95),
            "latency_p50_ms": latency.percentile(0.5),
            "latency_p95_ms": latency.percentile(0.95),
        }

    def averages(self) -> dict[str, float | None]:
        """The figures ``GET /api/usage`` has always had in ``by_model`` and ``by_key``."""
        return {
            "avg_latency_ms": round(self.latency_sum / self.requests, 2) if self.requests else 0.0,
            "avg_ttft_ms": round(self.ttft_sum / self.ttft_count, 2) if self.ttft_sum else None,
        }
