"""docs/rules.md stays true of the code: every reason code the gateway produces is in the
catalogue, and every rule's section cites, per pack, exactly what that pack's YAML gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import CATALOGUE, Rule
from gateway.files.packs import load_pack, pack_ids

RULES_MD = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

# Reason codes that are not about any rule, and so need not appear in docs/rules.md, each with
# why. Empty: every code is produced under some rule (input that cannot be decided, such as
# bytes that do not decode, is REJECTED under R19, whose section lists those codes).
NOT_ABOUT_A_RULE: dict[Reason, str] = {}

SECTION = re.compile(r"^## (R\d{2}) (\S+)\n(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)
REASON_CODES = re.compile(r"^\*\*Reason codes\b.*?(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)
SOURCES = re.compile(r"^\*\*Legal sources\.\*\*\n((?:- .*\n?)+)", re.MULTILINE)
PACK_LINE = re.compile(r"^- ([a-z]+-[a-z]+): (.*)$")


def sections() -> dict[str, tuple[str, str]]:
    """Rule id -> (the name in its heading, the section's text)."""
    return {m.group(1): (m.group(2), m.group(3)) for m in SECTION.finditer(RULES_MD.read_text())}


def reason_codes(body: str) -> set[str]:
    """The backticked codes in a section's "Reason codes" paragraph."""
    return {code for paragraph in REASON_CODES.findall(body) for code in re.findall(r"`([A-Z][A-Z_]*)`", paragraph)}


def test_every_rule_has_one_section_named_as_in_the_catalogue() -> None:
    found = sections()
    assert sorted(found) == [rule.value for rule in Rule]
    assert {rule: found[rule.value][0] for rule in Rule} == {rule: CATALOGUE[rule].name for rule in Rule}


def test_every_reason_code_is_listed_under_a_rule() -> None:
    listed = set().union(*(reason_codes(body) for _, body in sections().values()))
    missing = sorted(r.value for r in Reason if r.value not in listed and r not in NOT_ABOUT_A_RULE)
    assert missing == [], f"reason codes no rule section of docs/rules.md lists: {missing}"
    unknown = sorted(listed - {r.value for r in Reason})
    assert unknown == [], f"docs/rules.md lists codes that are not in Reason: {unknown}"


def test_allow_listed_codes_say_why() -> None:
    assert all(why.strip() for why in NOT_ABOUT_A_RULE.values())


@pytest.mark.parametrize("rule", list(Rule), ids=str)
def test_a_rule_section_cites_exactly_each_packs_legal_sources(rule: Rule) -> None:
    body = sections()[rule.value][1]
    block = SOURCES.search(body)
    assert block is not None, f"{rule.value}: no **Legal sources.** list"
    cited: dict[str, list[str]] = {}
    for line in block.group(1).splitlines():
        match = PACK_LINE.match(line)
        assert match is not None, f"{rule.value}: not '- <pack>: <cite>; <cite>' or '- <pack>: none': {line!r}"
        pack, cites = match.groups()
        assert pack not in cited, f"{rule.value}: {pack} listed twice"
        cited[pack] = [] if cites == "none" else cites.split("; ")
    assert sorted(cited) == pack_ids(), f"{rule.value}: one line per pack"
    for pack_id, listed in cited.items():
        given = [citation.text for citation in load_pack(pack_id).legal_sources[rule]]
        assert not any("; " in text or text == "none" for text in given), "a citation the doc format cannot hold"
        assert listed == given, f"{rule.value} {pack_id}: docs/rules.md differs from the pack's legal_sources"
