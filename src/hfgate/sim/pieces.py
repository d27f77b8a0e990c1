"""Token ids back to text, for the engines' ``/decode`` and ``/detokenize`` routes.

The sim's token ids are hashes (``tokenizer.token_id``), so they cannot be inverted: every
piece the sim has tokenized for a caller is remembered here (at most ``LIMIT``), and decoding
an id never seen gives nothing, as a real tokenizer gives nothing for an unused id.
"""

from __future__ import annotations

from hfgate.sim import tokenizer

LIMIT = 65_536
_SEEN: dict[int, str] = {tokenizer.BOS_ID: tokenizer.BOS, tokenizer.EOS_ID: tokenizer.EOS}
_SPECIAL = frozenset(tokenizer.SPECIAL_IDS.values())


def ids(text: str, add_bos: bool) -> list[int]:
    """The token ids of ``text`` (BOS first when asked), remembered for ``decode``."""
    found = [tokenizer.BOS_ID] if add_bos else []
    for piece in tokenizer.split(text):
        token = tokenizer.token_id(piece)
        if len(_SEEN) < LIMIT:
            _SEEN.setdefault(token, piece)
        found.append(token)
    return found


def decode(token_ids: list[int], skip_special: bool) -> str:
    return "".join(
        _SEEN.get(token, "") for token in token_ids if not (skip_special and token in _SPECIAL)
    )
