"""The quality bars of template protection, held on the seeded synthetic set."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.core.biometrics.evaluation import (
    ProtectionReport,
    d_sys,
    equal_error_rate,
    evaluate_protection,
    shuffled_d_sys,
    tar_at_far,
)


@pytest.fixture(scope="module")
def report() -> ProtectionReport:
    return evaluate_protection(people=3000, seed=2026)


def test_protection_costs_at_most_two_points_of_tar_at_far_1e4(report: ProtectionReport) -> None:
    assert report.raw.tar_at_far_1e4 > 0.99  # the synthetic set is a sane biometric system
    assert report.protected.tar_at_far_1e4 >= report.raw.tar_at_far_1e4 - 0.02


def test_cross_tenant_templates_are_unlinkable(report: ProtectionReport) -> None:
    assert report.unlinkability_d_sys <= 0.05
    assert report.unlinkability_shuffled <= 0.05


def test_old_key_templates_look_like_impostors_to_the_new_key(report: ProtectionReport) -> None:
    assert report.renewability_d_sys <= 0.05
    assert report.renewed_accept_rate <= 1e-3
    assert abs(report.renewed_mean - report.impostor_mean) < 0.005


def test_masks_hurt_as_the_design_expects(report: ProtectionReport) -> None:
    assert report.protected_masked.tar_at_far_1e4 < report.protected.tar_at_far_1e4
    assert report.raw_masked.eer > report.raw.eer


def test_d_sys_detects_linkable_and_ignores_unlinkable() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(0.5, 0.02, 20_000)
    assert d_sys(same[:5000], same[5000:]) < 0.05
    assert d_sys(rng.normal(0.9, 0.02, 5000), rng.normal(0.5, 0.02, 20000)) > 0.95
    partial = d_sys(rng.normal(0.53, 0.02, 5000), rng.normal(0.5, 0.02, 20000))
    assert 0.3 < partial < 0.8
    assert shuffled_d_sys(rng.normal(0.9, 0.02, 5000), rng.normal(0.5, 0.02, 20000)) < 0.05


def test_eer_and_tar_on_known_distributions() -> None:
    genuine = np.linspace(0.5, 1.5, 1001)
    impostor = np.linspace(-0.5, 0.5, 1001)
    assert equal_error_rate(genuine, impostor) < 0.002
    assert tar_at_far(genuine, impostor, 0.01) == 1.0
    overlapping = equal_error_rate(np.linspace(0, 1, 1001), np.linspace(0, 1, 1001))
    assert 0.45 < overlapping < 0.55
