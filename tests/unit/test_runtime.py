"""Start-up: development mode works with nothing configured; production names what is missing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.keyring import Keyring
from gateway.settings import Settings
from gateway.shell.runtime import StartupError, build_runtime
from tests.support.cli import restored_logging  # noqa: F401  # a fixture


def test_development_mode_with_nothing_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_KEYRING", raising=False)
    monkeypatch.delenv("FACEGATE_KEYRING_FILE", raising=False)
    runtime = build_runtime(Settings(cache_dir=tmp_path))
    assert runtime.development and runtime.state.keyring.development
    assert runtime.state.policy("any-tenant") is not None  # the pack with a placeholder assessment
    assert (tmp_path / "development-keyring").is_file()


def test_production_refuses_and_names_each_missing_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_KEYRING", raising=False)
    monkeypatch.delenv("FACEGATE_KEYRING_FILE", raising=False)
    with pytest.raises(StartupError) as caught:
        build_runtime(Settings(env="production", cache_dir=tmp_path))
    assert "keyring" in str(caught.value) and "FACEGATE_POLICY_DIR" in str(caught.value)

    (tmp_path / "acme.yaml").write_text("tenant_id: acme\nimpact_assessment: {reference: PIA, dated: 2026-01-01}\n")
    monkeypatch.setenv("FACEGATE_KEYRING", Keyring.generate(["beta"]).export())
    with pytest.raises(StartupError, match="keys for tenant 'acme'"):
        build_runtime(Settings(env="production", policy_dir=tmp_path))

    # A tenant whose topics the worker reads (FACEGATE_TENANTS) needs keys too: its erasures need them.
    monkeypatch.setenv("FACEGATE_KEYRING", Keyring.generate(["acme"]).export())
    with pytest.raises(StartupError, match="keys for tenant 'beta'"):
        build_runtime(Settings(env="production", policy_dir=tmp_path, tenants=["beta"]))

    runtime = build_runtime(Settings(env="production", policy_dir=tmp_path))
    assert not runtime.development and runtime.state.policy("stranger-tenant") is None


def test_production_names_a_configured_tenant_without_a_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Its inputs are BLOCKED (NO_TENANT_POLICY): started, but said at start, not found in the audit.
    (tmp_path / "acme.yaml").write_text("tenant_id: acme\nimpact_assessment: {reference: PIA, dated: 2026-01-01}\n")
    monkeypatch.setenv("FACEGATE_KEYRING", Keyring.generate(["acme", "beta"]).export())
    with caplog.at_level(logging.WARNING, logger="facegate"):
        runtime = build_runtime(Settings(env="production", policy_dir=tmp_path, tenants=["acme", "beta"]))
    assert runtime.state.policy("beta") is None
    [warned] = [r.getMessage() for r in caplog.records if "no policy" in r.getMessage()]
    assert "beta" in warned and "acme" not in warned and "NO_TENANT_POLICY" in warned


@pytest.mark.usefixtures("restored_logging")  # its handler would write to CliRunner's closed stream after
def test_run_refuses_without_a_vendor_or_a_tenant_to_read(tmp_path: Path) -> None:
    env = {"FACEGATE_CACHE_DIR": str(tmp_path), "FACEGATE_TENANTS": '["acme"]'}
    result = CliRunner().invoke(app, ["run"], env=env)
    assert result.exit_code == 2 and "FACEGATE_VENDORS" in result.output
    result = CliRunner().invoke(app, ["run"], env={"FACEGATE_CACHE_DIR": str(tmp_path), "FACEGATE_VENDORS": '["v"]'})
    assert result.exit_code == 2 and "no tenant is configured" in result.output
    runtime = build_runtime(Settings(cache_dir=tmp_path, tenants=["acme"], vendors=["v"]))
    assert runtime.unread() is None


@pytest.mark.usefixtures("restored_logging")
def test_run_command_refuses_an_invalid_policy_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text("tenant_id: acme\ntighten: {min_quality: 0.1}\n")
    result = CliRunner().invoke(
        app, ["run"], env={"FACEGATE_POLICY_DIR": str(tmp_path), "FACEGATE_CACHE_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "min_quality 0.1 is below" in result.output
    result = CliRunner().invoke(
        app, ["run"], env={"FACEGATE_ENV": "production", "FACEGATE_KEYRING": "", "FACEGATE_KEYRING_FILE": ""}
    )
    assert result.exit_code == 2 and "production start refused" in result.output


def test_start_up_names_how_far_each_models_thresholds_are_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Thresholds are measured down to FAR 1e-6 per comparison in the shipped calibrations (a target
    # of 1e-4 per capture up to 100 enrolled subjects) and extrapolated beyond: the worker says so.
    monkeypatch.delenv("FACEGATE_KEYRING", raising=False)
    monkeypatch.delenv("FACEGATE_KEYRING_FILE", raising=False)
    with caplog.at_level(logging.INFO, logger="facegate"):
        build_runtime(Settings(cache_dir=tmp_path))
    reach = [r for r in caplog.records if "enrolled subjects of this model" in r.getMessage()]
    assert len(reach) == 2 and all("up to 100 enrolled" in r.getMessage() for r in reach)
    assert all("extrapolated" in r.getMessage() and r.levelno == logging.INFO for r in reach)
    assert any(r.getMessage().startswith("calibration synthetic-512:") for r in reach)
