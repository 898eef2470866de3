"""Structured JSON logs. Call `configure_logging` once from each entry point, never at import.

Log lines carry ids, routes, counts and error types; never a request body, a query string or any
personal data. The access log records the route template, not the raw path.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from datetime import UTC, datetime

import orjson

from shared.tracing import current_trace

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if cid := correlation_id.get():
            entry["correlation_id"] = cid
        if trace := current_trace.get():
            entry["trace_id"] = trace.trace_id
            entry["span_id"] = trace.span_id
        entry.update(
            {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        )
        if record.exc_info and record.exc_info[0] is not None:
            # Because exception texts may quote input values, only the type and the stack are logged.
            entry["error"] = record.exc_info[0].__name__
        return orjson.dumps(entry, default=str).decode()


class RepeatLimitFilter(logging.Filter):
    """Lets through one record per (logger, message template) every `every` seconds for noisy libraries.

    Because a client library retrying against an absent broker logs a line per attempt, which in
    an outage of minutes is hundreds of thousands of lines; the next line let through says how many
    were dropped in between.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka",), every: float = 30.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._every = every
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.msg)
        last, dropped = self._seen.get(key, (float("-inf"), 0))
        if record.created - last < self._every:
            self._seen[key] = (last, dropped + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (record.created, 0)
        if dropped:
            record.repeats_dropped = dropped
        return True


class FailureRun:
    """A run of failures of one repeated operation, logged bounded: one line with the traceback when it
    starts, a summary at most every `summary_every` seconds while it lasts, one line when it ends."""

    def __init__(self, logger: logging.Logger, what: str, *, summary_every: float = 30.0) -> None:
        self._logger = logger
        self.what = what
        self.summary_every = summary_every
        #: Monotonic time of the first failure of the run in progress (None between runs).
        self.since: float | None = None
        #: Failed attempts in the run in progress (or the last one).
        self.attempts = 0
        self._last_summary = 0.0

    @property
    def failing(self) -> bool:
        """Tells whether a run of failures is in progress."""
        return self.since is not None

    def lasted(self) -> float:
        """Returns how long the run in progress has lasted (0 between runs)."""
        return 0.0 if self.since is None else time.monotonic() - self.since

    def failed(self, exc: BaseException, *, then: str = "retrying") -> None:
        """Counts one failed attempt; logs it only if it starts a run or a summary is due."""
        now = time.monotonic()
        if self.since is None:
            self.since = self._last_summary = now
            self.attempts = 1
            self._logger.warning("%s failed (%s); %s", self.what, type(exc).__name__, then, exc_info=exc)
            return
        self.attempts += 1
        if now - self._last_summary >= self.summary_every:
            self._last_summary = now
            self._logger.warning(
                "%s still failing after %.0fs: %d attempts, last error %s",
                self.what,
                now - self.since,
                self.attempts,
                type(exc).__name__,
            )

    def recovered(self) -> None:
        """Ends the run in progress, if any, with one line."""
        if self.since is None:
            return
        self._logger.warning(
            "%s recovered after %.1fs and %d failed attempts", self.what, self.lasted(), self.attempts
        )
        self.since = None


def configure_logging(*, service: str, level: str = "INFO") -> None:
    """Routes every logger, uvicorn's included, to JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatLimitFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Because uvicorn's access log prints raw query strings, which may hold an e-mail address.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
