"""An operator's own face model end to end on Apache Kafka (issue 16): `facegate calibrate` measures
a model FaceGate does not ship from labelled embeddings with person names as labels, the worker
loads the file from FACEGATE_CALIBRATION_DIR, and captures of that model are identified for
consenting enrolled subjects (FORWARDED) and not for strangers (STRIPPED, NO_MATCH); a model with
no calibration file is still not identified (MODEL_UNCALIBRATED).

The model is dlib-like: a large common component (strangers' raw cosine ~0.8), so nothing would
work without the per-model centring the calibration measures. It is calibrated on one population
and deployed on another, as an operator calibrates on a data set and meets other people.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.models import Enrollment, FaceCaptured
from gateway.contract.vocabulary import Decision, Occlusion, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import Population, SyntheticModel
from gateway.files.calibrations import read
from gateway.sdk.scenario import EPOCH, GOOD_CAPTURE_NOISE, Capture, Expected
from tests.support.deployment import Deployment
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka

VENDOR = SyntheticModel("vendor-edge-256", 256, spectrum_decay=0.6, offset=1.5)
UNCALIBRATED = "vendor-edge-256-next"  # the vendor's next model, not calibrated yet


def calibrate_with_the_cli(folder: Path, work: Path) -> Path:
    """Labelled embeddings of 1,200 people (two clean captures and a masked one each, labelled by
    name) in an .npz, calibrated by `facegate calibrate` into the calibration folder."""
    people = 1200
    population = Population.create(VENDOR, people, seed=5)
    everyone = np.arange(people)
    embeddings = np.concatenate(
        [population.captures(everyone, 0), population.captures(everyone, 1), population.captures(everyone, 2, True)]
    )
    names = np.array([f"person {i:04d}" for i in everyone] * 3)
    masked = np.repeat([False, False, True], people)
    data = work / "labelled.npz"
    np.savez(data, embeddings=embeddings, labels=names, masked=masked)
    out = folder / f"{VENDOR.name}.json"
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "calibrate", "--embeddings", str(data), "--model", VENDOR.name,
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_a_model_calibrated_by_the_operator_identifies_consenting_subjects_only(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    folder = tmp_path / "calibrations"
    folder.mkdir()
    calibration = read(calibrate_with_the_cli(folder, tmp_path))
    assert calibration.template_model == VENDOR.name and calibration.dim == VENDOR.dim
    assert np.linalg.norm(calibration.mean_vector) > 0.5  # not zero-centred: the centring matters

    d = Deployment(kafka, unique, tmp_path, extra_env={"FACEGATE_CALIBRATION_DIR": str(folder)})
    deployed = Population.create(VENDOR, 60, seed=11)  # other people than those calibrated on
    subjects = [f"acme-customer-{s:03d}" for s in range(2, 10)]  # consenting adults of the world
    enrolled = deployed.captures(list(range(len(subjects))), stream=0, noise=GOOD_CAPTURE_NOISE)
    d.world.enrollments = [
        Enrollment(
            tenant_id="acme",
            subject_id=subject,
            template=to_bytes(enrolled[n]),
            template_model=VENDOR.name,
            enrolled_at=EPOCH,
        )
        for n, subject in enumerate(subjects)
    ]
    worker = d.start_worker()
    asyncio.run(d.publish_world(worker))

    now = datetime.now(UTC) - timedelta(seconds=5)
    camera = d.world.camera("acme", "entrance")

    def capture(n: int, person: int, model: str, expected: Expected, subject: str | None) -> Capture:
        face = deployed.captures([person], stream=100 + n, noise=GOOD_CAPTURE_NOISE)[0]
        event = FaceCaptured(
            event_id=f"{unique.prefix}cal-{n:03d}", camera_id=camera.camera_id, tenant_id="acme",
            captured_at=now + timedelta(milliseconds=n), purpose=Purpose.REPEAT_VISITOR_RECOGNITION,
            template=to_bytes(face), template_model=model, quality=0.95, occlusion=Occlusion.NONE, age_estimate=35,
        )  # fmt: skip
        return Capture("operator-model", expected, capture=event, subject=subject)

    forwarded = Expected(Decision.FORWARDED, None, "R01")
    stripped = Expected(Decision.STRIPPED, "NO_MATCH", "R01")
    items = [capture(n, n, VENDOR.name, forwarded, s) for n, s in enumerate(subjects)]
    items += [capture(20 + n, 20 + n, VENDOR.name, stripped, None) for n in range(20)]  # strangers
    uncalibrated = Expected(Decision.STRIPPED, "MODEL_UNCALIBRATED", "R08")
    items += [capture(50, 0, UNCALIBRATED, uncalibrated, subjects[0])]
    asyncio.run(d.send(items))

    wanted = {i.capture.event_id for i in items if i.capture is not None}
    audits = d.audits(lambda found: wanted <= {a.event_id for a in found}, timeout=120)
    by_event = {a.event_id: a for a in audits if a.event_id in wanted}
    pseudonyms = set()
    for item in items:
        assert item.capture is not None
        audit = by_event[item.capture.event_id]
        assert audit.decision is item.expected.decision, (item.subject, audit.reason_codes)
        if item.expected.reason is not None:
            assert item.expected.reason in audit.reason_codes, audit.reason_codes
        if audit.decision is Decision.FORWARDED:
            assert audit.subject_pseudonym is not None and audit.match_score_band is not None
            pseudonyms.add(audit.subject_pseudonym)
    assert len(pseudonyms) == len(subjects)  # each identified as their own enrolled self
    assert worker.metric("facegate_templates_needing_reenrollment") == 0
    assert d.stop_all() == [0]
