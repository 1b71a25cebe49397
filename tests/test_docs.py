"""The knowledge in the repo: every § citation in ``dsx/`` resolves.

A citation of the project's own notes ("physics.md §5.3", "physics reference §3, §11") must
name a numbered heading of ``docs/physics.md``; any other § is a section of a paper and must
follow a name that identifies an entry of ``docs/references.bib`` (add a new work there and to
:data:`WORKS`). Every ``[key]`` cited in
``docs/physics.md`` is defined in the bibliography.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "docs" / "physics.md"
BIB = ROOT / "docs" / "references.bib"

NUMBER = r"\d+(?:\.\d+)*"
#: "physics.md §2, §6", "physics reference §3 and §11", "Physics reference §7".
OWN = re.compile(rf"physics(?:\.md| reference)?\s+§\s*{NUMBER}(?:(?:\s*,\s*|\s+and\s+)§\s*{NUMBER})*", re.I)
#: Names that identify a paper or book in the source text -> its key in references.bib.
WORKS = {
    "Dao": "dao2022", "Korthikanti": "korthikanti2022", "arXiv:2205.05198": "korthikanti2022", "Pope": "pope2022",
    "arXiv:2211.05102": "pope2022", "Llama Team": "llama3", "arXiv:2407.21783": "llama3", "Allen": "allen1990",
    "Kleinrock": "kleinrock1975", "Narayanan": "narayanan2021", "arXiv:2104.04473": "narayanan2021",
    "Rajbhandari": "rajbhandari2020", "ZeRO": "rajbhandari2020", "arXiv:1910.02054": "rajbhandari2020",
    "Kwon": "kwon2023", "vLLM": "kwon2023", "PagedAttention": "kwon2023", "DeepSeek-V2": "deepseekv2",
    "Mixtral": "jiang2024", "Jiang": "jiang2024", "Shoeybi": "shoeybi2019", "Tran-Gia": "trangia2021",
    "Hoffmann": "hoffmann2022", "arXiv:2203.15556": "hoffmann2022", "Kaplan": "kaplan2020",
    "Zhong": "zhong2024", "DistServe": "zhong2024", "Patterson": "patterson2021", "Chowdhery": "chowdhery2022",
    "PaLM": "chowdhery2022", "Leviathan": "leviathan2023", "Dai et al. 2019": "dai2019",
    "arXiv:1901.02860": "dai2019", "Touvron": "touvron2023", "arXiv:2307.09288": "touvron2023",
    "Nocedal": "nocedal2006", "Gale": "gale2023", "MegaBlocks": "gale2023", "Raab": "raab1998",
}
#: How far before a § its work must be named (one reference entry of a docstring).
REACH = 160


def _headings() -> set[str]:
    """Section numbers of docs/physics.md: "## 5. Communication" -> "5", "### 5.1 ..." -> "5.1"."""
    found = re.findall(rf"^#{{2,4}}\s+({NUMBER})\.?\s", PHYSICS.read_text(), re.M)
    return set(found)


def _bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(), re.M))


def _sources():
    for path in [*sorted((ROOT / "dsx").rglob("*.py")), ROOT / "dsx" / "variables.toml"]:  # + the registry
        yield path.relative_to(ROOT), path.read_text()


def _own_citations():
    for rel, text in _sources():
        for m in OWN.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            for number in re.findall(rf"§\s*({NUMBER})", m.group(0)):
                yield f"{rel}:{line}", number.rstrip("."), m.span()


def test_physics_notes_are_numbered():
    numbers = _headings()
    assert {str(n) for n in range(12)} <= numbers
    assert {"4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3"} <= numbers


def test_every_own_citation_resolves_to_a_heading():
    numbers = _headings()
    cites = list(_own_citations())
    assert len(cites) >= 30, "the solvers cite the physics notes throughout"
    missing = [f"{where}: §{n}" for where, n, _ in cites if n not in numbers]
    assert not missing, "citations of docs/physics.md without a heading there:\n" + "\n".join(missing)


def test_every_other_section_sign_names_a_work_in_the_bibliography():
    keys = _bib_keys()
    names = re.compile("|".join(re.escape(n) for n in sorted(WORKS, key=len, reverse=True)))
    unresolved = []
    for rel, text in _sources():
        own = [span for m in OWN.finditer(text) for span in [m.span()]]
        for m in re.finditer("§", text):
            if any(a <= m.start() < b for a, b in own):
                continue
            before = text[max(0, m.start() - REACH):m.start()]
            named = list(names.finditer(before))
            line = text.count("\n", 0, m.start()) + 1
            if not named:
                unresolved.append(f"{rel}:{line}: ...{before[-60:]!r}§ names no known work")
            elif WORKS[named[-1].group(0)] not in keys:
                unresolved.append(f"{rel}:{line}: {WORKS[named[-1].group(0)]} is not in docs/references.bib")
    assert not unresolved, "\n".join(unresolved)


def test_physics_notes_cite_only_defined_keys():
    keys = _bib_keys()
    cited = set(re.findall(r"\[([a-z][a-z0-9]+)\]", PHYSICS.read_text()))
    assert len(cited) >= 25
    assert cited <= keys, f"cited but not in docs/references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("doc", ["docs/physics.md", "CONTRIBUTING.md", "docs/references.bib"])
def test_docs_stand_alone(doc):
    """No machine paths or pointers outside the repository."""
    text = (ROOT / doc).read_text()
    assert "/work/" not in text and "../shared" not in text
