"""One deterministic string that a regex matches: TGI's ``{"type": "regex", "value": …}`` grammar.

outlines (TGI's ``server/text_generation_server/utils/logits_process.py``) constrains the whole
output to the regex; the simulator writes one matching string. A small recursive parser walks
the pattern: alternation takes its first branch; a quantifier repeats its minimum, or once when
that is 0 and more are allowed (``\\d*`` → ``"0"``, ``-?`` → ``"-"``); a character class,
``.`` and ``\\d``/``\\w``/``\\s`` (and their negations) take the first character of
``a-z 0-9 A-Z``, space and ASCII punctuation that Python's ``re`` says they match; anchors
(``^ $ \\b \\A \\Z``) write nothing; groups (``(…)``, ``(?:…)``, ``(?P<n>…)``) are transparent.

Limits (``RegexUnsupported``): lookarounds, backreferences, conditionals and inline flags;
a class no ASCII printable character matches; and every result is checked with
``re.fullmatch``, so a pattern Python's ``re`` reads differently from Rust's is refused rather
than answered wrongly.
"""

from __future__ import annotations

import re
import string

CANDIDATES = (
    string.ascii_lowercase + string.digits + string.ascii_uppercase + " " + string.punctuation
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
_CLASS_ESCAPES = frozenset("dDwWsS")
_ANCHOR_ESCAPES = frozenset("bBAZz")


class RegexUnsupported(ValueError):
    """The simulator cannot write a string for this pattern (see the module's limits)."""


def sample(pattern: str, anchored: bool = True) -> str:
    """A string ``pattern`` matches: entirely when ``anchored`` (outlines), else by ``re.search``
    (JSON schema's ``pattern``, which is not anchored)."""
    parser = _Parser(pattern)
    text = parser.alternation()
    if parser.pos != len(pattern):
        raise RegexUnsupported(f"unbalanced ')' at position {parser.pos}")
    try:
        ok = re.fullmatch(pattern, text) if anchored else re.search(pattern, text)
    except re.error as exc:
        raise RegexUnsupported(f"not a valid regex: {exc}") from None
    if not ok:
        raise RegexUnsupported("the simulator's sample does not match it")
    return text


def _first_match(atom: str) -> str:
    try:
        compiled = re.compile(atom)
    except re.error as exc:
        raise RegexUnsupported(f"{atom!r}: {exc}") from None
    for char in CANDIDATES:
        if compiled.fullmatch(char):
            return char
    raise RegexUnsupported(f"no printable ASCII character matches {atom!r}")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else ""

    def alternation(self) -> str:
        first = self.sequence()
        while self.peek() == "|":
            self.pos += 1
            self.sequence()  # parsed for its syntax; the first branch is the one written
        return first

    def sequence(self) -> str:
        out = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            out.append(atom * self.repeat())
        return "".join(out)

    def atom(self) -> str:
        char = self.peek()
        self.pos += 1
        if char == "(":
            return self.group()
        if char == "[":
            return _first_match(self.char_class())
        if char == ".":
            return _first_match(".")
        if char in "^$":
            return ""
        if char == "\\":
            return self.escape()
        if char in "*+?":
            raise RegexUnsupported(f"nothing to repeat at position {self.pos - 1}")
        return char

    def group(self) -> str:
        if self.pattern.startswith("?:", self.pos):
            self.pos += 2
        elif self.pattern.startswith("?P<", self.pos) or self.pattern.startswith("?<", self.pos):
            end = self.pattern.find(">", self.pos)
            if end < 0 or self.pattern[self.pos + 1 : self.pos + 3] in ("<=", "<!"):
                raise RegexUnsupported("lookbehind is not supported")
            self.pos = end + 1
        elif self.peek() == "?":
            raise RegexUnsupported("lookarounds, conditionals and inline flags are not supported")
        inner = self.alternation()
        if self.peek() != ")":
            raise RegexUnsupported("missing ')'")
        self.pos += 1
        return inner

    def char_class(self) -> str:
        start = self.pos - 1
        if self.peek() == "^":
            self.pos += 1
        if self.peek() == "]":  # a leading ']' is a literal
            self.pos += 1
        while self.peek() not in ("", "]"):
            self.pos += 2 if self.peek() == "\\" else 1
        if self.peek() != "]":
            raise RegexUnsupported("missing ']'")
        self.pos += 1
        return self.pattern[start : self.pos]

    def escape(self) -> str:
        char = self.peek()
        if not char:
            raise RegexUnsupported("a trailing backslash")
        self.pos += 1
        if char in _CLASS_ESCAPES:
            return _first_match("\\" + char)
        if char in _ANCHOR_ESCAPES:
            return ""
        if char.isdigit() and char != "0":
            raise RegexUnsupported("backreferences are not supported")
        return _ESCAPES.get(char, char)

    def repeat(self) -> int:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (bounds := self.braces()) is not None:
            low, high = bounds
        else:
            return 1
        if self.peek() in ("?", "+"):  # lazy or possessive: the same strings
            self.pos += 1
        return low if low > 0 or high == 0 else 1

    def braces(self) -> tuple[int, int | None] | None:
        match = re.compile(r"\{(\d*)(,?)(\d*)\}").match(self.pattern, self.pos)
        if match is None or not (match.group(1) or match.group(3)):
            return None  # a literal '{', as in Python and Rust
        self.pos = match.end()
        low = int(match.group(1) or 0)
        if not match.group(2):
            return low, low
        return low, int(match.group(3)) if match.group(3) else None
