"""The credential an admin pastes, parsed strictly and explained helpfully (docs/protocols.md §4.1).

Pure: no I/O. DNS names are resolved and judged later, at validation; here only what the text
itself says is checked (syntax, types, literal IPs, loopback names, plain http). Every field
problem is collected, one message each, naming the field and the fix. No message or note ever
contains the api_key, not even partly: admins paste these reports into tickets and chats.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from hfgate.errors import CredentialInvalid
from hfgate.textcheck import has_hidden
from hfgate.upstream.netguard import (
    ALLOWLIST_HINT,
    SCHEMES,
    HostPolicy,
    is_host_name,
    literal_ip,
    normalise_host,
)

MAX_CONTEXT_WINDOW = 10_000_000
MAX_ENDPOINT_LENGTH = 2048  # the column's size
MAX_NAME_LENGTH = 128
ENDPOINT_EXAMPLE = "https://xyz.us-east-1.aws.endpoints.huggingface.cloud"
MODEL_EXAMPLE = "meta-llama/Llama-2-7b-chat-hf"

# Routes people copy along with the base URL (docs show ".../v1/" as the OpenAI base).
# Longest first: "/v1/chat/completions" must win over "/chat/completions" and "/v1".
ROUTE_SUFFIXES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/chat/completions",
    "/generate_stream",
    "/chat_tokenize",
    "/v1/models",
    "/generate",
    "/tokenize",
    "/health",
    "/info",
    "/v1",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CURLY_QUOTES = "“”‘’"
_QUOTES = "\"'`" + _CURLY_QUOTES
_BEARER = re.compile(r"(authorization\s*:\s*)?bearer[\s:]", re.IGNORECASE)
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_NAME = re.compile(r"[A-Za-z0-9._:/-]+")
_HUB_HOSTS = ("huggingface.co/", "www.huggingface.co/", "hf.co/")


@dataclass(frozen=True)
class Credential:
    """A parsed, normalised credential. ``api_key`` stays out of ``repr`` (logs, tracebacks)."""

    api_key: str = field(repr=False)
    endpoint: str
    model_name: str
    context_window: int | None  # None: the endpoint's own limit, allowed for TEI only
    name: str

    def masked_key(self) -> str:
        return mask_secret(self.api_key)


@dataclass(frozen=True)
class Problem:
    field: str | None  # the JSON field, or None for the document as a whole
    message: str  # one sentence naming the field and the fix


@dataclass(frozen=True)
class ParsedCredential:
    credential: Credential | None  # None iff problems
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]  # non-fatal remarks, e.g. the URL normalisation

    def require(self) -> Credential:
        """The credential, or ``CredentialInvalid`` carrying every problem for the API body."""
        if self.credential is not None:
            return self.credential
        raise CredentialInvalid(
            " ".join(p.message for p in self.problems),
            param=self.problems[0].field if len(self.problems) == 1 else None,
            extra={"problems": [{"field": p.field, "message": p.message} for p in self.problems]},
        )


def mask_secret(secret: str) -> str:
    """``hf_…x9Qa``: never more than 7 characters of the secret, fewer when it is short."""
    if len(secret) >= 20:
        return f"{secret[:3]}…{secret[-4:]}"
    return f"…{secret[-2:]}" if len(secret) >= 8 else "…"


@dataclass(frozen=True)
class _Spec:
    what: str  # the value, as the fix in a message names it
    example: str  # a typical value, as JSON text


_SPECS = {
    "api_key": _Spec("the endpoint's access token", '"hf_…"'),
    "endpoint": _Spec("the endpoint URL", f'"{ENDPOINT_EXAMPLE}"'),
    "model_name": _Spec("the model's Hub repo id", f'"{MODEL_EXAMPLE}"'),
    "context_window": _Spec("the model's context length in tokens", "4096"),
    "name": _Spec("the model id users should see", '"llama-2-chat"'),
}
# context_window may be left out: a TEI endpoint's /info says it (its max_input_length), and
# validation refuses the credential with missing_message("context_window") for any other engine.
_REQUIRED = ("api_key", "endpoint", "model_name")

# Names seen in other tools' configs, keyed by _fold(): LiteLLM, OpenAI SDKs, vLLM, TGI.
_ALIASES = {
    **dict.fromkeys(("url", "endpointurl", "baseurl", "apibase", "host"), "endpoint"),
    **dict.fromkeys(("token", "hftoken", "apitoken", "accesstoken", "key"), "api_key"),
    **dict.fromkeys(("model", "modelid", "repoid", "repo"), "model_name"),
    **dict.fromkeys(("contextlength", "maxtotaltokens", "maxmodellen", "ctx"), "context_window"),
    **dict.fromkeys(("displayname", "alias", "modelalias", "servedmodelname"), "name"),
}


class _Refusal(Exception):
    """A field check's one message."""


@dataclass
class _Context:
    policy: HostPolicy
    notes: list[str]


def parse_credential(raw: str | bytes | Mapping[str, Any], policy: HostPolicy) -> ParsedCredential:
    """Parse what an admin pasted; every problem is reported, none is silently fixed."""
    document = _load(raw)
    if isinstance(document, Problem):
        return ParsedCredential(None, (document,), ())
    context = _Context(policy, [])
    problems = _name_problems(document)
    values: dict[str, Any] = {}
    for name, check in _CHECKS.items():
        if name not in document:
            continue
        try:
            values[name] = check(document[name], context)
        except _Refusal as refusal:
            problems.append(Problem(name, str(refusal)))
    problems += _key_reuse_problems(values)
    secret = document.get("api_key")
    problems = [Problem(p.field, _scrub(p.message, secret)) for p in problems]
    notes = tuple(_scrub(n, secret) for n in context.notes)
    if problems:
        return ParsedCredential(None, tuple(problems), notes)
    values.setdefault("name", values["model_name"])
    values.setdefault("context_window", None)
    return ParsedCredential(Credential(**values), (), notes)


def _key_reuse_problems(values: Mapping[str, Any]) -> list[Problem]:
    """A token pasted into a shown field would be displayed to every user and stored in clear."""
    key = str(values.get("api_key", "")).lower()
    if len(key) < 8:
        return []
    return [
        Problem(name, f"`{name}` contains the api_key: the token belongs only in `api_key`.")
        for name in ("endpoint", "model_name", "name")
        if key in str(values.get(name, "")).lower()
    ]


def _scrub(text: str, secret: Any) -> str:
    # A safety net: the checks never quote the key, but a key also pasted into another field
    # (a URL, where hosts are lower-cased) would otherwise be echoed from there.
    key = secret.strip() if isinstance(secret, str) else ""
    if len(key) < 6:
        return text
    return re.sub(re.escape(key), "[api_key]", text, flags=re.IGNORECASE)


# ---- the document ------------------------------------------------------------------------


class _Object(dict[str, Any]):
    """A JSON object that remembers names given more than once (``json`` keeps the last)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        counts = Counter(name for name, _ in pairs)
        self.duplicates = tuple(name for name, n in counts.items() if n > 1)


def _load(raw: str | bytes | Mapping[str, Any]) -> Mapping[str, Any] | Problem:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return _document(
                f"The credential is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset"
                f" {exc.start}): save or paste it as plain UTF-8 text."
            )
    text = raw.removeprefix("\ufeff")  # a BOM from a Windows editor is invisible to the admin
    if not text.strip():
        return _document("The credential is empty: paste the JSON from the endpoint page.")
    try:
        document = json.loads(text, object_pairs_hook=_Object)
    except json.JSONDecodeError as exc:
        return _document(_json_message(text, exc))
    except (ValueError, RecursionError):
        return _document(
            "The credential is not valid JSON: a number is too long or the nesting too deep;"
            " paste the JSON from the endpoint page."
        )
    if not isinstance(document, Mapping):
        return _document(
            f"The credential must be a JSON object {{...}}, not {_kind(document)}:"
            " paste the whole object, braces included."
        )
    return document


def _document(message: str) -> Problem:
    return Problem(None, message)


def _json_message(text: str, exc: json.JSONDecodeError) -> str:
    reason = exc.msg.removesuffix(" at")  # "Invalid control character at" already ends so
    message = f"The credential is not valid JSON: {reason} at line {exc.lineno}, column {exc.colno}"
    hint = _json_hint(text, exc)
    return f"{message}; {hint}." if hint else f"{message}."


def _json_hint(text: str, exc: json.JSONDecodeError) -> str | None:
    """Name the usual paste mistake behind a decoder error, when it is recognisable."""
    ahead = text[exc.pos : exc.pos + 5]
    before = text[: exc.pos].rstrip()[-1:]
    if ahead[:1] == "'":
        return "it looks like a Python dict: JSON needs double quotes around names and strings"
    if ahead[:1] and ahead[:1] in _CURLY_QUOTES:
        return 'replace the curly quotes with straight double quotes (")'
    if ahead.startswith(("True", "False", "None")):
        return "JSON writes true, false and null in lower case"
    if before == "," and ahead.lstrip()[:1] in ("}", "]"):
        return "remove the trailing comma before the closing bracket"
    if exc.msg.startswith("Invalid control character"):
        return "a value contains a raw line break or tab: keep each value on one line"
    if exc.msg == "Extra data":
        return "there is text after the closing }: paste only the JSON object"
    if exc.msg.startswith("Expecting property name") and ahead[:1].isalpha():
        return 'put each field name in double quotes, e.g. "api_key"'
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean (true/false)"
    kinds = ((str, "a string"), (int | float, "a number"), (Mapping, "an object"))
    kind = next((name for cls, name in kinds if isinstance(value, cls)), None)
    return kind or ("a list" if isinstance(value, list | tuple) else type(value).__name__)


# ---- field names -------------------------------------------------------------------------


def _name_problems(document: Mapping[str, Any]) -> list[Problem]:
    """Repeated, unknown and missing fields; a near miss stands in for the field it misses."""
    problems = [
        Problem(name, f"`{name}` is given more than once: keep only one.")
        for name in getattr(document, "duplicates", ())
    ]
    meant: set[str] = set()
    for key in map(str, document):
        if key in _SPECS:
            continue
        guess = _suggest(key)
        if guess in document:
            guess = None  # the real field is there too, so this is not a misspelling of it
        if guess:
            meant.add(guess)
        problems.append(_unknown(key, guess))
    problems += [
        Problem(name, missing_message(name))
        for name in _REQUIRED
        if name not in document and name not in meant
    ]
    return problems


def _fold(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def _suggest(key: str) -> str | None:
    folded = _fold(key)
    exact = next((known for known in _SPECS if _fold(known) == folded), None)
    if exact or folded in _ALIASES:
        return exact or _ALIASES[folded]
    close = difflib.get_close_matches(key.lower(), list(_SPECS), n=1, cutoff=0.75)
    return close[0] if close else None


def _unknown(key: str, guess: str | None) -> Problem:
    if _BEARER.match(key) or (key.lower().startswith("hf_") and len(key) >= 20):
        # The name itself is probably the token, pasted as a key: repeat it nowhere.
        return _document(
            "Unknown field (its name looks like a token, so it is not repeated here):"
            " put the token in `api_key`."
        )
    shown = "".join(c if c.isprintable() and c != "`" else "?" for c in key[:40])
    shown += "…" if len(key) > 40 else ""
    if guess:
        return Problem(key, f"Unknown field `{shown}`: did you mean `{guess}`?")
    return Problem(
        key,
        f"Unknown field `{shown}`: the credential has only api_key, endpoint, model_name,"
        " context_window (optional for TEI endpoints) and the optional name.",
    )


def missing_message(name: str) -> str:
    spec = _SPECS[name]
    return f'`{name}` is missing: add {spec.what}, e.g. "{name}": {spec.example}.'


# ---- field values ------------------------------------------------------------------------


def _string(name: str, value: Any) -> str:
    """A non-empty string without whitespace or control characters anywhere."""
    spec = _SPECS[name]
    if not isinstance(value, str):
        raise _Refusal(
            f"`{name}` must be a string, not {_kind(value)}: write {spec.what} in double quotes,"
            f' e.g. "{name}": {spec.example}.'
        )
    if not value.strip():
        raise _Refusal(f'`{name}` is empty: write {spec.what}, e.g. "{name}": {spec.example}.')
    if value != value.strip():
        raise _Refusal(f"`{name}` has spaces or a line break pasted around it: remove them.")
    if has_hidden(value):
        # \r\n here would split an HTTP header: refused, never stripped.
        raise _Refusal(
            f"`{name}` contains a control or invisible character, or a broken one (a line break,"
            " a tab, half of an emoji…): retype it on one line."
        )
    if any(c.isspace() for c in value):
        raise _Refusal(f"`{name}` contains a space: remove it.")
    return value


def _check_api_key(value: Any, context: _Context) -> str:
    # Checked before _string so that `"hf_…"` and `Bearer hf_…` get their own, exact fix.
    mistake = _api_key_paste_mistake(value.strip()) if isinstance(value, str) else None
    if mistake:
        raise _Refusal(mistake)
    key = _string("api_key", value)
    if not key.isascii():
        raise _Refusal(
            "`api_key` contains a non-ASCII character (often a curly quote or a look-alike"
            " letter): copy the token again from the Hugging Face settings."
        )
    if not key.startswith("hf_"):
        context.notes.append(
            "api_key does not start with hf_: fine for a custom or public endpoint, but Hugging"
            " Face access tokens do, so check that you pasted the token itself."
        )
    return key


def _api_key_paste_mistake(text: str) -> str | None:
    if text and (text[0] in _QUOTES or text[-1] in _QUOTES):
        return "`api_key` has quotes pasted around it: remove them, the JSON quotes are enough."
    if _BEARER.match(text):
        return "`api_key` starts with `Bearer`: paste the token only, without `Bearer `."
    return None


def _check_endpoint(value: Any, context: _Context) -> str:
    url = _string("endpoint", value)
    if len(url) > MAX_ENDPOINT_LENGTH:
        raise _Refusal(
            f"`endpoint` is {len(url):,} characters long; an endpoint URL has at most"
            f" {MAX_ENDPOINT_LENGTH:,}: paste the URL from the endpoint's page."
        )
    try:
        base, note = normalise_endpoint(url)
    except ValueError as exc:
        raise _Refusal(str(exc)) from None
    parts = urlsplit(base)
    host = parts.hostname or ""
    # The host first: for http://localhost, https:// would not help, the allowlist would.
    refused = context.policy.host_problem(host)
    if refused:
        raise _Refusal(f"`endpoint` is refused: {refused}; {ALLOWLIST_HINT}.")
    refused = context.policy.scheme_problem(parts.scheme, host)
    if refused:
        raise _Refusal(f"`endpoint` is refused: {refused}.")
    if note:
        context.notes.append(note)
    return base


def _check_model_name(value: Any, context: _Context) -> str:
    name = _string("model_name", value)
    if "://" in name or name.lower().startswith(_HUB_HOSTS):
        raise _Refusal(_model_url_message(name))
    if "/" not in name:
        raise _Refusal(
            "`model_name` needs the organisation too: write the Hub repo id as org/name,"
            f" e.g. {MODEL_EXAMPLE}."
        )
    if not _is_repo_id(name):
        raise _Refusal(
            "`model_name` must be a Hub repo id org/name: one /, and each part starts with a"
            " letter or digit, uses only letters, digits, . _ - (no -- or ..) and has at most"
            " 96 characters."
        )
    return name


def _is_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(
        _REPO_PART.fullmatch(part) and "--" not in part and ".." not in part for part in parts
    )


def _model_url_message(url: str) -> str:
    path = re.split(r"[?#]", url.split("://", 1)[-1])[0]
    repo = "/".join(path.split("/")[1:3])
    if url.lower().split("://")[-1].startswith(_HUB_HOSTS) and _is_repo_id(repo):
        return f"`model_name` is a URL: use the repo id `{repo}`, not the URL."
    return f"`model_name` must be a Hub repo id like {MODEL_EXAMPLE}, not a URL."


def _check_context_window(value: Any, context: _Context) -> int:
    if isinstance(value, str):
        digits = value.strip().replace(",", "").replace("_", "")
        number = digits if digits.isascii() and digits.isdecimal() and len(digits) < 16 else ""
        fix = f"write {int(number)}" if number else "write the number of tokens, e.g. 4096,"
        raise _Refusal(f"`context_window` must be an integer, not a string: {fix} without quotes.")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refusal(
            f"`context_window` must be an integer, not {_kind(value)}: write the model's context"
            " length in tokens, e.g. 4096."
        )
    if not 1 <= value <= MAX_CONTEXT_WINDOW:
        raise _Refusal(
            f"`context_window` must be between 1 and {MAX_CONTEXT_WINDOW:,} tokens;"
            f" got {_number(value)}."
        )
    if isinstance(value, float):
        fix = f"write {int(value)}" if value.is_integer() else "round it to a whole number"
        raise _Refusal(f"`context_window` must be an integer, not {value}: {fix}.")
    return value


def _number(value: float) -> str:
    if abs(value) < 10**15:
        return f"{value:,}"
    return f"{value:.3g}" if isinstance(value, float) else "a number far outside that range"


def _check_name(value: Any, context: _Context) -> str:
    name = _string("name", value)
    where = "it becomes part of URLs such as /tgi/{name}/generate"
    if len(name) > MAX_NAME_LENGTH:
        raise _Refusal(f"`name` has {len(name)} characters: use at most {MAX_NAME_LENGTH}.")
    if not _NAME.fullmatch(name):
        raise _Refusal(f"`name` may contain only letters, digits and . _ : / - ({where}).")
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise _Refusal(
            f"`name` must not start or end with /, nor contain //, /./ or /../ ({where})."
        )
    return name


_CHECKS: dict[str, Callable[[Any, _Context], Any]] = {
    "api_key": _check_api_key,
    "endpoint": _check_endpoint,
    "model_name": _check_model_name,
    "context_window": _check_context_window,
    "name": _check_name,
}


# ---- the endpoint URL --------------------------------------------------------------------


def normalise_endpoint(url: str) -> tuple[str, str | None]:
    """The base URL hfgate stores, and a note when it differs from what was pasted.

    Raises ``ValueError`` (a message naming `endpoint` and the fix) for a URL that is not an
    absolute http(s) URL with a host, or that carries credentials, a query or a fragment.
    """
    parts = _split_endpoint(url)
    host = _endpoint_host(parts)
    port = parts.port if parts.port != _DEFAULT_PORTS[parts.scheme] else None
    origin = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    origin += f":{port}" if port is not None else ""
    path, route = _strip_route(parts.path.rstrip("/"))
    base = origin + path
    changes = [f"removed the route `{route}` from the URL"] if route else []
    pasted = url[: len(parts.scheme) + 3 + len(parts.netloc)]
    if pasted != origin:
        changes.append(f"wrote `{pasted}` as `{origin}`")
    if not changes:
        return base, None
    done = " and ".join(changes)
    return base, f"endpoint: {done}; hfgate stores the base {base} and adds routes itself."


def _split_endpoint(url: str) -> SplitResult:
    absolute = f"`endpoint` must be an absolute URL like {ENDPOINT_EXAMPLE}"
    if "://" not in url:
        raise ValueError(f"{absolute}: add https:// in front.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises for "host:abc" or ":99999"
    except ValueError:
        raise ValueError(f"{absolute}: check the host and the port.") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{absolute}: it must start with https://.")
    if "@" in parts.netloc:
        raise ValueError(
            "`endpoint` must not contain a user name or password (user:pass@):"
            " remove it and put the token in `api_key`."
        )
    if "?" in url or "#" in url:
        raise ValueError(
            "`endpoint` must not have a query string or fragment (? or #): remove everything"
            " from the ? or #; hfgate adds its own routes and parameters."
        )
    if not parts.hostname:
        raise ValueError(f"{absolute}: the host is missing.")
    return parts


def _endpoint_host(parts: SplitResult) -> str:
    try:
        host = normalise_host(parts.hostname or "")
    except ValueError:
        host = ""
    if literal_ip(host) is None and not is_host_name(host):
        raise ValueError("`endpoint` has an invalid host name: check the URL for typos.")
    return host


def _strip_route(path: str) -> tuple[str, str | None]:
    """The path without route suffixes, and what was removed (None if nothing was)."""
    # Repeated until none is left, so that normalising a stored base changes nothing.
    stripped = path
    while route := next((r for r in ROUTE_SUFFIXES if stripped.endswith(r)), None):
        stripped = stripped.removesuffix(route).rstrip("/")
    return stripped, path[len(stripped) :] or None
