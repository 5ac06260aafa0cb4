"""Start-up: settings, policies and keys become the core's state; production refuses what is missing.

With no configuration the worker runs in development mode: the pipl-cn pack with a placeholder
assessment for any tenant, a generated development keyring, and a loud warning. With
FACEGATE_ENV=production it refuses to start without a keyring, tenant policies and the audit
and regulator keys, and names each missing piece.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from gateway.core.biometrics.calibration import DEFAULT_FAR, Calibration
from gateway.core.policy.pack import PolicyError
from gateway.core.policy.tenant import EffectivePolicy
from gateway.core.state import GatewayState
from gateway.errors import FaceGateError
from gateway.files.calibrations import CalibrationFileError, calibrations
from gateway.files.policies import development_policy, load_policies
from gateway.keyring import Keyring, KeyringError
from gateway.settings import Environment, Settings

log = logging.getLogger("facegate")

DEVELOPMENT_WARNING = (
    "DEVELOPMENT MODE: generated development keys, the pipl-cn pack with a placeholder impact "
    "assessment for every tenant. Never process real people's faces like this; set FACEGATE_ENV=production."
)


class StartupError(FaceGateError, RuntimeError):
    """The worker must not start; the message names what is missing or wrong."""


@dataclass
class Runtime:
    settings: Settings
    state: GatewayState
    development: bool

    @property
    def tenants(self) -> list[str]:
        return sorted(set(self.state.policies) | set(self.settings.tenants))

    def unread(self) -> str | None:
        """What the worker would have no topic for. It reads the topics of the tenants and vendors
        it knows at start (adding one is a rolling restart: docs/operations.md, "Tenants and vendors")."""
        if not self.settings.vendors:
            return "no camera vendor is configured (FACEGATE_VENDORS): there is no capture topic to read"
        if not self.tenants:
            return "no tenant is configured (FACEGATE_TENANTS or a policy file): there is no tenant topic to read"
        return None


def _log_calibration_reach(models: dict[str, Calibration], policies: dict[str, EffectivePolicy]) -> None:
    """Name, per model, the gallery size up to which the strictest tenant's false-accept target is
    met by measured thresholds, and what holds beyond it: thresholds extrapolated from the measured
    levels (Calibration.threshold), or, with a single level measured, held there: then false
    accepts grow with the gallery, a warning."""
    target = min((p.far_target for p in policies.values()), default=DEFAULT_FAR)
    for model, calibration in sorted(models.items()):
        if not calibration.unit_length:
            log.warning(
                "calibration %s was made by a release that did not scale embeddings to unit length (no "
                "unit_length): its templates are centred at the length they come, and one of another length "
                "than the calibration's embeddings may match strangers; calibrate again with `facegate calibrate`",
                model,
            )
        measured = calibration.measured_gallery(target)
        if calibration.extrapolates:
            log.info(
                "calibration %s: thresholds measured down to a false-accept rate of %g per comparison (a "
                "target of %g per capture, up to %d enrolled subjects of this model in one tenant); stricter "
                "ones for larger galleries are extrapolated",
                model, calibration.strictest_far, target, measured,
            )  # fmt: skip
        else:
            log.warning(
                "calibration %s: thresholds cannot be extrapolated below a false-accept rate of %g per comparison "
                "(one level measured, or none rising over half a decade or more), so a target of %g per capture "
                "holds up to %d enrolled subjects of this model in one tenant; beyond that false accepts grow with "
                "the gallery (calibrate with more labelled embeddings, --max-rows)",
                model, calibration.strictest_far, target, measured,
            )  # fmt: skip


def build_runtime(settings: Settings) -> Runtime:
    try:
        keyring = Keyring.from_environment()
        policies: dict[str, EffectivePolicy] = load_policies(settings.policy_dir) if settings.policy_dir else {}
        models = calibrations(settings.calibration_dir)
    except (KeyringError, PolicyError, CalibrationFileError, OSError) as exc:
        raise StartupError(str(exc)) from None

    _log_calibration_reach(models, policies)
    skew = timedelta(milliseconds=settings.clock_skew_ms)  # one bound for the feeds and the decisions
    if settings.env is Environment.PRODUCTION:
        missing = []
        if keyring is None:
            missing.append("a keyring (FACEGATE_KEYRING_FILE or FACEGATE_KEYRING)")
        if settings.policy_dir is None:
            missing.append("tenant policies (FACEGATE_POLICY_DIR)")
        elif not policies:
            missing.append(f"tenant policies: no *.yaml in {settings.policy_dir}")
        if keyring is not None:
            missing += keyring.missing_for_production(sorted(set(policies) | set(settings.tenants)))
        if missing:
            raise StartupError("production start refused; missing: " + "; ".join(missing))
        assert keyring is not None
        if unpolicied := sorted(set(settings.tenants) - set(policies)):
            # Fail closed rather than refuse: a tenant onboarded before its policy has its inputs BLOCKED.
            log.warning("no policy for tenant(s) %s in %s: their inputs are BLOCKED (NO_TENANT_POLICY) until one is "
                        "added and the workers restart", ", ".join(unpolicied), settings.policy_dir)  # fmt: skip
        state = GatewayState(keyring=keyring, policies=policies, calibrations=models, clock_skew=skew)
        return Runtime(settings, state, development=False)

    log.warning(DEVELOPMENT_WARNING)
    keyring = keyring or Keyring.development_keyring(settings.cache_dir / "development-keyring")
    state = GatewayState(
        keyring=keyring, policies=policies, fallback_policy=development_policy, calibrations=models, clock_skew=skew
    )
    return Runtime(settings, state, development=True)
