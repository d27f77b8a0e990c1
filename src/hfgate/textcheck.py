"""Short texts people type (names, emails, titles): printable, one line, no tricks.

Control characters could split a header or a log line; format characters (right-to-left
overrides, zero-width spaces) make ``evil‮gpj.exe`` look like ``evilexe.jpg`` or ``ad​min`` look
like ``admin``; lone surrogates break encoders and databases.
"""

from __future__ import annotations

import unicodedata

from hfgate.errors import InvalidRequest

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def has_hidden(text: str) -> bool:
    """A control, format, surrogate, private-use or unassigned character anywhere in ``text``."""
    return any(unicodedata.category(char) in HIDDEN_CATEGORIES for char in text)


def plain_text(value: object, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{field} must be a non-empty string", param=field)
    text = value.strip()
    if len(text) > max_length:
        raise InvalidRequest(
            f"{field} is {len(text)} characters long; the limit is {max_length}", param=field
        )
    if has_hidden(text):
        raise InvalidRequest(
            f"{field} contains a control or invisible character (a line break, a right-to-left"
            " mark, a zero-width space…): retype it",
            param=field,
        )
    return text


# A cell a spreadsheet would run as a formula: key names, emails and model ids are chosen by
# whoever made them, and a CSV export is opened by others.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value``, with text that starts like a formula quoted by a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
