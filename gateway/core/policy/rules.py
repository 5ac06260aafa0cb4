"""The rule catalogue of RULES.md: stable ids, what each checks, and its legal sources.

Every decision names the rules that decided it; audit records carry these ids and sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RuleId(StrEnum):
    R01 = "R01"
    R02 = "R02"
    R03 = "R03"
    R04 = "R04"
    R05 = "R05"
    R06 = "R06"
    R07 = "R07"
    R08 = "R08"
    R09 = "R09"
    R10 = "R10"
    R11 = "R11"
    R12 = "R12"
    R13 = "R13"
    R14 = "R14"
    R15 = "R15"
    R16 = "R16"
    R17 = "R17"
    R18 = "R18"
    R19 = "R19"


@dataclass(frozen=True)
class Rule:
    id: RuleId
    name: str
    action: str
    sources: tuple[str, ...]


CATALOGUE: dict[RuleId, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            RuleId.R01,
            "separate-consent",
            "STRIP",
            ("PIPL 28-29", "SPC 2", "SPC 4", "GDPR 9", "BIPA 15(b)", "CUBI"),
        ),
        Rule(RuleId.R02, "notice", "STRIP", ("PIPL 17", "PIPL 30", "CAC", "BIPA 15(b)")),
        Rule(RuleId.R03, "minors", "STRIP", ("PIPL 28", "PIPL 31", "CAC")),
        Rule(RuleId.R04, "public-place", "BLOCK", ("PIPL 26", "CAC 13")),
        Rule(RuleId.R05, "private-space", "BLOCK and alert", ("CAC",)),
        Rule(
            RuleId.R06,
            "purpose-lock",
            "BLOCK",
            ("PIPL 6", "PIPL 14", "PIPL 24", "GBT", "SPC 2", "BIPA 15(c)"),
        ),
        Rule(RuleId.R07, "no-raw-image", "STRIP image", ("GBT", "CAC")),
        Rule(RuleId.R08, "template-protect", "TRANSFORM", ("PIPL 51", "ISO/IEC 24745")),
        Rule(
            RuleId.R09,
            "cross-company",
            "SHARE_BLOCKED",
            ("PIPL 23", "PIPL 55", "SPC 2", "BIPA 15(d)", "CUBI"),
        ),
        Rule(RuleId.R10, "withdrawal", "ERASE", ("PIPL 15", "PIPL 47", "CAC")),
        Rule(RuleId.R11, "retention", "ERASE", ("PIPL 19", "PIPL 47", "BIPA 15(a)", "CUBI")),
        Rule(RuleId.R12, "impact-assessment", "BLOCK the tenant", ("PIPL 55-56", "CAC", "GDPR 35")),
        Rule(RuleId.R13, "cross-border", "SHARE_BLOCKED", ("PIPL 38-40",)),
        Rule(RuleId.R14, "alternative-method", "flag in audit", ("CAC 10", "SPC 10")),
        Rule(RuleId.R15, "filing-threshold", "audit alert", ("CAC 15",)),
        Rule(RuleId.R16, "no-sale", "BLOCK", ("BIPA 15(c)", "CUBI")),
        Rule(RuleId.R17, "no-scraping", "BLOCK", ("AIA 5(1)(e)",)),
        Rule(RuleId.R18, "anomaly", "audit alert", ("PIPL 57",)),
        Rule(RuleId.R19, "audit", "always", ("PIPL 56", "AIA 12(3)")),
    )
}


def legal_sources(rule_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The legal sources of the given rules, each once, in rule order."""
    seen: dict[str, None] = {}
    for rule_id in rule_ids:
        for source in CATALOGUE[RuleId(rule_id)].sources:
            seen.setdefault(f"{rule_id}: {source}", None)
    return list(seen)
