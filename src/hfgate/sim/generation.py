"""Deterministic generation: the same prompt and seed always give the same reply.

A reply is drawn from a fixed word list by a PRNG seeded with ``crc32(prompt) ^ seed`` (the seed
only counts when sampling, as with a real greedy decoder). Its natural length is
``reply_tokens``, the last of which is EOS; ``max_new_tokens`` cuts it short (``length``) and a
stop sequence ends it as soon as the text ends with it (``stop_sequence``; TGI keeps the stop
sequence in the text). Every word is exactly one token of ``hfgate.sim.tokenizer``, so a reply
re-tokenizes to the number of tokens generated (EOS excluded).
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, field
from typing import Literal

from hfgate.sim.tokenizer import EOS, EOS_ID, token_id

FinishReason = Literal["length", "eos_token", "stop_sequence"]

WORDS: tuple[str, ...] = (
    "the", "model", "answers", "with", "a", "simple", "and", "stable", "reply", "that",
    "every", "test", "can", "predict", "from", "its", "prompt", "tokens", "arrive", "one",
    "by", "over", "time", "so", "clients", "see", "streams", "of", "text", "in",
    "small", "pieces", "while", "gateway", "counts", "them", "carefully", "before", "sending",
    "more", "data", "to", "people", "who", "wait", "for", "an", "endpoint", "it",
)  # fmt: skip
PUNCTUATION: tuple[str, ...] = (",", ".")


@dataclass(frozen=True, slots=True)
class Token:
    """A generated token as TGI reports it."""

    id: int
    text: str
    logprob: float
    special: bool

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "logprob": self.logprob, "special": self.special}


def _logprob(piece: str) -> float:
    # Deterministic, plausible, never 0: in (-2.0, -0.001].
    return -round(0.001 + (zlib.crc32(piece.encode()) % 2000) / 1000, 3)


def _make(piece: str) -> Token:
    return Token(token_id(piece), piece, _logprob(piece), False)


_SPACED: tuple[Token, ...] = tuple(_make(" " + w) for w in WORDS)
_BARE: tuple[Token, ...] = tuple(_make(w) for w in WORDS)
_PUNCT: tuple[Token, ...] = tuple(_make(p) for p in PUNCTUATION)
EOS_TOKEN = Token(EOS_ID, EOS, -0.05, True)


@dataclass(slots=True)
class Plan:
    """Everything one generation produces, decided up front (the stream replays it)."""

    tokens: list[Token]
    finish_reason: FinishReason
    text: str  # generated text, special tokens excluded
    seed: int | None
    input_length: int
    top_tokens: list[list[Token]] = field(default_factory=list)

    @property
    def generated_tokens(self) -> int:
        return len(self.tokens)


def effective_seed(prompt: str, seed: int | None, sampling: bool) -> int | None:
    """The seed TGI reports: null when greedy, the given or a drawn one when sampling."""
    if not sampling:
        return None
    return seed if seed is not None else zlib.crc32(prompt.encode()) * 2654435761 % 2**63


def _words(rng: random.Random, count: int, first_bare: bool) -> list[Token]:
    tokens: list[Token] = []
    for i in range(count):
        if i % 7 == 6:  # a comma or full stop now and then, for realistic text
            tokens.append(_PUNCT[rng.randrange(2)])
            continue
        pool = _BARE if (i == 0 and first_bare) else _SPACED
        tokens.append(pool[rng.randrange(len(pool))])
    return tokens


def plan(
    prompt: str,
    *,
    input_length: int,
    max_new_tokens: int,
    natural: int,
    stop: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
    sampling: bool = False,
    first_bare: bool = False,
    top_n: int = 0,
) -> Plan:
    """Generate up to ``max_new_tokens`` tokens of a reply whose natural length is ``natural``."""
    used_seed = effective_seed(prompt, seed, sampling)
    rng = random.Random(zlib.crc32(prompt.encode()) ^ (used_seed or 0))
    words = _words(rng, min(max_new_tokens, natural - 1), first_bare)
    tokens, text, reason = _stop_at(words, stop)
    if reason is None:
        if len(words) < max_new_tokens:
            tokens.append(EOS_TOKEN)
            reason = "eos_token"
        else:
            reason = "length"
    tops = [top_tokens(t, top_n) for t in tokens] if top_n else []
    return Plan(tokens, reason, text, used_seed, input_length, tops)


# Constrained output comes in "JSON pieces": a word with the whitespace before it, or a run of
# punctuation (``{"``, ``":``, ``"}}``), as BPE vocabularies hold them. TGI's streamed tool
# calls depend on it: ``chat.rs`` swallows the token that closes the function's name, which
# must therefore carry the ``",`` after it (see its test ``test_chat_stream_tool_get_weather``).
PIECES = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")


def scripted(
    prompt: str,
    text: str,
    *,
    input_length: int,
    max_new_tokens: int,
    stop: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
    sampling: bool = False,
    top_n: int = 0,
) -> Plan:
    """A reply whose text is fixed (grammar-constrained output), then EOS; cut like ``plan``."""
    used_seed = effective_seed(prompt, seed, sampling)
    pieces = [_make(p) for p in PIECES.findall(text)]
    tokens, out, reason = _stop_at(pieces[:max_new_tokens], stop)
    if reason is None:
        if len(pieces) < max_new_tokens:
            tokens.append(EOS_TOKEN)
            reason = "eos_token"
        else:
            reason = "length"
    tops = [top_tokens(t, top_n) for t in tokens] if top_n else []
    return Plan(tokens, reason, out, used_seed, input_length, tops)


def _stop_at(
    words: list[Token], stop: list[str] | tuple[str, ...]
) -> tuple[list[Token], str, FinishReason | None]:
    if not stop:
        return list(words), "".join(t.text for t in words), None
    text = ""
    for i, token in enumerate(words):
        text += token.text
        if any(text.endswith(s) for s in stop if s):
            return words[: i + 1], text, "stop_sequence"
    return list(words), text, None


def top_tokens(token: Token, n: int) -> list[Token]:
    """The ``n`` most likely candidates at a position: the chosen token first."""
    if n <= 0:
        return []
    start = zlib.crc32(token.text.encode()) % len(_SPACED)
    others = [_SPACED[(start + k) % len(_SPACED)] for k in range(1, n)]
    return [token] + [
        Token(t.id, t.text, round(token.logprob - k, 3), False) for k, t in enumerate(others, 1)
    ]


def prefill(prompt_tokens: list[tuple[int, str]]) -> list[dict[str, object]]:
    """``details.prefill`` for ``decoder_input_details``: the first token has no logprob."""
    return [
        {"id": tid, "text": text, "logprob": None if i == 0 else _logprob(text)}
        for i, (tid, text) in enumerate(prompt_tokens)
    ]
