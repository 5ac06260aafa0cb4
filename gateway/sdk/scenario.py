"""A synthetic world and its traffic: tenants, cameras, consents, enrollments and captures,
each capture with the decision the rules must reach. Used by `facegate simulate`, the demo,
the end-to-end tests and the benchmarks.

The world is built around the Ningbo case: a property developer's sales office films every
visitor to void agents' commissions (blocked whatever the consent says), next to lawful uses:
consenting customers recognised at a retail entrance, an office's access control.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from gateway.contract.models import CameraRegistration, ConsentRecord, Enrollment, FaceCaptured
from gateway.contract.vocabulary import (
    ConsentMethod,
    ConsentStatus,
    Decision,
    LocationType,
    Occlusion,
    Purpose,
)
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population

GOOD_CAPTURE_NOISE = 0.4  # a frontal, well-lit capture: identified reliably
# A stranger the world films looks like no enrolled subject: identity cosine at most this (2.7
# standard deviations of synthetic-512's strangers). A look-alike at 0.35 was accepted under 2.5%
# of random tenant keys (its expected protected agreement, 0.61, sits two standard deviations
# under the 20-subject threshold), so "every stranger is stripped" would hold only by luck.
LOOKALIKE_COSINE = 0.25
STRANGERS = 200
NOTICE = "notice-v1"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    decision: Decision
    reason: str | None  # the reason code, None for FORWARDED
    rule: str  # one rule id the decision must cite


@dataclass(frozen=True)
class Capture:
    """One input for the raw topic: a capture, or malformed bytes, with what must happen to it."""

    kind: str
    expected: Expected
    capture: FaceCaptured | None = None
    raw: bytes | None = field(default=None, repr=False)  # malformed input, sent as is (a payload: not in a repr)
    subject: str | None = None  # the enrolled subject filmed, None for strangers
    vendor: str = "lumen"  # whose capture topic it goes to: its camera's vendor


# The world's camera vendors, each writing its own capture topic; a camera names one of them.
VENDORS = ("lumen", "optix")
_VENDOR_OF_ROLE = {"office-gate": "optix", "no-sign": "optix"}


@dataclass
class World:
    seed: int
    tenants: tuple[str, ...]
    cameras: list[CameraRegistration]
    consents: list[ConsentRecord]
    enrollments: list[Enrollment]
    population: Population
    person_of: dict[tuple[str, str], int] = field(default_factory=dict)
    strangers: tuple[int, ...] = ()  # people enrolled nowhere, none a look-alike of an enrolled one
    vendors: tuple[str, ...] = VENDORS

    def camera(self, tenant: str, role: str) -> CameraRegistration:
        return next(c for c in self.cameras if c.camera_id == f"{tenant}-{role}")


def _camera(
    tenant: str, role: str, location: LocationType, purposes: list[Purpose], signage: bool = True
) -> CameraRegistration:
    return CameraRegistration(
        camera_id=f"{tenant}-{role}",
        tenant_id=tenant,
        site_id=f"{tenant}-site-1",
        location_type=location,
        signage_posted=signage,
        signage_evidence=f"inspection://{tenant}/{role}" if signage else None,
        allowed_purposes=purposes,
        region="CN-ZJ",
        vendor_id=_VENDOR_OF_ROLE.get(role, VENDORS[0]),
    )


def build_world(seed: int = 2026, tenants: tuple[str, ...] = ("acme", "beta"), subjects_per_tenant: int = 20) -> World:
    """Cameras of every kind; per tenant, consenting adults and two minors (one without guardian consent)."""
    enrolled = subjects_per_tenant * len(tenants)
    population = Population.create(SYNTHETIC_512, enrolled + 2 * STRANGERS, seed)  # the rest: candidate strangers
    while len(strangers := _strangers(population, enrolled)) < STRANGERS:  # a large world rules out more
        if len(population.identities) > enrolled + 64 * STRANGERS:
            raise ValueError(f"{enrolled} enrolled subjects leave too few people who look like none of them")
        population = Population.create(SYNTHETIC_512, 2 * len(population.identities), seed)  # same first rows
    cameras, consents, enrollments, person_of = [], [], [], {}
    for t, tenant in enumerate(tenants):
        cameras += [
            _camera(
                tenant,
                "entrance",
                LocationType.RETAIL,
                [Purpose.REPEAT_VISITOR_RECOGNITION, Purpose.SECURITY],
            ),
            _camera(tenant, "office-gate", LocationType.OFFICE, [Purpose.ACCESS_CONTROL]),
            _camera(
                tenant,
                "sales-office",
                LocationType.SALES_OFFICE,
                [Purpose.COMMISSION_ATTRIBUTION, Purpose.MARKETING],
            ),
            _camera(tenant, "no-sign", LocationType.RETAIL, [Purpose.REPEAT_VISITOR_RECOGNITION], signage=False),
            _camera(tenant, "toilet", LocationType.TOILET, [Purpose.SECURITY]),
        ]
        for s in range(subjects_per_tenant):
            subject = f"{tenant}-customer-{s:03d}"
            person = t * subjects_per_tenant + s
            person_of[(tenant, subject)] = person
            # Subject 0 is a child enrolled with guardian consent. Subject 1's consent says adult,
            # so the enrollment is accepted, but the cameras estimate a child: R03 at capture time.
            minor = s == 0
            consents.append(
                ConsentRecord(
                    tenant_id=tenant,
                    subject_id=subject,
                    status=ConsentStatus.GRANTED,
                    purposes=[Purpose.REPEAT_VISITOR_RECOGNITION, Purpose.ACCESS_CONTROL],
                    separate=True,
                    method=ConsentMethod.WRITTEN if s % 2 else ConsentMethod.ELECTRONIC,
                    notice_version=NOTICE,
                    granted_at=EPOCH,
                    minor=minor,
                    guardian_consent=s == 0,
                )
            )
            template = population.captures([person], stream=0, noise=GOOD_CAPTURE_NOISE)[0]
            enrollments.append(
                Enrollment(
                    tenant_id=tenant,
                    subject_id=subject,
                    template=to_bytes(template),
                    template_model=SYNTHETIC_512.name,
                    enrolled_at=EPOCH,
                )
            )
    return World(
        seed,
        tenants,
        cameras,
        consents,
        enrollments,
        population,
        person_of,
        strangers,
    )


def _strangers(population: Population, enrolled: int) -> tuple[int, ...]:
    """Up to STRANGERS people, the first after the enrolled ones who look like none of them."""
    ids = population.identities
    closest = (ids[enrolled:] @ ids[:enrolled].T).max(axis=1, initial=-1.0)
    return tuple(enrolled + int(i) for i in np.flatnonzero(closest <= LOOKALIKE_COSINE)[:STRANGERS])


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "DECODE_TOO_SHORT"),
    (b'{"event_id": "e-1", "camera_id": "acme-entrance"}', "DECODE_BAD_MARKER"),
    (b"\xc3\x01" + b"\x00" * 8 + b"\x02ab", "DECODE_UNKNOWN_FINGERPRINT"),
]


_VISIT = Purpose.REPEAT_VISITOR_RECOGNITION
_FWD, _STRIP, _BLOCK = Decision.FORWARDED, Decision.STRIPPED, Decision.BLOCKED

# kind -> (camera role, purpose, what the rules must decide)
KIND_RULES: dict[str, tuple[str, Purpose, Expected]] = {
    "consenting-customer": ("entrance", _VISIT, Expected(_FWD, None, "R01")),
    "repeat-visitor": ("entrance", _VISIT, Expected(_FWD, None, "R01")),
    "access-control": ("office-gate", Purpose.ACCESS_CONTROL, Expected(_FWD, None, "R01")),
    "minor-with-guardian": ("entrance", _VISIT, Expected(_FWD, None, "R03")),
    "minor-without-guardian": ("entrance", _VISIT, Expected(_STRIP, "MINOR_WITHOUT_GUARDIAN", "R03")),
    "stranger": ("entrance", _VISIT, Expected(_STRIP, "NO_MATCH", "R01")),
    "masked": ("entrance", _VISIT, Expected(_STRIP, "MASKED", "R08")),
    "sales-office-commission": (
        "sales-office",
        Purpose.COMMISSION_ATTRIBUTION,
        Expected(_BLOCK, "PURPOSE_FORBIDDEN", "R06"),
    ),
    "no-signage": ("no-sign", _VISIT, Expected(_BLOCK, "NO_SIGNAGE", "R04")),
    "toilet": ("toilet", Purpose.SECURITY, Expected(_BLOCK, "PRIVATE_SPACE", "R05")),
}


class Traffic:
    """An endless, seeded mix of captures like a day at the cameras, each with its expected decision."""

    KINDS = (
        ("consenting-customer", 30), ("repeat-visitor", 10), ("stranger", 20), ("masked", 8),
        ("minor-with-guardian", 4), ("minor-without-guardian", 4), ("sales-office-commission", 8),
        ("no-signage", 5), ("toilet", 3), ("access-control", 5), ("malformed", 3),
    )  # fmt: skip

    def __init__(self, world: World, seed: int | None = None, start: datetime | None = None) -> None:
        self.world = world
        self.seed = world.seed if seed is None else seed
        self.rng = random.Random(self.seed)  # noqa: S311 - reproducible traffic
        self.clock = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        self.count = 0
        self.last_customer: dict[str, str] = {}

    def __iter__(self) -> Iterator[Capture]:
        return self

    def __next__(self) -> Capture:
        kinds, weights = zip(*self.KINDS, strict=True)
        return self.make(self.rng.choices(kinds, weights)[0])

    def take(self, n: int) -> list[Capture]:
        return [next(self) for _ in range(n)]

    def make(self, kind: str) -> Capture:
        self.count += 1
        self.clock += timedelta(milliseconds=self.rng.randint(5, 200))
        tenant = self.rng.choice(self.world.tenants)
        if kind == "malformed":
            raw, reason = self.rng.choice(MALFORMED)
            return Capture(kind, Expected(Decision.REJECTED, reason, "R19"), raw=raw)
        adults = [s for (t, s) in self.world.person_of if t == tenant and not s.endswith(("-000", "-001"))]
        subject = {
            "consenting-customer": lambda: self.rng.choice(adults),
            "repeat-visitor": lambda: self.last_customer.get(tenant) or self.rng.choice(adults),
            "masked": lambda: self.rng.choice(adults),
            "access-control": lambda: self.rng.choice(adults),
            "minor-with-guardian": lambda: f"{tenant}-customer-000",
            "minor-without-guardian": lambda: f"{tenant}-customer-001",
        }.get(kind, lambda: None)()
        person = self.world.person_of[(tenant, subject)] if subject else self.rng.choice(self.world.strangers)
        role, purpose, expected = KIND_RULES[kind]
        masked = kind == "masked"
        face = self.world.population.captures(
            [person], stream=1000 + self.count, masked=masked, noise=GOOD_CAPTURE_NOISE
        )[0]
        capture = FaceCaptured(
            event_id=f"evt-{self.world.seed}-{self.seed}-{self.count:08d}",  # unique per traffic stream
            camera_id=f"{tenant}-{role}",
            tenant_id=tenant,
            captured_at=self.clock,
            purpose=purpose,
            template=to_bytes(face),
            template_model=SYNTHETIC_512.name,
            quality=round(self.rng.uniform(0.7, 0.99), 3),
            occlusion=Occlusion.MASK if masked else Occlusion.NONE,
            image=b"\xff\xd8\xff\xe0 synthetic face crop" if self.rng.random() < 0.2 else None,
            age_estimate=9 if kind.startswith("minor") else self.rng.randint(18, 80),
        )
        if kind in ("consenting-customer", "access-control"):
            self.last_customer[tenant] = subject or ""
        vendor = self.world.camera(tenant, role).vendor_id or VENDORS[0]
        return Capture(kind, expected, capture=capture, subject=subject, vendor=vendor)
