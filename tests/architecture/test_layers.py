"""The layers of the README's "How it works", enforced: the import contract holds, catches new
wrong-way arrows, and every function-local import of fldecl's own code says why it is lazy."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the ``fldecl`` package found in ``root``, with the contracts of ``pyproject.toml``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_import_contract_holds() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "arrow", "broken"), [
    ("core/plan.py", "import fldecl.providers.wml.mapping", "The reconciler core knows no backend"),
    ("core/apply.py", "import fldecl.models", "The reconciler core knows no backend"),
    ("emulator/lifecycle.py", "import fldecl.providers.wml.mapping", "The WML emulator stands alone"),
    ("kinds/model.py", "import fldecl.launch.job", "Each room imports only the rooms below it"),
    ("providers/local/models.py", "import fldecl.providers.wml", "Providers are independent of each other"),
])
def test_a_wrong_way_arrow_breaks_the_contract(tmp_path: Path, module: str, arrow: str, broken: str) -> None:
    shutil.copytree(ROOT / "fldecl", tmp_path / "fldecl", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "fldecl" / module
    target.write_text(target.read_text() + f"\n{arrow}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout.split(broken, 1)[1].split("\n")[0] + result.stdout


def test_function_local_imports_of_fldecl_say_why_they_are_lazy() -> None:
    unexplained = []
    for path in sorted((ROOT / "fldecl").rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for statement in ast.walk(node):
                if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("fldecl") \
                        and "# lazy" not in lines[statement.lineno - 1] and _group_head(lines, statement.lineno) is None:
                    unexplained.append(f"{path.relative_to(ROOT)}:{statement.lineno}: {lines[statement.lineno - 1].strip()}")
    assert not unexplained, "function-local imports without '# lazy: why':\n" + "\n".join(unexplained)


def _group_head(lines: list[str], lineno: int) -> int | None:
    """The line of a ``# lazy`` import heading the block of imports that ``lineno`` belongs to."""
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith(("from ", "import ")):
        if "# lazy" in lines[index]:
            return index + 1
        index -= 1
    return None
