"""Configuration comes from FACEGATE_* variables or a YAML file and is validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import CONFIG_FILE_VARIABLE, Settings
from tests.support.cli import restored_logging  # noqa: F401  # a fixture
from tests.support.leaks import LeakFinder


def test_defaults_name_the_local_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_BOOTSTRAP_SERVERS", raising=False)
    assert Settings().bootstrap_servers == "127.0.0.1:9092"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_BOOTSTRAP_SERVERS", "kafka-0:9093,kafka-1:9093")
    monkeypatch.setenv("FACEGATE_TENANTS", '["acme", "beta"]')
    monkeypatch.setenv("FACEGATE_PARTITIONS", "12")
    settings = Settings()
    assert settings.bootstrap_servers == "kafka-0:9093,kafka-1:9093"
    assert settings.tenants == ["acme", "beta"] and settings.partitions == 12


def test_yaml_file_below_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "facegate.yaml"
    config.write_text("bootstrap_servers: file-host:9092\ntopic_prefix: prod.\npartitions: 8\n")
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(config))
    monkeypatch.setenv("FACEGATE_PARTITIONS", "16")
    settings = Settings()
    assert settings.bootstrap_servers == "file-host:9092" and settings.topic_prefix == "prod."
    assert settings.partitions == 16


def test_missing_config_file_is_named_by_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not by the variable's value: that may be the settings themselves (below).
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(tmp_path / "absent.yaml"))
    with pytest.raises(FileNotFoundError, match=f"^{CONFIG_FILE_VARIABLE} does not name a file$"):
        Settings()


@pytest.mark.usefixtures("restored_logging")  # `facegate run` configures logging
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (CONFIG_FILE_VARIABLE, "security_protocol: SASL_SSL\nsasl_username: gw\nsasl_password: {password}\n"),
        (CONFIG_FILE_VARIABLE, "{{sasl_password: {password}, partitions: 6}}"),
        (CONFIG_FILE_VARIABLE, "sasl_password: {password}" + " " * 300),  # too long a name: an OSError quotes it
        ("FACEGATE_SECRETS_DIR", "{password}"),
    ],
)
def test_settings_put_where_their_path_belongs_are_not_printed(variable: str, value: str, tmp_path: Path) -> None:
    # A Secret mounted as an environment variable under the name meant for its path: the error
    # quoted the value, and every command printed it (sasl_password).
    password = "Hv8nK2qP5xW9rT4zM7bL3cJ6"  # no word: any 8 bytes of a key given to LeakFinder count
    env = {variable: value.format(password=password), "FACEGATE_CACHE_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["run"], env=env)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    said = " ".join(result.output.split())
    assert f"{variable} does not name a" in said and password not in result.output
    assert ("it looks like" in said) is (variable == CONFIG_FILE_VARIABLE), said
    assert LeakFinder([], [], [password.encode()]).leaks({"output": result.output.encode()}) == []


def test_audit_retention_below_three_years_is_refused() -> None:
    with pytest.raises(ValidationError, match="3 years"):
        Settings(audit_retention_ms=30 * 24 * 3_600_000)
    assert Settings(audit_retention_ms=-1).audit_retention_ms == -1


@pytest.mark.parametrize("tenant", ["", "a.b", "a b", "x" * 65, "../etc"])
def test_tenant_ids_that_cannot_name_a_topic_are_refused(tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant id"):
        Settings(tenants=[tenant])


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(bootstrap_server="typo:9092")  # type: ignore[call-arg]


def test_password_never_prints() -> None:
    settings = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="gw", sasl_password="hunter2")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


def test_credentials_can_come_from_mounted_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "facegate_sasl_username").write_text("gateway")
    (tmp_path / "facegate_sasl_password").write_text("s3cret")
    monkeypatch.setenv("FACEGATE_SECRETS_DIR", str(tmp_path))
    settings = Settings()
    assert settings.sasl_username == "gateway" and settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == "s3cret" and "s3cret" not in repr(settings)
    monkeypatch.setenv("FACEGATE_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="FACEGATE_SECRETS_DIR"):
        Settings()


def test_a_config_files_unknown_key_is_named_with_its_file_and_the_key_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "")  # `--config` sets it for the process: restored after the test
    for written, said in (
        ("facegate_partitions: 6\n", "write it without the FACEGATE_ prefix, in lower case: 'partitions'"),
        ("partiton: 6\n", "no setting is named 'partiton'"),
    ):
        config = tmp_path / "facegate.yaml"
        config.write_text(written)
        result = CliRunner().invoke(app, ["--config", str(config), "topics", "describe"])
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())  # the console wraps long lines
        assert f"{config}: no setting is named" in text and said in text and "FACEGATE_FACEGATE" not in text
