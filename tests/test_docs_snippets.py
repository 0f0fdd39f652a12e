"""The README and docs as a new user follows them: after ``policyengine demo`` and nothing else, every
```python block runs as written, every SQL example of the README answers through ``policyengine query``,
and the README's ``.gitignore`` keeps out what the demo writes.

Each file's blocks run in order in one fresh interpreter (as a user pastes them into one session), in a
folder holding a copy of the example policy set and what ``policyengine demo`` built there, with no
``POLICYENGINE_*`` variable set: the key must be found the way the README says.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
#: what the first Quick start command installs: the package's own dependencies, by import name
CORE_IMPORTS = {"policyengine", "sqlglot", "duckdb", "pydantic", "jinja2", "typer", "rich", "yaml", "faker", "scramp"}

#: runs each block of a document in one namespace and says which block (by line) failed
RUNNER = r"""
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for line, code in blocks:
    try:
        exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), namespace)
    except BaseException:
        print(f"BLOCK AT {sys.argv[2]}:{line} FAILED", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def code_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """(line of the opening fence, code) of each fenced block in ``language``."""
    text = path.read_text()
    return [(text.count("\n", 0, match.start()) + 1, match.group(2))
            for match in _BLOCK.finditer(text) if match.group(1) == language]


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder after the first Quick start command: the policy set, and what ``demo`` wrote."""
    folder = tmp_path_factory.mktemp("new-user")
    shutil.copytree(EXAMPLE, folder / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    demo = subprocess.run([sys.executable, "-m", "policyengine", "demo"], cwd=folder, env=clean_environment(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert demo.returncode == 0, demo.stderr
    assert (folder / "demo.duckdb").is_file() and (folder / "policyengine.key").is_file()
    return folder


def test_the_readme_has_python_blocks_to_run() -> None:
    assert len(code_blocks(ROOT / "README.md", "python")) >= 2


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if code_blocks(d, "python")],
                         ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_python_block_runs_as_written(document: Path, after_demo: Path, tmp_path: Path) -> None:
    blocks = code_blocks(document, "python")
    listing = tmp_path / "blocks.json"
    listing.write_text(json.dumps(blocks))
    result = subprocess.run([sys.executable, "-c", RUNNER, str(listing), document.relative_to(ROOT).as_posix()],
                            cwd=after_demo, env=clean_environment(), capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if code_blocks(d, "python")],
                         ids=lambda d: d.relative_to(ROOT).as_posix())
def test_python_blocks_import_only_what_the_first_quick_start_command_installs(document: Path) -> None:
    for line, code in code_blocks(document, "python"):
        for node in ast.walk(ast.parse(code)):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in CORE_IMPORTS or top in sys.stdlib_module_names, \
                    f"{document.name}:{line} imports {name}, which `pip install -e .` does not install"


def readme_statements() -> list[str]:
    """Every SQL statement the README quotes, in code blocks or prose: a SELECT in double quotes or backticks."""
    found = re.findall(r'["`](SELECT [^"`]+)["`]', (ROOT / "README.md").read_text())
    return sorted({" ".join(statement.split()) for statement in found})


def test_the_readme_quotes_statements() -> None:
    assert len(readme_statements()) >= 4


@pytest.mark.parametrize("statement", readme_statements())
def test_every_readme_statement_answers_through_policyengine_query(statement: str, after_demo: Path) -> None:
    """``policyengine query --principal bob --db demo.duckdb "<statement>"``: rows, or a refusal with
    its reason (exit 2), never an error or a traceback."""
    result = subprocess.run([sys.executable, "-m", "policyengine", "query", "--principal", "bob", "--db",
                             "demo.duckdb", "--format", "json", statement], cwd=after_demo, env=clean_environment(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.startswith("refused: ") and "needs a key" not in result.stderr, result.stderr
    else:
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)


def test_the_readme_gitignore_keeps_out_what_the_demo_and_user_add_write(after_demo: Path, tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    [(_, ignore)] = code_blocks(ROOT / "README.md", "gitignore")
    repository = tmp_path / "team"
    shutil.copytree(after_demo, repository)
    (repository / "policyengine-users.yaml").write_text("users: {}\n")  # what `policyengine user add` writes
    (repository / ".gitignore").write_text(ignore)
    subprocess.run(["git", "init", "-q"], cwd=repository, check=True)
    written = ["policyengine.key", "demo.duckdb", "policyengine-users.yaml",
               *[p.relative_to(repository).as_posix()
                 for p in (repository / ".policyengine").rglob("*") if p.is_file()]]
    assert any(name.startswith(".policyengine/") for name in written)  # the demo's audit log
    checked = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=repository, capture_output=True,
                             text=True, check=False)
    assert sorted(checked.stdout.split()) == sorted(written)
    # and the policy set itself is not ignored
    kept = subprocess.run(["git", "check-ignore", "--no-index", "policies/roles.yaml"], cwd=repository,
                          capture_output=True, text=True, check=False)
    assert kept.returncode == 1
