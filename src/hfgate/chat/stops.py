"""Removing stop sequences from generated text, as OpenAI does (TGI keeps them).

Streaming makes this subtle: a stop sequence can arrive split across tokens, so the text that
could still become one is held back until it cannot.
"""

from __future__ import annotations


class StopTrimmer:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Text that is safe to emit now."""
        if not self.stops:
            return text
        if self.stopped:
            return ""
        self._buffer += text
        cut = self._first_stop()
        if cut is not None:
            self.stopped = True
            out, self._buffer = self._buffer[:cut], ""
            return out
        safe = len(self._buffer) - self._hold
        if safe <= 0:
            return ""
        out, self._buffer = self._buffer[:safe], self._buffer[safe:]
        return out

    def flush(self) -> str:
        out, self._buffer = self._buffer, ""
        return out

    def _first_stop(self) -> int | None:
        found = [i for i in (self._buffer.find(s) for s in self.stops) if i >= 0]
        return min(found) if found else None


def trim_stop(text: str, stops: list[str]) -> str:
    trimmer = StopTrimmer(stops)
    return trimmer.feed(text) + trimmer.flush()
