"""Structured JSON logs that never contain secrets.

Redaction works on keys, so a developer who logs `password=...` or a whole request's
headers by mistake still leaks nothing.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|csrf|session", re.I)
REDACTED = "[redacted]"


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "event":
            event_dict[key] = redact(event_dict[key], key)
    return event_dict


#: Secrets as they appear inside text: Telegram's token in its URL path (`/bot123:AA…/`),
#: `?access_token=…` and its kin in query strings, and credentials after an auth scheme.
_SECRET_IN_TEXT = (
    (re.compile(r"(/bot)\d+:[^/\s'\"]+"), r"\1" + REDACTED),
    (
        re.compile(r"((?:access_?)?token|secret|password|passwd|api_?key|auth)=[^&\s'\"]+", re.I),
        r"\1=" + REDACTED,
    ),
    (re.compile(r"\b(Bearer|Basic|OAuth)\s+[\w.~+/=-]+", re.I), r"\1 " + REDACTED),
    # Headers and JSON as a dict prints them: 'X-Viber-Auth-Token': '…', "access_token": "…".
    (
        re.compile(
            r"""(["']?[\w-]*(?:token|secret|password|passwd|api[_-]?key|authorization|cookie)["']?"""
            r"""\s*[:=]\s*["'])[^"']+""",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
    # The password in a connection string: postgresql://user:…@host, redis://:…@host.
    (re.compile(r"(://[^:/@\s]*:)[^@/\s]+@"), r"\1" + REDACTED + "@"),
)


def scrub_text(text: str) -> str:
    """`text` with the secrets it may quote replaced. Keys are not enough for tracebacks: an HTTP
    client's error quotes the URL it asked, and Telegram's URL holds the bot token."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _scrub_exception(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = scrub_text(exception)
    return event_dict


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is *now*.

    structlog's PrintLoggerFactory(sys.stderr) keeps the stream it was given; when that
    stream is replaced and closed (test capture, a daemon redirecting its output) every
    later log call raised, and took the caller down with it.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(json: bool = True, level: int = logging.INFO) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
            _scrub_exception,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


class ScrubFilter(logging.Filter):
    """Secrets out of the web server's own log lines: it writes a websocket's address with its
    query ("WebSocket /widget/v1/ws?token=…" from widgets cached before the token moved out of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(scrub_text(a) if isinstance(a, str) else a for a in record.args)
        return True


def server_log_config() -> dict[str, Any]:
    """uvicorn's logging, with ScrubFilter on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"scrub": {"()": ScrubFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["scrub"]
    return config
