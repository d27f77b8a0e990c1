"""A deterministic tokenizer whose counts tests can compute exactly.

Rules (stable across processes and versions of Python):

* special tokens ``<s>`` (BOS, id 1), ``</s>`` (EOS, id 2), ``<unk>`` (0), ``<|im_start|>``
  (32000), ``<|im_end|>`` (32001) and ``<image>`` (32002, a vision model's image placeholder,
  ``vision.py``) are one token each, wherever they appear;
* otherwise a token is a run of word characters with the whitespace before it (``" world"``),
  or one other character with the whitespace before it (``" ,"``), or whitespace that precedes
  a special token or the end of the text;
* ids of ordinary tokens are ``3 + crc32(utf-8 text) % 31997``.

The tokens concatenate back to the exact input. ``/tokenize`` and generation requests add BOS
(as TGI does with ``add_special_tokens=true``); chat prompts do not (the template supplies it).
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
IM_START, IM_END, IMAGE = "<|im_start|>", "<|im_end|>", "<image>"
SPECIAL_IDS: dict[str, int] = {
    UNK: 0, BOS: 1, EOS: 2, IM_START: 32000, IM_END: 32001, IMAGE: 32002,
}  # fmt: skip
BOS_ID, EOS_ID = SPECIAL_IDS[BOS], SPECIAL_IDS[EOS]
VOCAB_SIZE = 32000

_SPECIAL = "|".join(re.escape(s) for s in sorted(SPECIAL_IDS, key=len, reverse=True))
PATTERN = re.compile(
    rf"{_SPECIAL}|\s*\w+|\s*(?!{_SPECIAL})[^\w\s]|\s+(?=(?:{_SPECIAL}))|\s+",
)


@dataclass(frozen=True, slots=True)
class SimpleToken:
    """One token of ``/tokenize``: its id, text and byte offsets into the input."""

    id: int
    text: str
    start: int
    stop: int

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "start": self.start, "stop": self.stop}


def split(text: str) -> list[str]:
    """The token texts of ``text`` (no BOS)."""
    return PATTERN.findall(text)


@functools.lru_cache(maxsize=4096)
def count(text: str) -> int:
    """How many tokens ``text`` is, without BOS."""
    return len(PATTERN.findall(text))


@functools.lru_cache(maxsize=65536)
def token_id(piece: str) -> int:
    special = SPECIAL_IDS.get(piece)
    if special is not None:
        return special
    return 3 + zlib.crc32(piece.encode()) % (VOCAB_SIZE - 3)


def encode(text: str, add_bos: bool) -> list[SimpleToken]:
    """Tokens with byte offsets, as TGI's ``/tokenize`` reports them (BOS has empty text)."""
    tokens = [SimpleToken(BOS_ID, "", 0, 0)] if add_bos else []
    offset = 0
    for piece in PATTERN.findall(text):
        size = len(piece.encode())
        tokens.append(SimpleToken(token_id(piece), piece, offset, offset + size))
        offset += size
    return tokens


def input_length(text: str, add_bos: bool) -> int:
    """What TGI's validation counts: the prompt's tokens, plus BOS with special tokens."""
    return count(text) + (1 if add_bos else 0)
