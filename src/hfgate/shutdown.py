"""Shutting down: draining, so a load balancer stops sending new work.

On SIGTERM the process first reports draining (``/readyz`` answers 503) and keeps serving for
``HFGATE_DRAIN_SECONDS`` so the balancer notices; then uvicorn's own handler stops accepting
and lets in-flight streams finish (up to ``HFGATE_SHUTDOWN_GRACE`` seconds). Installed from the
app's lifespan, so it works the same with one process or ``--workers N``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_draining = threading.Event()


def draining() -> bool:
    return _draining.is_set()


def install_drain(drain_seconds: float) -> None:
    """Wrap the server's SIGTERM handler (installed before the app starts) with a drain delay."""
    if threading.current_thread() is not threading.main_thread():
        return  # in-process test servers run on other threads and own no signals
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    loop = asyncio.get_running_loop()
    stop: Callable[[int, FrameType | None], Any] = previous

    def on_term(sig: int, frame: FrameType | None) -> None:
        if _draining.is_set() or drain_seconds <= 0:
            _draining.set()
            stop(sig, frame)
            return
        _draining.set()
        loop.call_soon_threadsafe(lambda: loop.call_later(drain_seconds, stop, sig, frame))

    signal.signal(signal.SIGTERM, on_term)
