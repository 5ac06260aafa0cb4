"""Logging set-up shared by the worker and the CLI: plain text, or one JSON object per line.

FACEGATE_LOG_FORMAT=json (setting `log_format`) makes every line a JSON object with `time`
(UTC, ISO 8601, milliseconds), `level`, `logger` and `message`, plus `exception` (the traceback
as text) and `stack` when a record carries them. Nothing else of a record is written: not its
`args` apart from the formatted message, not attributes passed with `extra=` (where a payload
could ride along), and tracebacks are the standard ones, without local variables. So a JSON log
holds exactly what the text log holds, and biometric data stays out of both.

Whatever level is asked for (`facegate run --loglevel debug`), the loggers of QUIET_LIBRARIES stay
at INFO or above: at DEBUG they write what no log may hold (see there).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gateway.settings import LogFormat

TEXT_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"

# Libraries whose DEBUG lines hold secrets or payloads (kafka-python 3.0.12, aiokafka 0.14,
# faust-streaming 0.15.3): kafka-python's admin client writes its configuration, the SASL password
# with it (kafka/admin/client.py); aiokafka's producer every key and value it sends
# (aiokafka/producer/producer.py), and so do Faust's producer and topics (send: ... v=%r in
# faust/transport/drivers/aiokafka.py, faust/topics.py); an agent that yields, each value
# (faust/agents/agent.py). Their level is held, not their records filtered: a filter would have to
# know each line, and a library's next release adds lines.
QUIET_LIBRARIES = ("kafka", "aiokafka", "faust.transport", "faust.topics", "faust.agents")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines, so a traceback stays on its line.
        return json.dumps(line, ensure_ascii=False, default=str)


def handler(log_format: LogFormat, level: int | str = logging.NOTSET) -> logging.Handler:
    """A stderr handler writing in the given format."""
    out = logging.StreamHandler()
    out.setLevel(level)
    out.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT))
    return out


def configure(log_format: LogFormat, level: int | str = logging.INFO) -> None:
    """Replace the root logger's handlers with one stderr handler in `log_format`; QUIET_LIBRARIES
    at INFO or above (mode's dictConfig, when the worker starts, leaves loggers it is not given be)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    quiet_libraries(root.level)


def quiet_libraries(level: int) -> None:
    """QUIET_LIBRARIES at `level`, but never below INFO (at the root's level above it: a logger's
    own level lets its records reach the root's handlers whatever the root's level is)."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def worker_logging_config(log_format: LogFormat, level: int | str) -> dict[str, Any] | None:
    """The dictConfig mode's worker applies when it starts (Faust's own logging): None keeps its
    default (coloured text); JSON replaces its handler with ours."""
    if log_format is not LogFormat.JSON:
        return None
    level_name = level.upper() if isinstance(level, str) else logging.getLevelName(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "level": level_name}},
        "root": {"level": level_name, "handlers": ["default"]},
    }
