"""TEI's inputs: what ``core/src/tokenization.rs`` checks before the model runs (``tei.py``).

``encode`` is ``tokenize_input`` + ``encode_input``, in their order: an empty input (400
``Empty``), ``prompt_name`` (a sentence-transformers prompt, ``tei_prompts``), more than
``max_input_length × 250`` characters (refused, or cut when truncating), the prompt with a
pair, then the tokens: truncated (``LongestFirst``, right or left) or refused over
``max_input_length`` (exactly the limit passes). ``parse_input`` and ``parse_predict`` are
serde's untagged ``Input`` and ``PredictInput`` (``router/src/http/types.rs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from hfgate.sim import pieces, tokenizer
from hfgate.sim.http import Rejection, text_response
from hfgate.sim.state import Runtime
from hfgate.sim.versions import parse_version

Item = str | list[int] | tuple[str, str]  # a text, token ids, or a (query, text) pair

MAX_CHAR_MULTIPLIER = 250
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


def _rejection(message: str) -> Rejection:
    response: Response = text_response(DESERIALIZE + message, 422)
    return Rejection(response)


class TeiError(Exception):
    """``ErrorResponse {error, error_type}``; the status follows the type (and the release)."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


def validation(detail: str) -> TeiError:
    return TeiError(f"Input validation error: {detail}", "Validation")


def backend(detail: str) -> TeiError:
    return TeiError(f"Backend error: {detail}", "Backend")


def since(runtime: Runtime, version: tuple[int, int, int]) -> bool:
    return (parse_version(runtime.config.tei_version) or (0, 0, 0)) >= version


def auto_truncate(runtime: Runtime) -> bool:
    """``--auto-truncate``: ``default_value = "true"`` since 1.9.0, off before."""
    configured = runtime.config.auto_truncate
    return configured if configured is not None else since(runtime, (1, 9, 0))


@dataclass(frozen=True, slots=True)
class Options:
    truncate: bool
    left: bool  # truncation_direction "Left"
    prompt_name: str | None
    special: bool = True  # add_special_tokens (only /tokenize turns it off)


@dataclass(frozen=True, slots=True)
class Encoded:
    """One input as the model saw it: its text(s), tokens (specials included) and characters."""

    texts: tuple[str, ...]
    tokens: int
    chars: int


def prompt_text(runtime: Runtime, name: str | None) -> str | None:
    if name is None:
        return None
    prompts = runtime.config.tei_prompts
    if prompts is None:
        raise validation(
            f"`default-prompt-name` is set to `{name}` but no prompts were found in the"
            " Sentence Transformers configuration"
        )
    if name not in prompts:
        keys = "[" + ", ".join(f'"{k}"' for k in prompts) + "]"
        raise validation(
            f"`default-prompt-name` is set to `{name}` but it was not found in the Sentence"
            f" Transformers prompts. Available prompts: {keys}"
        )
    return prompts[name]


def _chars(item: Item) -> int:
    if isinstance(item, tuple):
        return sum(len(text) for text in item)
    return len(item)


def _cut(item: Item, limit: int) -> Item:
    if isinstance(item, tuple):
        return (item[0][: limit // 2], item[1][: limit // 2])
    return item[:limit] if isinstance(item, str) else item


def _pieces(item: Item, prompt: str | None) -> tuple[list[list[str]], bool]:
    """The token texts of each sequence, and whether a special token leads them."""
    if isinstance(item, tuple):
        return [tokenizer.split(item[0]), tokenizer.split(item[1])], True
    if isinstance(item, list):  # ids: decoded, then re-encoded without specials unless prompted
        if prompt is None:  # an id the sim never gave out still means something: "#id"
            return [[pieces.decode([token], False) or f" #{token}" for token in item]], False
        return [tokenizer.split(prompt + pieces.decode(item, skip_special=False))], True
    return [tokenizer.split((prompt or "") + item)], True


def _truncate(seqs: list[list[str]], room: int, left: bool) -> None:
    """``TruncationStrategy::LongestFirst``: drop from the longest sequence until it fits."""
    while sum(map(len, seqs)) > room:
        longest = max(seqs, key=len)
        longest.pop(0 if left else -1)


def encode(runtime: Runtime, item: Item, opts: Options, check_length: bool = True) -> Encoded:
    """``tokenize_input`` and ``encode_input``: the checks in TEI's order, ``TeiError``s."""
    if (item == ("", "")) if isinstance(item, tuple) else not item:
        raise TeiError("Input validation error: `inputs` cannot be empty", "Empty")
    prompt = prompt_text(runtime, opts.prompt_name)
    limit = runtime.config.max_input_tokens
    chars = _chars(item)
    if chars > limit * MAX_CHAR_MULTIPLIER:
        if not opts.truncate:
            given = limit * MAX_CHAR_MULTIPLIER
            raise validation(f"`inputs` must have less than {given} characters. Given: {chars}")
        item = _cut(item, limit * MAX_CHAR_MULTIPLIER)
    if isinstance(item, tuple) and prompt is not None:
        raise validation("`prompt_name` cannot be set with dual inputs")
    seqs, special = _pieces(item, prompt)
    special = special and opts.special
    if opts.truncate:
        _truncate(seqs, limit - int(special), opts.left)
    tokens = sum(map(len, seqs)) + int(special)
    if check_length and tokens > limit:
        raise validation(f"`inputs` must have less than {limit} tokens. Given: {tokens}")
    return Encoded(tuple("".join(seq) for seq in seqs), tokens, chars)


def options(runtime: Runtime, body: dict[str, Any]) -> Options:
    truncate = body.get("truncate")
    direction = str(body.get("truncation_direction", "Right")).lower()
    truncate = auto_truncate(runtime) if truncate is None else bool(truncate)
    return Options(truncate, direction == "left", body.get("prompt_name"))


def validation_plain(message: str) -> TeiError:
    # built in server.rs as ErrorResponse directly: no "Input validation error: " prefix
    return TeiError(message, "Validation")


def is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in value
    )


def parse_input(value: Any, field: str = "inputs") -> tuple[list[Item], bool]:
    """``Input``: untagged ``Single(InputType) | Batch(Vec<InputType>)``, ``InputType`` a string
    or ids; ``[]`` is ``Single(Ids([]))``, so an empty list is an empty input."""
    if isinstance(value, str) or is_ids(value):
        return [value], True
    if isinstance(value, list) and all(isinstance(v, str) or is_ids(v) for v in value):
        return list(value), False
    message = f"{field}: data did not match any variant of untagged enum Input"
    raise _rejection(message)


def parse_predict(value: Any) -> tuple[list[Item], bool]:
    """``PredictInput``: a string, a pair ``[a, b]`` (or ``[a]``), or a batch of 1- or
    2-string lists (types.rs ``PredictInputVisitor``)."""

    def sequence(v: Any) -> Item | None:
        if isinstance(v, list) and all(isinstance(s, str) for s in v) and len(v) in (1, 2):
            return v[0] if len(v) == 1 else (v[0], v[1])
        return None

    if isinstance(value, str):
        return [value], True
    if (one := sequence(value)) is not None:
        return [one], True
    batch = [sequence(v) for v in value] if isinstance(value, list) and value else [None]
    if all(item is not None for item in batch):
        return [item for item in batch if item is not None], False
    expected = (
        "a string, a pair of strings [string, string] or a batch of mixed strings and pairs"
        " [[string], [string, string], ...]"
    )
    raise _rejection(f"inputs: invalid length, expected {expected}")
