"""The session-wide secret scan (SECURITY.md: secrets never appear in logs, errors or responses).

Registered from the root conftest (``pytest_plugins = ["tests.security.plugin"]``). For the
whole session it keeps

* every log record of every logger, DEBUG included: a handler on the root logger, and on
  uvicorn's loggers (which do not propagate, and which uvicorn reconfigures whenever a server
  is built, so the handler is put back each time);
* every HTTP exchange with a gateway started by ``tests.support.peers.running_gateway`` (it
  wraps the app in a recorder while an observer is registered).

At the end of the session it searches all of that for every secret the suite created:
``ADMIN_KEY`` and ``SIM_TOKEN``; anything shaped like a Hugging Face token (``hf_`` + 20 or
more characters) or a whole hfgate key (``hfg_`` + 30 or more); and what it learned on the
way — keys answered by ``POST /api/keys``, session cookies, passwords and ``api_key`` values
sent to the gateway, and whatever tests register with ``register_secret``. The only place a
secret may appear is the one answer that shows a new key once: ``POST /api/keys`` → 201 may
contain that very key (and nothing else). Any other hit fails the session, and the report
names the test, the place (answer or log record) and the secret (masked).

Cost: one cheap handler call per log record (messages are kept once each), and one list
append per gateway exchange; the search runs once, at the end.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

HF_TOKEN = re.compile(r"hf_[A-Za-z0-9_]{20,}")
HFG_KEY = re.compile(r"hfg_[A-Za-z0-9_-]{30,}")
SESSION_COOKIE = "hfgate_session"
MIN_LEARNED = 12  # shorter values (a test's "password1") would match innocent text
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# Not hfgate's logs: the database driver's and the event loop's (at DEBUG SQLAlchemy would log
# every statement and row, slowing the whole suite), and the test clients' (the OpenAI SDK,
# httpx, huggingface_hub … log what the *test* sends). Left at WARNING and not searched.
QUIET_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncio", "asyncpg", "alembic", "hpack")
CLIENT_LOGGERS = (
    "openai",
    "httpx",
    "httpcore",
    "huggingface_hub",
    "urllib3",
    "requests",
    "langchain",
    "langsmith",
    "text_generation",
    "hypothesis",
    "schemathesis",
    "playwright",
    "filelock",
    "markdown_it",
    "charset_normalizer",
)
MAX_LOG_TEXTS = 500_000


def mask(secret: str) -> str:
    return f"{secret[:6]}…({len(secret)} chars)"


@dataclass(frozen=True)
class Finding:
    nodeid: str
    where: str
    secret: str  # the label, never the value


@dataclass
class _Answer:
    nodeid: str
    label: str
    text: str
    shown_once: str | None  # the new key this answer may show, once


class SecretScan:
    def __init__(self) -> None:
        self.nodeid = "<session start>"
        self.secrets: dict[str, str] = {}
        self.answers: list[_Answer] = []
        self.logs: dict[str, tuple[str, str]] = {}  # text -> (nodeid, where)
        self.log_overflow: list[Finding] = []
        self._lock = threading.Lock()
        self.exchanges = 0

    # -- what to look for --------------------------------------------------------------------

    def register(self, value: str, label: str) -> None:
        if isinstance(value, str) and len(value) >= 8:
            self.secrets.setdefault(value, label)

    def _learn(self, value: Any, label: str) -> None:
        # Only what looks like a real secret: the hostile-input tests send "x\r\nX-Injected"
        # and a million "a"s as api_key too, and those may rightly show up elsewhere.
        if (
            isinstance(value, str)
            and MIN_LEARNED <= len(value) <= 1024
            and value.isprintable()
            and not any(c.isspace() for c in value)
            and len(set(value)) >= 8
        ):
            self.register(value, f"{label} (first seen in {self.nodeid})")

    # -- gateway exchanges (called on the servers' threads) ----------------------------------

    def observe(self, exchange: Any) -> None:
        self.exchanges += 1
        route = f"{exchange.method} {exchange.path}"
        request = _json(exchange.request_body) if exchange.request_body[:1] == b"{" else None
        if isinstance(request, dict):
            if exchange.path.startswith(("/api/users", "/auth/login")):
                self._learn(request.get("password"), "a password sent to " + route)
            if exchange.path.startswith("/api/integrations"):
                self._learn(request.get("api_key"), "an api_key sent to " + route)
        shown_once = None
        if exchange.method == "POST" and exchange.path == "/api/keys" and exchange.status == 201:
            created = _json(exchange.body)
            if isinstance(created, dict) and isinstance(created.get("key"), str):
                shown_once = created["key"]
                self.register(shown_once, f"the hfgate key created in {self.nodeid}")
        headers = []
        for name, value in exchange.headers:
            if name.lower() == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
                self._learn(value.split("=", 1)[1].split(";", 1)[0], "a session cookie")
                continue  # the one place the cookie belongs
            headers.append(f"{name}: {value}")
        text = "\n".join(headers) + "\n\n" + exchange.body.decode("utf-8", "replace")
        label = f"the answer to {route}{'?' + exchange.query if exchange.query else ''}"
        self.answers.append(_Answer(self.nodeid, f"{label} → {exchange.status}", text, shown_once))

    # -- log records (called on any thread) --------------------------------------------------

    def record(self, record: logging.LogRecord) -> None:
        if record.name.startswith(CLIENT_LOGGERS):
            return
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not a leak
            text = str(record.msg)
        if record.exc_text:
            text += "\n" + record.exc_text
        elif record.exc_info and record.exc_info[1] is not None:
            text += "\n" + _exception_text(record.exc_info[1])
        if record.stack_info:
            text += "\n" + record.stack_info
        with self._lock:
            if text in self.logs:
                return
            where = f"log record {record.name}:{record.lineno} ({record.levelname})"
            if len(self.logs) < MAX_LOG_TEXTS:
                self.logs[text] = (self.nodeid, where)
            else:  # keep memory bounded: judge it now against what is known so far
                self.log_overflow += self._search(self.nodeid, where, text, None)

    # -- the search --------------------------------------------------------------------------

    def _pattern(self) -> re.Pattern[str]:
        known = sorted(self.secrets, key=len, reverse=True)
        parts = [re.escape(s) for s in known] + [HF_TOKEN.pattern, HFG_KEY.pattern]
        return re.compile("|".join(parts))

    def _search(
        self, nodeid: str, where: str, text: str, shown_once: str | None, pattern: Any = None
    ) -> list[Finding]:
        pattern = pattern or self._pattern()
        if shown_once:
            text = text.replace(shown_once, "<the new key>", 1)
        found = []
        for match in pattern.finditer(text):
            value = match.group(0)
            label = self.secrets.get(value)
            if label is None:
                kind = "a Hugging Face token" if value.startswith("hf_") else "an hfgate key"
                label = f"{kind} {mask(value)}"
            found.append(Finding(nodeid, where, label))
        return found

    def findings(self) -> list[Finding]:
        pattern = self._pattern()
        found: list[Finding] = list(self.log_overflow)
        for answer in self.answers:
            found += self._search(
                answer.nodeid, answer.label, answer.text, answer.shown_once, pattern
            )
        for text, (nodeid, where) in list(self.logs.items()):
            found += self._search(nodeid, where, text, None, pattern)
        return list(dict.fromkeys(found))


def _exception_text(exc: BaseException) -> str:
    """The exception and its causes, each as ``Type: message``.

    Not the whole formatted traceback: on Python 3.11 that parses source lines with ``ast``,
    whose state is shared between threads, and doing so on a server thread while pytest
    formats a failure on the main thread can end in ``SystemError: AST constructor recursion
    depth mismatch``. Secrets travel in messages, not in the code lines of a traceback.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 20:
        seen.add(id(current))
        parts += traceback.format_exception_only(type(current), current)
        current = current.__cause__ or current.__context__
    return "".join(parts)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class _Handler(logging.Handler):
    def __init__(self, scan: SecretScan) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        self.scan.record(record)


SCAN = SecretScan()
_HANDLER = _Handler(SCAN)


def register_secret(value: str, label: str) -> None:
    """Add a secret a test created; the end-of-session scan looks for it everywhere."""
    SCAN.register(value, label)


def _attach_to_uvicorn() -> None:
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        for handler in logger.handlers:
            # uvicorn's own console handlers keep printing what they printed before.
            if handler is not _HANDLER and handler.level < logging.WARNING:
                handler.setLevel(logging.WARNING)
        if not logger.propagate and _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)


def _patch_uvicorn() -> None:
    import uvicorn.config

    original = uvicorn.config.Config.configure_logging
    if getattr(original, "_secret_scan", False):
        return

    def configure_logging(self: Any) -> None:
        original(self)
        _attach_to_uvicorn()

    configure_logging._secret_scan = True  # type: ignore[attr-defined]
    uvicorn.config.Config.configure_logging = configure_logging  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    from tests.support import peers

    SCAN.register(peers.ADMIN_KEY, "ADMIN_KEY (tests.support.peers)")
    SCAN.register(peers.SIM_TOKEN, "SIM_TOKEN (tests.support.peers)")
    if SCAN.observe not in peers.EXCHANGE_OBSERVERS:
        peers.EXCHANGE_OBSERVERS.append(SCAN.observe)

    root = logging.getLogger()
    root.addHandler(_HANDLER)
    root.setLevel(logging.DEBUG)
    for name in QUIET_LOGGERS + CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    _patch_uvicorn()
    _attach_to_uvicorn()


def pytest_sessionstart(session: pytest.Session) -> None:
    # With the root logger at DEBUG, keep pytest's own report of captured logs (and caplog,
    # until a test sets a level) at what they showed before: WARNING and above. (The logging
    # plugin exists only once every pytest_configure has run.)
    logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is not None and logging_plugin.log_level is None:
        for name in ("report_handler", "caplog_handler", "log_file_handler"):
            handler = getattr(logging_plugin, name, None)
            if handler is not None and handler.level == logging.NOTSET:
                handler.setLevel(logging.WARNING)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    SCAN.nodeid = item.nodeid
    try:
        return (yield)
    finally:
        SCAN.nodeid = f"<after {item.nodeid}>"


_REPORT: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    findings = SCAN.findings()
    if not findings:
        return
    _REPORT[:] = _report(findings)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _report(findings: Iterable[Finding]) -> list[str]:
    by_test: dict[str, list[Finding]] = {}
    for finding in findings:
        by_test.setdefault(finding.nodeid, []).append(finding)
    lines = [
        f"secrets leaked into gateway answers or logs ({sum(map(len, by_test.values()))}"
        f" places, {len(by_test)} tests):"
    ]
    for nodeid, found in sorted(by_test.items()):
        lines.append(f"  {nodeid}")
        for finding in found[:10]:
            lines.append(f"    {finding.secret} in {finding.where}")
        if len(found) > 10:
            lines.append(f"    … and {len(found) - 10} more")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORT:
        terminalreporter.section("secret scan", sep="=", red=True, bold=True)
        for line in _REPORT:
            terminalreporter.line(line, red=True)
    elif SCAN.exchanges or SCAN.logs:
        terminalreporter.line(
            f"secret scan: {len(SCAN.secrets)} secrets, {SCAN.exchanges} gateway answers and"
            f" {len(SCAN.logs)} distinct log texts searched: nothing leaked"
        )
