"""The repository stands alone: its docs are in docs/, nothing points outside it, and the
LICENSE matches what pyproject.toml declares."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Built from parts so that this file does not match itself.
OUTSIDE_REFERENCES = ("../" + "shared", "shared/" + "DESIGN", "shared/" + "RULES")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        text = data.decode("utf-8", "replace")
        offenders += [f"{path.relative_to(ROOT)}: {ref}" for ref in OUTSIDE_REFERENCES if ref in text]
    assert not offenders, "files refer to documents outside the repository:\n" + "\n".join(offenders)


def test_license_is_apache_2_as_pyproject_declares() -> None:
    header = [line.strip() for line in (ROOT / "LICENSE").read_text().splitlines() if line.strip()][:3]
    assert header == ["Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"


def test_every_rule_in_the_catalogue_has_a_section_in_docs_rules() -> None:
    rule_ids = set(re.findall(r"\"(R\d{2})\"", (ROOT / "gateway/core/policy/rules.py").read_text()))
    assert rule_ids == {f"R{n:02d}" for n in range(1, 20)}
    sections = set(re.findall(r"^## (R\d{2})\b", (ROOT / "docs/rules.md").read_text(), re.MULTILINE))
    assert rule_ids <= sections, f"rules without a section in docs/rules.md: {sorted(rule_ids - sections)}"


def test_readme_is_short_and_every_relative_link_in_the_docs_resolves() -> None:
    readme = ROOT / "README.md"
    assert len(readme.read_bytes()) <= 10_500, "the README keeps to what a newcomer needs; the rest is in docs/"
    for doc in ("operations", "vendors", "tenants", "regulators", "rules", "design"):
        assert f"docs/{doc}.md" in readme.read_text(), doc
    assert "(CHANGELOG.md)" in readme.read_text()
    broken = []
    for page in [readme, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_every_anchor_a_doc_links_is_a_heading_there() -> None:
    """The alerts' runbooks are anchors of docs/operations.md, read in a hurry: a link to a
    section renamed since lands at the top of a long page."""
    from tests.support.markdown import anchors

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy/helm/facegate/README.md"]
    broken = []
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", page.read_text()):
            linked = (page.parent / target) if target else page
            if "://" not in target and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert broken == []


def test_every_setting_is_documented_for_operators() -> None:
    from gateway.settings import Settings

    text = (ROOT / "docs" / "operations.md").read_text()
    assert [n for n in Settings.model_fields if f"FACEGATE_{n.upper()}" not in text] == []


def test_every_threat_names_tests_that_exist() -> None:
    """docs/threat-model.md: each threat row's last column names the tests covering it, and each
    named file (and test function, where one is named) exists."""
    text = (ROOT / "docs" / "threat-model.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"^\| [STRIDE] \|", line)]
    assert len(rows) >= 30
    for row in rows:
        covered = row.rstrip(" |").rsplit(" | ", 1)[-1]
        named = re.findall(r"`((?:tests|bench)/[^`]+?)`", covered)
        assert named, f"no test named for: {row[:100]}"
        for reference in named:
            path, _, function = reference.partition("::")
            assert (ROOT / path).exists(), reference
            assert not function or f"def {function}(" in (ROOT / path).read_text(), reference
    assert "**open**" not in text, "an open threat belongs under Known gaps"


def test_the_changelog_names_this_release_and_only_variables_the_docs_describe() -> None:
    from gateway import __version__

    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}] - " in text and text.index("## [Unreleased]") < text.index(f"## [{__version__}]")
    variables = re.compile(r"`(FACEGATE_[A-Z0-9_]+)`")
    named = set(variables.findall(text))
    documented = {v for page in (ROOT / "docs").glob("*.md") for v in variables.findall(page.read_text())}
    assert named and named <= documented, sorted(named - documented)
