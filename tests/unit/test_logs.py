"""FACEGATE_LOG_FORMAT=json: one JSON object per line from the standard logging module, for the
CLI and the worker (Faust's own logging through mode's dictConfig), holding nothing biometric."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.kafka.connection import kafka_python_config
from gateway.logs import QUIET_LIBRARIES, JsonFormatter, configure, handler, worker_logging_config
from gateway.settings import LogFormat, Settings
from tests.support.leaks import LeakFinder

TEMPLATE = to_bytes(Population.create(SYNTHETIC_512, 2, 5).captures([0], stream=0)[0])


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger (and the libraries' loggers it holds at INFO) back as they were after a
    test configures it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, held in quiet.items():
        logging.getLogger(name).setLevel(held)


def _record(message: str = "hello %s", args: tuple[object, ...] = ("world",), **kw: object) -> logging.LogRecord:
    record = logging.LogRecord("facegate.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(kw)
    return record


def test_a_record_is_one_json_object_on_one_line() -> None:
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    data = json.loads(line)
    assert data.keys() == {"time", "level", "logger", "message"}
    assert (data["level"], data["logger"], data["message"]) == ("WARNING", "facegate.test", "hello world")
    assert datetime.fromisoformat(data["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_exceptions_are_text_on_the_same_line() -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        record = logging.LogRecord("facegate", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["exception"].startswith("Traceback") and "ValueError: bad input" in data["exception"]


def test_only_the_named_fields_are_written_so_no_payload_rides_along() -> None:
    """Attributes given with extra=, a template in a frame's locals, and non-ASCII text."""
    floats = np.frombuffer(TEMPLATE, dtype="<f4")

    def decide(template: bytes, values: list[float]) -> None:
        raise RuntimeError("cannot decide: éé")

    try:
        decide(TEMPLATE, [float(v) for v in floats])
    except RuntimeError:
        record = logging.LogRecord("facegate", logging.ERROR, __file__, 1, "capture %s", ("e-1",), sys.exc_info())
    record.__dict__.update({"template": TEMPLATE, "values": [float(v) for v in floats]})
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert set(data) == {"time", "level", "logger", "message", "exception"}
    assert "éé" in line  # written as text, not escaped away
    assert LeakFinder([TEMPLATE]).leaks({"json log": line.encode()}) == []
    # ...while the leak finder does see a template that a message itself carries:
    leaky = JsonFormatter().format(_record("values %s", ([round(float(v), 4) for v in floats],)))
    assert LeakFinder([TEMPLATE]).leaks({"json log": leaky.encode()}) == ["json log"]


def test_the_setting_defaults_to_text_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_LOG_FORMAT", raising=False)
    assert Settings().log_format is LogFormat.TEXT
    monkeypatch.setenv("FACEGATE_LOG_FORMAT", "json")
    assert Settings().log_format is LogFormat.JSON
    monkeypatch.setenv("FACEGATE_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()


def test_configure_replaces_the_root_handlers(root_logging: None) -> None:
    configure(LogFormat.JSON, "debug")
    root = logging.getLogger()
    assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
    assert root.level == logging.DEBUG
    configure(LogFormat.TEXT)
    assert not isinstance(root.handlers[0].formatter, JsonFormatter) and root.level == logging.INFO


def test_text_handler_keeps_the_text_format() -> None:
    stream = io.StringIO()
    out = handler(LogFormat.TEXT)
    out.setStream(stream)  # type: ignore[attr-defined]
    out.handle(_record())
    assert stream.getvalue().rstrip().endswith("WARNING facegate.test: hello world")


def test_the_worker_config_is_what_mode_applies(root_logging: None) -> None:
    """mode's Worker passes logging_config to logging.config.dictConfig when Faust starts: with
    json every record of Faust's and aiokafka's loggers comes out as JSON; text keeps mode's own."""
    assert worker_logging_config(LogFormat.TEXT, "info") is None
    config = worker_logging_config(LogFormat.JSON, "info")
    assert config is not None
    logging.config.dictConfig(config)
    root = logging.getLogger()
    assert root.level == logging.INFO
    [json_handler] = root.handlers
    stream = io.StringIO()
    json_handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("faust.worker").info("[^Worker]: Ready")
    logging.getLogger("aiokafka.consumer").debug("not at info")
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["logger"] == "faust.worker"


def test_the_cli_logs_json_when_set(root_logging: None) -> None:
    result = CliRunner().invoke(app, ["schemas", "list", "--format", "json"], env={"FACEGATE_LOG_FORMAT": "json"})
    assert result.exit_code == 0, result.output
    assert isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)
    assert logging.getLogger().level == logging.WARNING


PASSWORD = "Zq7x2Lp9vB4mN8wR1tY6kD3s"  # no word: any 8 bytes of a key given to LeakFinder count
VALUE = b"\xc3\x01" + bytes(8) + TEMPLATE  # a record's value, as a producer sends it
FAUST_SEND = "send: topic=%r k=%r v=%r timestamp=%r partition=%r"
# The lines the libraries write at DEBUG with what no log may hold: logger (its module), line, args.
SENDING = [
    ("aiokafka.producer.producer", "Sending (key=%s value=%s) to %s", (b"k", VALUE, "tp")),
    ("faust.transport.drivers.aiokafka", FAUST_SEND, ("t", b"k", VALUE, None, None)),
    ("faust.topics", FAUST_SEND, ("t", b"k", VALUE, None, None)),
    ("faust.agents.agent", "%r yielded: %r", ("agent", VALUE)),
]


@pytest.mark.parametrize("log_format", list(LogFormat))
def test_at_debug_the_kafka_clients_write_no_password_and_no_value(root_logging: None, log_format: LogFormat) -> None:
    """`facegate run --loglevel debug`: kafka-python's admin client logged its configuration with
    the SASL password (at start, and for each new tenant), aiokafka's and Faust's producers each
    value sent (every protected template). The worker keeps the level through mode's dictConfig."""
    import kafka.admin.client
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError
    from mode.utils.logging import setup_logging

    assert "Starting KafkaAdminClient with configuration: %s" in inspect.getsource(kafka.admin.client)
    for name, line, _ in SENDING:
        assert line in inspect.getsource(importlib.import_module(name)), "the line moved: check gateway/logs.py"
    stream = io.StringIO()
    for setup in ("cli", "worker"):
        configure(log_format, "debug")  # as facegate run does, before it provisions and starts the worker
        if setup == "worker":  # then mode's Worker configures logging again, writing to stderr
            setup_logging(loglevel="debug", logging_config=worker_logging_config(log_format, "debug"))
        [written_to] = logging.getLogger().handlers
        written_to.setStream(stream)  # type: ignore[attr-defined]
        settings = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="gw", sasl_password=PASSWORD)
        with pytest.raises(KafkaConfigurationError):  # raised after it logged its configuration, before connecting
            KafkaAdminClient(**kafka_python_config(settings), not_an_option=True)
        for name, line, args in SENDING:
            logging.getLogger(name).debug(line, *args)
        logging.getLogger("facegate.worker").debug("the gateway's own debug line, %s", setup)
        logging.getLogger("faust.worker").debug("Faust's worker's debug line, %s", setup)
    written = stream.getvalue()
    assert written.count("the gateway's own debug line") == written.count("Faust's worker's debug line") == 2, written
    assert "Starting KafkaAdminClient" not in written and "Sending (key" not in written and "send: topic" not in written
    assert LeakFinder([TEMPLATE], [], [PASSWORD.encode()]).leaks({"log": written.encode()}) == []
    assert logging.getLogger("aiokafka.consumer").isEnabledFor(logging.INFO)  # their other lines go on
