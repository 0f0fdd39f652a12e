"""The pipeline is one-way: no module imports a module of a higher layer (docs/architecture.md).

Every module under policyengine/ is parsed with :mod:`ast` and every import in it counted: at module
level, inside functions, under ``if TYPE_CHECKING:`` (a type-only import still ties the lower layer
to the higher one's names). Each imported ``policyengine`` module is mapped to its layer by the table
below, which is the one docs/architecture.md shows (checked here too). A module that no layer claims
fails the test as well: a new package must be placed in the table, and in the document, on purpose.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "policyengine"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

#: bottom first; a module may import its own layer and the layers below it, never one above.
#: Each entry names packages or modules (a package claims every module under it).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("utilities", ("policyengine.bounded_cache", "policyengine.keyed_core", "policyengine.crypto")),
    ("model", ("policyengine.model", "policyengine.protections")),
    ("decision", ("policyengine.decision",)),
    ("rewrite", ("policyengine.rewrite", "policyengine.ddl", "policyengine.lineage", "policyengine.audit",
                 "policyengine.loading")),
    ("backends", ("policyengine.backends",)),
    ("engine", ("policyengine.engine", "policyengine.result_hooks")),
    ("features", ("policyengine.dlp",)),
    ("front ends", ("policyengine.dbapi", "policyengine.sqlalchemy_dialect", "policyengine.testing",
                    "policyengine.server", "policyengine.demo", "policyengine.report", "policyengine.dbt",
                    "policyengine.fuzz", "policyengine.schema_files", "policyengine.conformance")),
    ("command line", ("policyengine.cli", "policyengine.__main__", "policyengine")),
)


def layer_of(module: str) -> int | None:
    """The rank of the layer that claims ``module`` (the longest claim wins), None if none does."""
    best: tuple[int, int] | None = None  # (length of the claim, rank)
    for rank, (_, claims) in enumerate(LAYERS):
        for claim in claims:
            if (module == claim or module.startswith(claim + ".")) and (best is None or len(claim) > best[0]):
                best = (len(claim), rank)
    return None if best is None else best[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path = ROOT) -> bool:
    relative = Path(*name.split("."))
    return (root / relative).with_suffix(".py").is_file() or (root / relative / "__init__.py").is_file()


@dataclass(frozen=True)
class Import:
    file: str
    line: int
    importer: str
    imported: str


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every ``policyengine`` module ``path`` imports, wherever the import statement is.

    ``from policyengine.x import y`` imports ``policyengine.x.y`` when that is a module, else
    ``policyengine.x``; relative imports are resolved against the importing module's package.
    """
    importer = module_name(path, root)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" if is_module(f"{source}.{alias.name}", root) else source
                     for alias in node.names]
        for name in names:
            if name == "policyengine" or name.startswith("policyengine."):
                found.append(Import(path.relative_to(root).as_posix(), node.lineno, importer, name))
    return found


def all_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer() -> None:
    unplaced = [module_name(p) for p in all_modules() if layer_of(module_name(p)) is None]
    assert not unplaced, f"modules no layer claims (add them to LAYERS and docs/architecture.md): {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for path in all_modules():
        for found in imports_of(path):
            own, theirs = layer_of(found.importer), layer_of(found.imported)
            if own is not None and theirs is not None and theirs > own:
                upward.append(f"{found.file}:{found.line}: {found.importer} ({LAYERS[own][0]}) imports "
                              f"{found.imported} ({LAYERS[theirs][0]})")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_the_architecture_document_shows_the_same_layers() -> None:
    """docs/architecture.md's table (``| layer | packages | ... |``) lists these layers, bottom first,
    with these packages: the document and the test cannot drift apart."""
    rows = []
    for line in ARCHITECTURE.read_text().splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|", line)
        if match:
            packages = tuple(sorted(re.findall(r"`([\w.]+)`", match.group(3))))
            rows.append((int(match.group(1)), match.group(2), packages))
    expected = [(rank, name, tuple(sorted(claims))) for rank, (name, claims) in enumerate(LAYERS)]
    assert rows == expected


# --- the checker itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("module, layer", [
    ("policyengine.model.loader", "model"),
    ("policyengine.decision.grant", "decision"),
    ("policyengine.backends.base", "backends"),
    ("policyengine.cli.output", "command line"),
    ("policyengine", "command line"),
    ("policyengine.crypto", "utilities"),
])
def test_modules_map_to_their_layer(module: str, layer: str) -> None:
    rank = layer_of(module)
    assert rank is not None and LAYERS[rank][0] == layer


def test_an_upward_import_is_found_wherever_it_is_written(tmp_path: Path) -> None:
    """A function-level import, a ``from package import module`` and a relative import are all seen,
    with the line they are on."""
    fake = tmp_path / "policyengine" / "model"
    fake.mkdir(parents=True)
    (tmp_path / "policyengine" / "__init__.py").write_text("")
    (tmp_path / "policyengine" / "engine.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text(
        "from __future__ import annotations\n"
        "from policyengine import engine\n"
        "def later():\n"
        "    from ..engine import Engine\n"
        "    import policyengine.engine\n")
    found = [(i.file, i.line, i.importer, i.imported) for i in imports_of(fake / "bad.py", tmp_path)]
    assert found == [("policyengine/model/bad.py", line, "policyengine.model.bad", "policyengine.engine")
                     for line in (2, 4, 5)]
    engine, model = layer_of("policyengine.engine"), layer_of("policyengine.model.bad")
    assert engine is not None and model is not None and engine > model  # what the layering test reports
