"""Comments cite documents that are in the repository, and every cited section exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Notes that live outside the repository: a reader of the code cannot open them.
OUTSIDE = re.compile(r"spec" r" §|SHIFTRESNET_" r"SPEC|PLATFORM_" r"NOTES|FIELD_" r"NOTES|ACCURACY\.md|DESIGN\.md")
CITATION = re.compile(r"docs/([a-z_]+\.md)(?:#([a-z0-9-]+))?")


def sources() -> list[Path]:
    files = [p for folder in ("shiftnet", "tests", "scripts") for p in (REPO / folder).rglob("*")
             if p.suffix in (".py", ".cu", ".yaml") and "__pycache__" not in p.parts]
    return files + [REPO / "README.md", REPO / "BENCHMARKS.md", REPO / "pyproject.toml"]


def anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_no_citation_of_a_document_outside_the_repository():
    offenders = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                 for path in sources() for number, line in enumerate(path.read_text().splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert offenders == []


def test_every_cited_section_exists():
    cited = {(m[1], m[2]) for path in sources() for m in CITATION.finditer(path.read_text())}
    assert ("original.md", "shift") in cited and ("platform.md", "allocator") in cited
    for doc, anchor in sorted(cited, key=str):
        path = REPO / "docs" / doc
        assert path.is_file(), f"docs/{doc} is cited but does not exist"
        if anchor:
            assert anchor in anchors(path), f"docs/{doc}#{anchor} is cited but has no such heading"
