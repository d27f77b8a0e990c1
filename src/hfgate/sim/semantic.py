"""Meaningful, deterministic stand-ins for a model's numbers: embeddings, relevance, sentiment.

Tests of an embeddings gateway assert *order* ("cats purr" is closer to "my cat purrs softly"
than to "stock market crash"), so random vectors will not do. A text's vector is a hashed bag
of words: each word is lower-cased, stripped of a few English endings (``purrs`` → ``purr``,
``cats`` → ``cat``) and, unless it is a stop word, adds ±1 to three coordinates that
``crc32(word, k)`` picks among the first 16, 64 and ``DIMENSIONS``. Texts sharing words share
coordinates, so their cosine similarity is high; texts sharing none are near 0. Everything is
stable across processes and Python versions (crc32, no ``hash()``).

* ``pooled(text)``: the unnormalised vector (what TEI returns with ``normalize: false``);
* ``unit(vector)``: scaled to length 1 (TEI's default), zero vectors left as they are;
* ``relevance(query, text)``: a cross-encoder's raw logit, ``10 × cosine − 5``;
* ``sentiment(text)``: ``[negative, positive]`` logits from two small word lists.
"""

from __future__ import annotations

import functools
import math
import re
import zlib

DIMENSIONS = 384  # what BAAI/bge-small-en-v1.5 and all-MiniLM-L6-v2 return
# One coordinate per span: every word touches the first 16 and 64 coordinates too, so vectors
# cut short (Matryoshka ``dimensions``) keep their meaning, as trained models' do.
SPANS = (16, 64, DIMENSIONS)

_WORD = re.compile(r"[^\W_]+")
_ENDINGS = ("ingly", "edly", "ing", "ed", "ly")
_STOP_WORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "does", "for", "from",
        "had", "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "my", "of",
        "on", "or", "our", "she", "so", "that", "the", "their", "them", "they", "this", "to",
        "was", "we", "were", "what", "when", "which", "who", "why", "will", "with", "you",
        "your"
    )
)  # fmt: skip
_POSITIVE = frozenset(
    (
        "amazing", "best", "brilliant", "delight", "delightful", "enjoy", "excellent",
        "fantastic", "fine", "glad", "good", "great", "happy", "like", "love", "lovely", "nice",
        "perfect", "pleasant", "recommend", "superb", "wonderful"
    )
)  # fmt: skip
_NEGATIVE = frozenset(
    (
        "angry", "awful", "bad", "broken", "crash", "disappoint", "hate", "horrible", "poor",
        "sad", "terrible", "ugly", "unhappy", "upset", "useless", "worse", "worst", "wrong"
    )
)  # fmt: skip


def stem(word: str) -> str:
    """``word`` lower-cased without one common English ending, so that "purrs", "purring" and
    "purr" (or "cats" and "cat") are one word; the stem keeps at least 3 letters."""
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The content words of ``text``, stemmed; all its words if they are all stop words, and
    the text itself if it has none (so every non-empty input gets a non-zero vector)."""
    found = [w.lower() for w in _WORD.findall(text)]
    content = [stem(w) for w in found if w not in _STOP_WORDS]
    return content or [stem(w) for w in found] or ([text] if text else [])


@functools.lru_cache(maxsize=8192)
def _slots(word: str) -> tuple[tuple[int, float], ...]:
    # crc32 of the word salted with k: a coordinate, and a sign from a higher bit
    slots = []
    for k, span in enumerate(SPANS):
        h = zlib.crc32(f"{k}:{word}".encode())
        slots.append((h % span, 1.0 if (h >> 16) & 1 else -1.0))
    return tuple(slots)


def pooled(text: str) -> list[float]:
    """The unnormalised bag-of-words vector of ``text``."""
    vector = [0.0] * DIMENSIONS
    for word in words(text):
        for index, sign in _slots(word):
            vector[index] += sign
    return vector


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def cosine(a: list[float], b: list[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


def relevance(query: str, text: str) -> float:
    """A cross-encoder's raw score (a logit): positive when the texts share much."""
    return round(10.0 * cosine(pooled(query), pooled(text)) - 5.0, 6)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def sentiment(text: str) -> tuple[float, float]:
    """``(negative, positive)`` logits: each positive word moves them 2 apart, each negative
    word 2 back."""
    score = 0.0
    for word in (w.lower() for w in _WORD.findall(text)):
        forms = {word, stem(word), stem(word) + "e"}
        score += 2.0 * (bool(forms & _POSITIVE) - bool(forms & _NEGATIVE))
    return (-score / 2, score / 2)


def softmax(logits: tuple[float, ...]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]
