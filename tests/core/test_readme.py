"""The README's manifest reference is generated from the schemas and must be current."""

from __future__ import annotations

import shutil
from pathlib import Path

from fldecl.render.reference import update_readme
from tests.conftest import ROOT


def test_manifest_reference_is_up_to_date(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", copy)
    assert not update_readme(copy), "run: python -m fldecl.render.reference README.md"


def test_readme_opens_with_the_two_commands_ci_runs() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make example" in first_screen and "make test" in first_screen
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
