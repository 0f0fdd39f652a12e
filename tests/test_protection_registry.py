"""A protection kind is one module: the registry finds every module of policyengine/protections,
each declares every part of a kind, and everything that lists kinds derives from the registry.

A kind module missing a part fails here (or does not import at all: ``Kind`` has no defaults for
its parts), and so does any place that still lists kinds by hand and has not learned a new one.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import get_args

import pytest

from policyengine.fuzz.policy_matrix import KIND_STRICTNESS
from policyengine.lineage.propagate import ORDER, STRENGTH
from policyengine.model.checks import REPEATED_KINDS
from policyengine.model.protections import KEYED_KINDS, KINDS, Protection
from policyengine.model.types import TypeFamily
from policyengine.protections import KINDS as REGISTRY
from policyengine.protections import Kind
from policyengine.protections._registry import discover
from policyengine.testing.case_model import MASK_KINDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "policyengine" / "protections"
TEMPLATES = ROOT / "sql" / "snowflake"


def _kind_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))


def test_every_module_of_the_package_is_a_registered_kind():
    assert _kind_modules() == sorted(REGISTRY)
    assert len(REGISTRY) >= 12  # the eleven of the spec and round


@pytest.mark.parametrize("name", _kind_modules())
def test_each_kind_module_declares_every_part(name):
    kind = REGISTRY[name]
    assert isinstance(kind, Kind) and kind.name == name
    for field in dataclasses.fields(Kind):
        assert hasattr(kind, field.name), field.name
    assert get_args(kind.model.model_fields["kind"].annotation) == (name,)
    assert isinstance(kind.rank, int) and isinstance(kind.keyed, bool) and isinstance(kind.repeated, bool)
    assert kind.families is None or (kind.families and all(isinstance(f, TypeFamily) for f in kind.families))
    assert callable(kind.build) and callable(kind.reference)
    assert kind.check is None or callable(kind.check)
    if kind.snowflake is not None:
        assert (TEMPLATES / kind.snowflake).is_file(), kind.snowflake
        assert re.fullmatch(rf"protection_{name}\.sql\.j2", kind.snowflake)
        assert callable(kind.snowflake_values)
    assert kind.summary, "one line for the docs"
    # the docs' reference has the kind (checked against the schema by test_docs_reference.py)
    assert f"| `{name}` |" in (ROOT / "docs" / "policy-model.md").read_text()


def test_everything_that_lists_kinds_derives_from_the_registry():
    names = tuple(REGISTRY)
    assert KINDS == names
    assert KEYED_KINDS == {"hash", "tokenize", "encrypt"} == {n for n, k in REGISTRY.items() if k.keyed}
    assert set(MASK_KINDS) == set(names) - {"none", "deny"}
    assert REPEATED_KINDS == ("none", "nullify", "deny")
    assert {get_args(m)[0] for m in [a.model_fields["kind"].annotation for a in get_args(get_args(Protection)[0])]} \
        == set(names)
    schema = json.loads((ROOT / "policyengine" / "schema" / "table.schema.json").read_text())
    assert set(names) <= set(json.dumps(schema).replace('"', " ").split())
    assert STRENGTH == KIND_STRICTNESS == {n: k.rank for n, k in REGISTRY.items()}
    assert ORDER == names


def test_one_strength_order():
    """How much of the value an uncleared reader still learns, least protection first: lineage and
    the policy fuzzer use this one order (they used to disagree about generalize)."""
    tiers = [("none",), ("custom",), ("email", "partial"), ("generalize", "round"), ("encrypt",), ("tokenize",),
             ("hash",), ("redact",), ("nullify",), ("deny",)]
    ranks = [{STRENGTH[name] for name in tier} for tier in tiers]
    assert all(len(r) == 1 for r in ranks), "a tier is equally strong"
    flat = [r.pop() for r in ranks]
    assert flat == sorted(flat) and len(set(flat)) == len(flat)
    assert sorted(name for tier in tiers for name in tier) == sorted(REGISTRY)


def _fake_package(tmp_path: Path, modules: dict[str, str]) -> str:
    package = tmp_path / "fakekinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(tmp_path))
    return "fakekinds"


@pytest.fixture
def fake_package(tmp_path):
    yield lambda modules: _fake_package(tmp_path, modules)
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "fakekinds" or m.startswith("fakekinds.")]:
        del sys.modules[name]


def test_a_module_that_is_not_a_complete_kind_stops_the_registry(fake_package, tmp_path):
    package = fake_package({"none": "from policyengine.protections.none import KIND\n",
                            "blur": "'''a kind half written: no KIND'''\n"})
    with pytest.raises(ImportError, match=r"fakekinds\.blur declares no KIND"):
        discover(tmp_path / "fakekinds", package)


def test_a_module_named_after_another_kind_stops_the_registry(fake_package, tmp_path):
    package = fake_package({"blur": "from policyengine.protections.hash import KIND\n"})
    with pytest.raises(ImportError, match="declares kind 'hash'"):
        discover(tmp_path / "fakekinds", package)


def test_a_kind_record_missing_a_part_does_not_construct():
    with pytest.raises(TypeError):
        Kind(name="blur", model=REGISTRY["none"].model, rank=5, keyed=False, families=None,  # type: ignore[call-arg]
             repeated=False, check=None, build=REGISTRY["none"].build, snowflake=None, snowflake_values=None)
    with pytest.raises(TypeError, match="Literal"):
        dataclasses.replace(REGISTRY["none"], name="blur")


def test_the_keyed_kinds_have_their_key_purposes_and_udf_entry_points():
    """crypto and the Snowflake handler are shipped or used without the registry (the handler is
    source text run by Snowflake): they must still know every keyed kind."""
    from policyengine import crypto
    from policyengine.ddl.keyed_handler import handler_source

    source = handler_source()
    for name in KEYED_KINDS:
        assert name in crypto.PURPOSES
        assert f'"{name}": ' in source


def test_the_kinds_sit_at_the_model_layer():
    """The kinds import sqlglot, pydantic, the model's own modules and crypto, never the rewrite or
    anything above the model: the rewrite calls them, not the other way round."""
    import ast

    allowed = ("policyengine.model", "policyengine.protections", "policyengine.crypto")
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                if name == "policyengine" and isinstance(node, ast.ImportFrom):
                    name = "policyengine." + node.names[0].name
                if name.startswith("policyengine"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
