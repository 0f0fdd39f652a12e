"""Policy test case files: ``<policy set>/tests/*.yaml|yml|json``, read and checked like policy files.

A case says who asks (a role or a principal), where (an environment), what (one SQL statement) and
what must come of it::

    cases:
      - name: marketing sees e-mail addresses masked
        principal: alice
        sql: SELECT Email FROM user_demographics
        expect: {masked: {Email: email}}

Case files are the policy author's claims about the policy set, so they get the same treatment as
the policy files: strict YAML/JSON (:mod:`policyengine.model.reading`), unknown keys and wrong types reported as
``tests/x.yaml: cases[2].expect.rows: ...`` (:mod:`policyengine.model.pydantic_errors`), every problem in one run.
Names of roles, principals and environments are checked against the loaded policy set here too: a
case that asks as a role that does not exist can never tell anything about the policies, so it is a
mistake in the file, not a failed test.

The policy loader reads only ``tables/``; nothing here is ever read as a table contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from policyengine.model.base import PolicyModel, describe_value, normalize_key
from policyengine.model.problems import Problem, Problems
from policyengine.model.pydantic_errors import report_validation_error
from policyengine.model.reading import ReadError, read_file
from policyengine.protections import MASK_KIND

if TYPE_CHECKING:
    from policyengine.model.policyset import PolicySet

#: the folder of a policy set that holds its case files
FOLDER = "tests"
SUFFIXES = (".yaml", ".yml", ".json")

Name = Annotated[StrictStr, Field(min_length=1)]
Count = Annotated[StrictInt, Field(ge=0)]
#: what ``masked`` may name as the protection: every kind that shows a value (not ``none``, not ``deny``)
#: (from the registry of protection kinds, :mod:`policyengine.protections`)
MaskKind = MASK_KIND
MASK_KINDS: tuple[str, ...] = get_args(MaskKind)

#: the keys of ``expect`` that say something about a query that runs
_RESULT_KEYS = ("masked", "raw", "rows", "rows_at_least", "rows_at_most", "equals")


class CasesInvalid(Exception):
    """Case files that cannot be used; carries every problem, located by file and field.

    Not a :class:`PolicySetInvalid`: the policies themselves may be fine, and code that refuses an
    invalid policy set must not mistake a typo in a test for one.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Expectation(PolicyModel):
    """What must come of the statement. Every key given is checked; at least one is needed."""

    masked: dict[Name, MaskKind | None] | None = Field(default=None, description=(
        "Result columns that must come from protected columns: a list of names, or a mapping of name to "
        "the protection kind (email, partial, hash...)."))
    raw: Annotated[list[Name], Field(min_length=1)] | None = Field(default=None, description=(
        "Result columns that must come from columns this subject reads raw."))
    rows: Count | None = Field(default=None, description="The exact number of rows.")
    rows_at_least: Count | None = Field(default=None, description="At least this many rows.")
    rows_at_most: Count | None = Field(default=None, description="At most this many rows.")
    equals: list[list[Any]] | None = Field(default=None, description=(
        "The exact result, one list of values per row; compared as a multiset unless 'ordered' is true. "
        "Dates and timestamps are written as ISO text."))
    ordered: StrictBool = Field(default=False, description="Compare 'equals' row by row, in order.")
    refused: StrictBool | StrictStr | None = Field(default=None, description=(
        "true (or ''): the statement is refused by policy; text: refused with a reason containing it "
        "(case-insensitive); false: it is not refused."))

    @field_validator("masked", mode="before")
    @classmethod
    def _column_list_or_kinds(cls, value: Any) -> Any:
        """``masked: [Email]`` means ``masked: {Email: null}`` (masked by any protection)."""
        if value is None:
            return None
        if isinstance(value, list):
            out: dict[str, None] = {}
            for index, item in enumerate(value):
                if not isinstance(item, str) or not item.strip():
                    raise PydanticCustomError("column_name", "item {index}: expected a column name, got {got}",
                                              {"index": index, "got": describe_value(item)})
                out[item] = None
            if not out:
                raise PydanticCustomError("too_short", "must not be empty", {"min_length": 1})
            return out
        if isinstance(value, dict):
            if not value:
                raise PydanticCustomError("too_short", "must not be empty", {"min_length": 1})
            return {key: kind.strip().lower() if isinstance(kind, str) else kind for key, kind in value.items()}
        raise PydanticCustomError(
            "masked", "expected a list of column names, or a mapping of column name to protection kind, got {got}",
            {"got": describe_value(value)})

    @field_validator("equals", mode="before")
    @classmethod
    def _rows_of_values(cls, value: Any) -> Any:
        """Each row a list of plain values: a value the result could hold, never a nested structure."""
        if value is None:
            return None
        if not isinstance(value, list):
            raise PydanticCustomError("rows", "expected a list of rows (each a list of values), got {got}",
                                      {"got": describe_value(value)})
        for index, row in enumerate(value):
            if not isinstance(row, list):
                raise PydanticCustomError("row", "row {index}: expected a list of values, got {got}",
                                          {"index": index, "got": describe_value(row)})
            for position, item in enumerate(row):
                if item is not None and not isinstance(item, (str, bool, int, float)):
                    raise PydanticCustomError(
                        "value", "row {index}, value {position}: expected text, a number, true/false or null, "
                                 "got {got}", {"index": index, "position": position, "got": describe_value(item)})
        return value

    @field_validator("refused", mode="before")
    @classmethod
    def _flag_or_reason(cls, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        raise PydanticCustomError(
            "refused", "expected true, false or text the refusal's reason must contain, got {got}",
            {"got": describe_value(value)})

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        """Expectations that cannot all hold are a mistake in the file, not a test that fails."""
        given = [key for key in _RESULT_KEYS if getattr(self, key) is not None]
        if self.refused is None and not given:
            raise PydanticCustomError(
                "no_expectation", "name at least one expectation: {keys}",
                {"keys": ", ".join((*_RESULT_KEYS, "refused"))})
        if self.expects_refusal and given:
            raise PydanticCustomError(
                "refused_and_result", "a refused statement has no result: 'refused' cannot be combined with {keys}",
                {"keys": ", ".join(f"'{key}'" for key in given)})
        if self.ordered and self.equals is None:
            raise PydanticCustomError("ordered", "'ordered' applies to 'equals', which is not given", {})
        if self.rows is not None and (self.rows_at_least is not None or self.rows_at_most is not None):
            raise PydanticCustomError("rows", "give 'rows' or 'rows_at_least'/'rows_at_most', not both", {})
        if (self.rows_at_least is not None and self.rows_at_most is not None
                and self.rows_at_least > self.rows_at_most):
            raise PydanticCustomError("rows", "'rows_at_least' ({low}) is more than 'rows_at_most' ({high})",
                                      {"low": self.rows_at_least, "high": self.rows_at_most})
        raw = {c.lower() for c in self.raw or []}
        both = [c for c in self.masked or {} if c.lower() in raw]
        if both:
            raise PydanticCustomError("masked_and_raw", "{what} {columns} cannot be both masked and raw",
                                      {"what": "column" if len(both) == 1 else "columns", "columns": ", ".join(both)})
        return self

    @property
    def expects_refusal(self) -> bool:
        return self.refused is not None and self.refused is not False


class CaseHeader(PolicyModel):
    """A case's name and subject, without the statement and expectation.

    Used on its own to recover the names a case uses when the file failed validation, so that an
    unknown role is reported in the same run as a typo in another key (as the policy loader does).
    """

    name: Name | None = Field(default=None, description="What the case checks; shown in the report and "
                                                         "matched by -k (default: the SQL).")
    role: Annotated[list[Name], Field(min_length=1)] | None = Field(default=None, description=(
        "The role to ask as (or a list of roles)."))
    principal: Name | None = Field(default=None, description=(
        "A principal of roles.yaml, with its roles and attributes (row access rules may use them)."))
    env: Name | None = Field(default=None, description="The environment (default: the policy set's default).")

    @field_validator("role", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class CaseSpec(CaseHeader):
    """One case: who asks, where, what, and what must come of it."""

    sql: Annotated[StrictStr, Field(min_length=1)] = Field(description="One SQL statement (DuckDB dialect).")
    expect: Expectation

    @model_validator(mode="after")
    def _someone_asks(self) -> CaseSpec:
        if self.role is None and self.principal is None:
            raise PydanticCustomError("subject", "give 'role' or 'principal': who runs the statement", {})
        return self


class CaseFile(PolicyModel):
    """A case file: ``cases:`` and the list of cases."""

    cases: Annotated[list[CaseSpec], Field(min_length=1)]


@dataclass(frozen=True)
class Case:
    """A case ready to run: its place in its file, the subject's names and the resolved environment."""

    file: str  # relative to the policy set, as problems name it: tests/example_cases.yaml
    index: int
    spec: CaseSpec
    environment: str
    #: the roles the subject holds, as roles.yaml spells them (a principal's own roles included)
    subject_roles: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The case's name, or its SQL on one line when it has none."""
        if self.spec.name:
            return self.spec.name
        text = " ".join(self.spec.sql.split())
        return text if len(text) <= 60 else text[:59] + "…"

    @property
    def roles(self) -> list[str]:
        return list(self.spec.role or [])

    @property
    def who(self) -> str:
        """``alice (marketing_analyst)`` or ``role developer``: whom the report says asked."""
        if self.spec.principal:
            return f"{self.spec.principal} ({', '.join(self.subject_roles)})"
        return ("role " if len(self.roles) == 1 else "roles ") + ", ".join(self.subject_roles or self.roles)

    def matches(self, pattern: str) -> bool:
        """``-k``: the pattern is in the case's name, its SQL, its file's name or who asks, ignoring case."""
        wanted = pattern.lower()
        return any(wanted in text.lower() for text in (self.name, self.spec.sql, self.file, self.who))


def case_files(root: str | Path) -> list[Path]:
    """The case files of a policy set, in name order: ``tests/*.yaml|yml|json`` (not sub-folders)."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def load_cases(root: str | Path, policy_set: PolicySet) -> list[Case]:
    """Every case of the policy set's case files, checked; :class:`CasesInvalid` lists every problem.

    Files are checked whole before any case runs, so a typo in the last file cannot hide behind
    failures of the first, and a run never reports a half-read suite as passing.
    """
    root = Path(root)
    problems: list[Problem] = []
    cases: list[Case] = []
    for path in case_files(root):
        rel = path.relative_to(root).as_posix()
        at = Problems(rel, found=problems)
        try:
            data = read_file(path)
        except ReadError as error:
            at.add((), str(error))
            continue
        if data is None:
            at.add((), "is empty: a case file holds 'cases:' and a list of cases")
            continue
        try:
            parsed = CaseFile.model_validate(data)
        except ValidationError as error:
            report_validation_error(error, at, CaseFile)
            _check_against(policy_set, rel, _salvaged(data), at)  # its names, for problems only
            continue
        except RecursionError:  # a YAML alias that contains itself
            at.add((), "is nested too deeply (a YAML alias that refers to itself?)")
            continue
        cases.extend(_check_against(policy_set, rel, list(enumerate(parsed.cases)), at))
    if problems:
        raise CasesInvalid(problems)
    return cases


def _salvaged(data: Any) -> list[tuple[int, CaseHeader]]:
    """What is still known of the cases of a file that failed validation: each one's valid name and subject keys."""
    from policyengine.model.recovery import salvage

    if not isinstance(data, dict):
        return []
    items = [value for key, value in data.items() if normalize_key(key) == "cases"]
    if len(items) != 1 or not isinstance(items[0], list):
        return []
    out = []
    for index, item in enumerate(items[0]):
        header, _ = salvage(CaseHeader, item)
        if header is not None:
            out.append((index, header))
    return out


def _check_against(policy_set: PolicySet, rel: str, specs: list[tuple[int, CaseHeader]], at: Problems) -> list[Case]:
    """The cases, with every name they use checked against the policy set (each problem reported at its
    key); only complete cases (:class:`CaseSpec`) whose names all resolve are returned."""
    from policyengine.decision import DecisionError, environment_for, subject_for

    out: list[Case] = []
    seen: dict[str, int] = {}
    for index, spec in specs:
        here = at.at("cases", index)
        fine = True
        if spec.name is not None:
            key = spec.name.strip().lower()
            if key in seen:
                here.add(("name",), f"case name '{spec.name}' is given twice in this file (also cases[{seen[key]}])")
                fine = False
            seen.setdefault(key, index)
        if spec.principal is not None:
            try:
                subject_for(policy_set, principal=spec.principal)
            except DecisionError as error:
                here.add(("principal",), str(error))
                fine = False
        for position, role in enumerate(spec.role or []):
            try:
                subject_for(policy_set, roles=[role])
            except DecisionError as error:
                here.add(("role",) if len(spec.role or []) == 1 else ("role", position), str(error))
                fine = False
        environment = ""
        try:
            environment = environment_for(policy_set, spec.env)
        except DecisionError as error:
            here.add(("env",), str(error))
            fine = False
        if fine and isinstance(spec, CaseSpec):
            subject = subject_for(policy_set, principal=spec.principal, roles=spec.role or [])
            names = tuple(policy_set.roles[key].name for key in subject.roles)
            out.append(Case(rel, index, spec, environment, names))
    return out
