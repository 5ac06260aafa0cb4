"""The rule catalogue (docs/rules.md): stable ids, names, actions, and the laws each rule draws on.

Every decision names the rules that decided it; audit records carry these ids and the legal
sources of the tenant's jurisdiction pack (`JurisdictionPack.sources`, from the pack's YAML);
the sources here are the catalogue's summary across packs, for reports and docs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    """The catalogue's rules by what they guard; the values are the stable ids audit records carry."""

    SEPARATE_CONSENT = "R01"
    NOTICE = "R02"
    MINORS = "R03"
    PUBLIC_PLACE = "R04"
    PRIVATE_SPACE = "R05"
    PURPOSE_LOCK = "R06"
    NO_RAW_IMAGE = "R07"
    TEMPLATE_PROTECTION = "R08"
    CROSS_COMPANY = "R09"
    WITHDRAWAL = "R10"
    RETENTION = "R11"
    IMPACT_ASSESSMENT = "R12"
    CROSS_BORDER = "R13"
    ALTERNATIVE_METHOD = "R14"
    FILING_THRESHOLD = "R15"
    NO_SALE = "R16"
    NO_SCRAPING = "R17"
    ANOMALY = "R18"
    AUDIT = "R19"


@dataclass(frozen=True)
class RuleSpec:
    id: Rule
    name: str
    action: str
    sources: tuple[str, ...]


CATALOGUE: dict[Rule, RuleSpec] = {
    rule.id: rule
    for rule in (
        RuleSpec(
            Rule.SEPARATE_CONSENT,
            "separate-consent",
            "STRIP",
            ("PIPL 28-29", "SPC 2", "SPC 4", "GDPR 9", "BIPA 15(b)", "CUBI"),
        ),
        RuleSpec(Rule.NOTICE, "notice", "STRIP", ("PIPL 17", "PIPL 30", "CAC", "BIPA 15(b)")),
        RuleSpec(Rule.MINORS, "minors", "STRIP", ("PIPL 28", "PIPL 31", "CAC")),
        RuleSpec(Rule.PUBLIC_PLACE, "public-place", "BLOCK", ("PIPL 26", "CAC 13")),
        RuleSpec(Rule.PRIVATE_SPACE, "private-space", "BLOCK and alert", ("CAC",)),
        RuleSpec(
            Rule.PURPOSE_LOCK,
            "purpose-lock",
            "BLOCK",
            ("PIPL 6", "PIPL 14", "PIPL 24", "GBT", "SPC 2", "BIPA 15(b)(2)"),
        ),
        RuleSpec(Rule.NO_RAW_IMAGE, "no-raw-image", "STRIP image", ("GBT", "CAC")),
        RuleSpec(Rule.TEMPLATE_PROTECTION, "template-protect", "TRANSFORM", ("PIPL 51", "ISO/IEC 24745")),
        RuleSpec(
            Rule.CROSS_COMPANY,
            "cross-company",
            "SHARE_BLOCKED",
            ("PIPL 23", "PIPL 55", "SPC 2", "BIPA 15(d)", "CUBI"),
        ),
        RuleSpec(Rule.WITHDRAWAL, "withdrawal", "ERASE", ("PIPL 15", "PIPL 47", "CAC")),
        RuleSpec(Rule.RETENTION, "retention", "ERASE", ("PIPL 19", "PIPL 47", "BIPA 15(a)", "CUBI")),
        RuleSpec(Rule.IMPACT_ASSESSMENT, "impact-assessment", "BLOCK the tenant", ("PIPL 55-56", "CAC", "GDPR 35")),
        RuleSpec(Rule.CROSS_BORDER, "cross-border", "SHARE_BLOCKED", ("PIPL 38-40",)),
        RuleSpec(Rule.ALTERNATIVE_METHOD, "alternative-method", "BLOCK where the pack requires", ("CAC 10", "SPC 10")),
        RuleSpec(Rule.FILING_THRESHOLD, "filing-threshold", "audit alert on the enrollment", ("CAC 15",)),
        RuleSpec(Rule.NO_SALE, "no-sale", "BLOCK", ("BIPA 15(c)", "CUBI")),
        RuleSpec(Rule.NO_SCRAPING, "no-scraping", "BLOCK the enrollment", ("AIA 5(1)(e)", "CUBI (b-1)", "BIPA 15(b)")),
        RuleSpec(Rule.ANOMALY, "anomaly", "audit alert", ("PIPL 51", "CAC 14", "GDPR 32(1)")),
        RuleSpec(Rule.AUDIT, "audit", "always", ("PIPL 56", "AIA 12(3)")),
    )
}


def legal_sources(rules: Iterable[Rule]) -> list[str]:
    """The legal sources of the given rules, each once, in rule order."""
    seen: dict[str, None] = {}
    for rule in rules:
        for source in CATALOGUE[rule].sources:
            seen.setdefault(f"{rule}: {source}", None)
    return list(seen)
