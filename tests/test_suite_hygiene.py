"""The test suite's own layout: no test module imports another test module, and no module imports a fixture.

Importing a test module runs its module-level skips and collection side effects inside another module,
and importing a fixture function registers it a second time (pyflakes' F811 pattern, and a module-scoped
fixture then runs once per importing module under a name that hides where it lives). What the test
modules share lives in tests/conftest.py (fixtures, found by pytest without an import) or in plain
helper modules under tests/harness/.
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

TESTS = ROOT / "tests"
#: every Python file that could import a test module: the tests, their helpers, the benchmarks
SOURCES = sorted(p for folder in (TESTS, ROOT / "benchmarks") for p in folder.rglob("*.py")
                 if "fixtures" not in p.relative_to(folder).parts)


def imported_modules(source: str) -> set[str]:
    """Dotted names a module imports, as written (``from tests import test_x`` gives ``tests.test_x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}" if node.module else f"{base}{alias.name}" for alias in node.names)
    return names


def names_a_test_module(module: str) -> bool:
    """``tests.test_x``, ``.test_x`` or ``test_x`` (tests/ is on sys.path under pytest's prepend mode)."""
    parts = module.lstrip(".").split(".")
    ours = module.startswith(".") or parts[0] == "tests" or parts[0].startswith("test_")
    return ours and any(part.startswith("test_") for part in parts)


def conftest_fixtures() -> set[str]:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any("fixture" in ast.unparse(d) for d in node.decorator_list)}


def test_the_check_finds_each_spelling_of_importing_a_test_module():
    for spelling in ("from tests.test_server_psql import KEY", "import tests.test_tpc", "from tests import test_tpc",
                     "from .test_tpc import x", "from . import test_tpc", "import test_tpc"):
        assert any(names_a_test_module(m) for m in imported_modules(spelling)), spelling
    for spelling in ("from tests.conftest import EXAMPLE", "from tests.harness.frontdoor import psql",
                     "import pytest", "from tests import tpc"):
        assert not any(names_a_test_module(m) for m in imported_modules(spelling)), spelling


def test_no_module_imports_a_test_module():
    assert len(SOURCES) > 20
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path.read_text())
                                                     if names_a_test_module(m))
                 for path in SOURCES}
    offenders = {path: modules for path, modules in offenders.items() if modules}
    assert offenders == {}, ("move what is shared into tests/conftest.py (fixtures) or tests/harness/ (helpers): "
                             f"{offenders}")


def test_no_module_imports_a_fixture_from_conftest():
    fixtures = conftest_fixtures()
    assert {"frontdoor", "server_port", "example", "write_set"} <= fixtures
    offenders = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("conftest"):
                names = sorted(alias.name for alias in node.names if alias.name in fixtures)
                if names:
                    offenders[str(path.relative_to(ROOT))] = names
    assert offenders == {}, f"fixtures are found by pytest; importing one registers it again: {offenders}"
