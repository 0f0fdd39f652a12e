"""A strict model of a Snowflake schema's governance state, written from Snowflake's documentation.

No Snowflake account is reachable from the tests, and ``apply`` wants to know before its first
statement whether Snowflake would refuse one of them. This module keeps what a schema holds
(policies with bodies, where they are attached, tags and their values, tag-based masking policies,
functions, stages, table columns with their types, plain data rows) and interprets exactly the
statements the engine sends (:meth:`SnowflakeModel.execute`), refusing what Snowflake documents it
refuses. Every refusal is a :class:`RuleViolation` naming one :data:`RULES` entry: the
docs.snowflake.com page and the sentence it enforces. A statement the model does not know raises
:class:`NotUnderstood`; an object that does not exist raises :class:`NotFound`.

Pure: no I/O. ``PUT`` takes the file's content from the caller (``execute(..., put_content=...)``).

Names: objects (policies, tags, functions, stages) are compared by their last name part, unquoted
parts upper-cased (a model is one database and schema); tables by their lower-cased text as written;
columns as Snowflake stores them (upper case unless quoted). Types of columns are kept as
``INFORMATION_SCHEMA.COLUMNS`` reports them (``TEXT``, ``NUMBER(38,0)``, ``TIMESTAMP_NTZ``...).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace

# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str  # the docs.snowflake.com page
    says: str  # the documentation sentence the rule enforces, quoted


_CMP = "https://docs.snowflake.com/en/sql-reference/sql/create-masking-policy"
_AMP = "https://docs.snowflake.com/en/sql-reference/sql/alter-masking-policy"
_DMP = "https://docs.snowflake.com/en/sql-reference/sql/drop-masking-policy"
_CRAP = "https://docs.snowflake.com/en/sql-reference/sql/create-row-access-policy"
_DRAP = "https://docs.snowflake.com/en/sql-reference/sql/drop-row-access-policy"
_AT = "https://docs.snowflake.com/en/sql-reference/sql/alter-table"
_ATC = "https://docs.snowflake.com/en/sql-reference/sql/alter-table-column"
_ATAG = "https://docs.snowflake.com/en/sql-reference/sql/alter-tag"
_CTAG = "https://docs.snowflake.com/en/sql-reference/sql/create-tag"
_TBM = "https://docs.snowflake.com/en/user-guide/tag-based-masking-policies"
_GTOCC = "https://docs.snowflake.com/en/sql-reference/functions/system_get_tag_on_current_column"
_CPP = "https://docs.snowflake.com/en/sql-reference/sql/create-projection-policy"

ONE_ROW_ACCESS_POLICY = Rule(
    "one-row-access-policy-per-table", _CRAP,
    "A table or view can only be protected by one row access policy at a time.")
SWAP_NEEDS_CURRENT = Rule(
    "row-access-swap-drops-the-current-policy", _AT,
    "DROP ROW ACCESS POLICY <policy_name> , ADD ROW ACCESS POLICY <policy_name> ON ( <col_name> [ , ... ] )")
MASK_AND_ROW_ACCESS = Rule(
    "column-in-masking-and-row-access-signature", _CMP,
    "A given table or view column can be specified in either a masking policy signature or a row access policy "
    "signature. In other words, the same column cannot be specified in both a masking policy signature and a row "
    "access policy signature at the same time.")
EXEMPT_OTHER_POLICIES = Rule(
    "exempt-other-policies", _CMP,
    "Specifies whether a row access policy or conditional masking policy can reference a column that is already "
    "protected by this masking policy.")
MASKED_AS_CONDITIONAL = Rule(
    "masked-column-as-conditional-column", _TBM,
    "A masked column cannot be used as a conditional column in a masking policy.")
FORCE_TO_REPLACE = Rule(
    "second-policy-on-a-column-needs-force", _ATC,
    "Replaces a masking or projection policy that is currently set on a column with a different policy in a single "
    "statement.")
FORCE_SAME_TYPE = Rule(
    "force-needs-the-same-data-type", _ATC,
    "using the FORCE keyword with a masking policy requires the data type of the policy in the ALTER TABLE "
    "statement (i.e. STRING) to match the data type of the masking policy currently set on the column")
SIGNATURE_MATCHES_COLUMNS = Rule(
    "policy-signature-matches-column-types", _CMP,
    "If the data type in the table column, UDF, and masking policy signature do not match, Snowflake returns an "
    "error message because it cannot resolve the SQL.")
USING_FIRST_COLUMN = Rule(
    "using-starts-with-the-masked-column", _ATC,
    "The first column in the list specifies the column for the policy conditions to mask or tokenize the data and "
    "must match the column to which the masking policy is set.")
RETURNS_MATCHES_INPUT = Rule(
    "masking-returns-its-input-type", _CMP,
    "The return data type must match the input data type of the first column that is specified as an input column.")
ROW_ACCESS_RETURNS_BOOLEAN = Rule(
    "row-access-returns-boolean", _CRAP,
    "CREATE [ OR REPLACE ] ROW ACCESS POLICY [ IF NOT EXISTS ] <name> AS ( <arg_name> <arg_type> [ , ... ] ) "
    "RETURNS BOOLEAN -> <body>")
PROJECTION_SHAPE = Rule(
    "projection-policy-shape", _CPP,
    "CREATE [ OR REPLACE ] PROJECTION POLICY [ IF NOT EXISTS ] <name> AS () RETURNS PROJECTION_CONSTRAINT -> <body>")
DROP_ATTACHED = Rule(
    "attached-policy-cannot-be-dropped", _DMP,
    "A masking policy cannot be dropped successfully if it is currently assigned to a column or a tag.")
DROP_ATTACHED_ROW_ACCESS = Rule(
    "attached-row-access-policy-cannot-be-dropped", _DRAP,
    "A row access policy cannot be dropped successfully if it is currently attached to a resource.")
DROP_ON_TAG = Rule(
    "policy-on-a-tag-cannot-be-dropped", _ATAG,
    "A tag cannot be dropped if a masking policy is assigned to the tag, nor can the masking policy be dropped if "
    "the masking policy is assigned to a tag.")
REPLACE_ATTACHED = Rule(
    "attached-policy-cannot-be-replaced", _CMP,
    "CREATE OR REPLACE <object> statements are atomic. That is, when an object is replaced, the old object is "
    "deleted and the new object is created in a single transaction.")
EXEMPT_FIXED = Rule(
    "exempt-other-policies-fixed-while-attached", _CMP,
    "The value of this property in the masking policy cannot change after setting the masking policy on a table or "
    "view.")
SIGNATURE_FIXED = Rule(
    "signature-cannot-change", _AMP,
    "You cannot change the policy signature (i.e. argument name or input/output data type). If you need to change "
    "the signature, execute a DROP MASKING POLICY statement on the policy and create a new one.")
TAG_ONE_POLICY_PER_TYPE = Rule(
    "tag-one-masking-policy-per-data-type", _ATAG,
    "A tag can have only one masking policy per data type.")
TAG_FORCE = Rule(
    "tag-policy-replaced-with-force", _ATAG,
    "Note that using the FORCE keyword replaces the masking policy when a policy of the same data type is already "
    "set on the tag.")
TAG_ALLOWED_VALUES = Rule(
    "tag-value-in-allowed-values", _CTAG,
    "Specifies a comma-separated list of the possible string values that can be assigned to the tag when the tag is "
    "set on an object using the corresponding CREATE <object> or ALTER <object> command.")
TAG_POLICY_TYPE_MATCH = Rule(
    "tag-policy-applies-to-matching-types", _TBM,
    "When the data type in the masking policy signature and the data type of the column match, the tagged column is "
    "automatically protected by the conditions in the masking policy.")
GET_TAG_NOT_IN_ROW_ACCESS = Rule(
    "get-tag-on-current-column-not-in-row-access", _GTOCC,
    "Snowflake returns an error while using the function in either a SELECT query, a row access policy, a view, or a "
    "user-defined function (UDF).")
TAG_VALUE_LENGTH = Rule(
    "tag-value-at-most-256-characters", _ATC,
    "A column can support up to 20 tags, and the maximum number of characters for a tag string value is 256.")
TAGS_PER_COLUMN = Rule(
    "at-most-20-tags-per-column", _ATC,
    "A column can support up to 20 tags, and the maximum number of characters for a tag string value is 256.")

#: every rule the model enforces; docs/snowflake.md lists them from here
RULES: tuple[Rule, ...] = (
    ONE_ROW_ACCESS_POLICY, SWAP_NEEDS_CURRENT, MASK_AND_ROW_ACCESS, EXEMPT_OTHER_POLICIES, MASKED_AS_CONDITIONAL,
    FORCE_TO_REPLACE, FORCE_SAME_TYPE, SIGNATURE_MATCHES_COLUMNS, USING_FIRST_COLUMN, RETURNS_MATCHES_INPUT,
    ROW_ACCESS_RETURNS_BOOLEAN, PROJECTION_SHAPE, DROP_ATTACHED, DROP_ATTACHED_ROW_ACCESS, DROP_ON_TAG,
    REPLACE_ATTACHED, EXEMPT_FIXED, SIGNATURE_FIXED, TAG_ONE_POLICY_PER_TYPE, TAG_FORCE, TAG_ALLOWED_VALUES,
    TAG_POLICY_TYPE_MATCH, GET_TAG_NOT_IN_ROW_ACCESS, TAG_VALUE_LENGTH, TAGS_PER_COLUMN,
)


class SnowflakeError(Exception):
    """What Snowflake would answer with an error (the fake connection raises these as they are)."""


class RuleViolation(SnowflakeError):
    """Snowflake refuses the statement under ``rule``; the message names the objects, never a body or a key."""

    def __init__(self, rule: Rule, detail: str):
        super().__init__(f"{detail} [{rule.name}: {rule.doc}]")
        self.rule = rule


class NotFound(SnowflakeError):
    """The statement names an object (table, column, policy, tag, stage) that does not exist."""


class NotUnderstood(SnowflakeError):
    """The model does not interpret this statement: never silently accepted."""


class UnknownColumnType(SnowflakeError):
    """The model cannot say which tag-based policy applies: the column's data type is unknown."""


# --- state ---------------------------------------------------------------------------------------

KINDS = ("MASKING", "ROW_ACCESS", "PROJECTION")
ATTACHMENT_KINDS = {"MASKING": "MASKING_POLICY", "PROJECTION": "PROJECTION_POLICY", "ROW_ACCESS": "ROW_ACCESS_POLICY"}


@dataclass(frozen=True)
class Policy:
    name: str  # upper case
    kind: str  # MASKING, ROW_ACCESS, PROJECTION
    signature: tuple[tuple[str, str], ...]  # (argument name upper, normalized type)
    returns: str
    body: str
    exempt: bool = False  # EXEMPT_OTHER_POLICIES
    comment: str = ""


@dataclass(frozen=True)
class Attachment:
    policy: str
    kind: str  # MASKING_POLICY, PROJECTION_POLICY, ROW_ACCESS_POLICY
    table: str  # lower-case qualified name as written
    column: str | None  # as stored: upper unless quoted
    arguments: tuple[str, ...] = ()  # masking: the USING columns after the first; row access: the ON columns


@dataclass(frozen=True)
class Tag:
    name: str
    allowed_values: tuple[str, ...] | None = None
    comment: str = ""


@dataclass(frozen=True)
class Function:
    name: str
    comment: str = ""
    imports: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()  # argument types, normalized
    returns: str = ""


@dataclass
class SnowflakeModel:
    policies: dict[str, Policy] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    tags: dict[str, Tag] = field(default_factory=dict)
    tag_values: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (table, column, TAG) -> value
    tag_policies: dict[str, dict[str, str]] = field(default_factory=dict)  # TAG -> {type family -> POLICY}
    functions: dict[str, Function] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> {column -> INFORMATION_SCHEMA type}
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # STAGE -> {file name -> content}
    rows: dict[str, list[tuple]] = field(default_factory=dict)  # TABLE NAME -> rows of plain data tables

    def copy(self) -> SnowflakeModel:
        return copy.deepcopy(self)

    # --- what applies ----------------------------------------------------------------------------

    def attachment(self, kind: str, table: str, column: str | None = None) -> Attachment | None:
        table = table_key(table)
        return next((a for a in self.attachments if a.kind == kind and a.table == table and a.column == column), None)

    def masking_of(self, table: str, column: str) -> str | None:
        """The masking policy that applies to a column: the one set on it directly, else the one a tag set on
        it carries for the column's data type (a tag's policy for another type does not apply)."""
        direct = self.attachment("MASKING_POLICY", table, column)
        if direct is not None:
            return direct.policy
        found = self._tag_masking(table_key(table), column)
        return found[0][1] if found else None

    def _tag_masking(self, table: str, column: str) -> list[tuple[str, str]]:
        """(tag, policy) pairs that mask ``column`` through its tags, for its data type."""
        tags = sorted(tag for (t, c, tag) in self.tag_values if t == table and c == column
                      and self.tag_policies.get(tag))
        if not tags:
            return []
        kind = self.columns.get(table, {}).get(column)
        if kind is None:
            raise UnknownColumnType(f"the data type of {table}.{column} is unknown, so which of the masking "
                                    f"policies of tag(s) {', '.join(tags)} applies cannot be said")
        family = type_family(kind)
        found = [(tag, self.tag_policies[tag][family]) for tag in tags if family in self.tag_policies[tag]]
        if len(found) > 1:
            raise SnowflakeError(f"{table}.{column} has masking policies from several tags "
                                 f"({', '.join(p for _, p in found)}): MULTIPLE_MASKING_POLICY_ASSIGNED_TO_THE_COLUMN")
        return found

    def projection_of(self, table: str, column: str) -> str | None:
        found = self.attachment("PROJECTION_POLICY", table, column)
        return found.policy if found else None

    def row_access_of(self, table: str) -> str | None:
        found = self.attachment("ROW_ACCESS_POLICY", table)
        return found.policy if found else None

    def protected_columns(self) -> set[tuple[str, str]]:
        """Every (table, column) with a masking policy in effect, directly or through a tag."""
        candidates = {(t, c) for t, columns in self.columns.items() for c in columns}
        candidates |= {(a.table, a.column) for a in self.attachments if a.kind == "MASKING_POLICY" and a.column}
        candidates |= {(t, c) for (t, c, _) in self.tag_values}
        return {(t, c) for t, c in candidates if self.masking_of(t, c) is not None}

    def referenced(self, policy: str) -> bool:
        policy = object_name(policy)
        return any(a.policy == policy for a in self.attachments) or any(
            policy in by_type.values() for by_type in self.tag_policies.values())

    # --- statements ------------------------------------------------------------------------------

    def execute(self, statement: str, *, put_content: str | None = None) -> list[tuple] | None:
        """Interpret one statement the engine sends; raise what Snowflake would raise. The state changes only
        when the statement succeeds (an EXECUTE IMMEDIATE block keeps the statements that ran before a failure,
        as Snowflake's DDL does)."""
        text = statement.strip().rstrip(";").strip()
        flat = " ".join(text.split())
        if re.match(r"EXECUTE IMMEDIATE \$\$", flat, re.I):
            return self._script(text)
        if re.match(r"CREATE OR REPLACE SECURE FUNCTION ", flat, re.I):
            return self._create_function(text)
        if re.match(r"PUT ", flat, re.I):
            return self._put(flat, put_content)
        if re.match(r"SELECT ", flat, re.I):
            return self._select(flat)
        trial = self.copy()
        result = trial._statement(flat)
        self.__dict__.update(trial.__dict__)
        return result

    def _statement(self, flat: str) -> list[tuple] | None:
        for pattern, handler in _HANDLERS:
            m = re.match(pattern, flat, re.I | re.S)
            if m:
                return handler(self, m)
        raise NotUnderstood(f"the Snowflake model does not understand this statement: {_head(flat)}")

    # functions, stages ---------------------------------------------------------------------------

    def _create_function(self, text: str) -> None:
        m = re.match(rf"CREATE OR REPLACE SECURE FUNCTION\s+({QNAME})\s*\((.*?)\)\s+RETURNS\s+(\S+)\s+(.*?)\bAS\s+"
                     r"\$\$.*\$\$\s*$", text, re.I | re.S)
        if not m:
            raise NotUnderstood(f"the Snowflake model does not understand this function definition: {_head(text)}")
        name, header = object_name(m.group(1)), " ".join(m.group(4).split())
        arguments = tuple(normalize_type(a.strip().split(None, 1)[1]) for a in split_top(m.group(2)) if a.strip())
        imports = re.search(r"IMPORTS\s*=\s*\((.*?)\)", header, re.I)
        comment = re.search(rf"COMMENT\s*=\s*({STRING})", header, re.I)
        self.functions[name] = Function(
            name, string_value(comment.group(1)) if comment else "",
            tuple(string_value(i.strip()) for i in split_top(imports.group(1))) if imports else (),
            arguments, normalize_type(m.group(3)))
        return None

    def _create_stage(self, m: re.Match) -> None:
        self.stages.setdefault(object_name(m.group(1)), {})
        return None

    def _put(self, flat: str, content: str | None) -> list[tuple]:
        m = re.match(rf"PUT '(?:file://)?(.+?)' @({QNAME})(?:/\S*)?(?: .*)?$", flat, re.I)
        if not m:
            raise NotUnderstood(f"the Snowflake model does not understand: {_head(flat)}")
        stage = object_name(m.group(2))
        if stage not in self.stages:
            raise NotFound(f"Stage {stage} does not exist or not authorized.")
        if content is None:
            raise SnowflakeError("the model needs the file's content to PUT it (execute(..., put_content=...))")
        file = m.group(1).replace("\\", "/").rsplit("/", 1)[-1]
        self.stages[stage][file] = content
        return [(file, file, len(content.encode()), len(content.encode()), "NONE", "NONE", "UPLOADED", "")]

    # tags ----------------------------------------------------------------------------------------

    def _create_tag(self, m: re.Match) -> None:
        name = object_name(m.group(1))
        if name in self.tags:
            return None
        rest = m.group(2) or ""
        allowed = re.match(rf"\s*ALLOWED_VALUES\s+({STRING}(?:\s*,\s*{STRING})*)", rest, re.I)
        comment = re.search(rf"COMMENT\s*=\s*({STRING})", rest, re.I)
        values = tuple(string_value(v.strip()) for v in split_top(allowed.group(1))) if allowed else None
        self.tags[name] = Tag(name, values, string_value(comment.group(1)) if comment else "")
        return None

    def _tag(self, text: str) -> Tag:
        name = object_name(text)
        if name not in self.tags:
            raise NotFound(f"Tag {name} does not exist or not authorized.")
        return self.tags[name]

    def _alter_allowed_values(self, m: re.Match) -> None:
        tag = self._tag(m.group(1))
        values = [string_value(v.strip()) for v in split_top(m.group(3))]
        current = list(tag.allowed_values or ())
        if m.group(2).upper() == "ADD":
            current += [v for v in values if v not in current]
        else:
            # "Changing or removing allowed values doesn't affect values already assigned to objects." (ALTER TAG)
            current = [v for v in current if v not in values]
        self.tags[tag.name] = replace(tag, allowed_values=tuple(current))
        return None

    def _set_tag_policies(self, m: re.Match) -> None:
        tag = self._tag(m.group(1))
        force = bool(m.group(3))
        by_type = dict(self.tag_policies.get(tag.name, {}))
        seen: set[str] = set()
        for policy_text in re.findall(rf"MASKING POLICY ({QNAME})", m.group(2), re.I):
            policy = self._policy(policy_text, "MASKING")
            family = type_family(policy.signature[0][1])
            if family in seen:
                raise RuleViolation(TAG_ONE_POLICY_PER_TYPE, f"tag {tag.name} is given two masking policies for "
                                                             f"{family} in one statement")
            seen.add(family)
            current = by_type.get(family)
            if current is not None and current != policy.name and not force:
                raise RuleViolation(TAG_ONE_POLICY_PER_TYPE, f"tag {tag.name} already has masking policy {current} "
                                                             f"for {family}; {policy.name} needs FORCE to replace it")
            by_type[family] = policy.name
        self.tag_policies[tag.name] = by_type
        for table in sorted({t for (t, _, name) in self.tag_values if name == tag.name}):
            self._check_table(table)
        return None

    def _unset_tag_policies(self, m: re.Match) -> None:
        tag = self._tag(m.group(1))
        names = {object_name(p) for p in re.findall(rf"MASKING POLICY ({QNAME})", m.group(2), re.I)}
        by_type = self.tag_policies.get(tag.name, {})
        self.tag_policies[tag.name] = {f: p for f, p in by_type.items() if p not in names}
        return None

    # policies ------------------------------------------------------------------------------------

    def _policy(self, text: str, kind: str | None = None) -> Policy:
        name = object_name(text)
        policy = self.policies.get(name)
        if policy is None or (kind is not None and policy.kind != kind):
            noun = (kind or "policy").replace("_", " ").lower()
            raise NotFound(f"{noun} policy {name} does not exist or not authorized.")
        return policy

    def _create_policy(self, m: re.Match) -> None:
        kind, name = m.group(1).upper().replace(" ", "_"), object_name(m.group(2))
        arguments = [a.strip() for a in split_top(m.group(3)) if a.strip()]
        signature = tuple((column_name(a.split(None, 1)[0]), normalize_type(a.split(None, 1)[1])) for a in arguments)
        returns = normalize_type(m.group(4))
        tail = re.match(rf"^(.*?)(?:\s+COMMENT\s*=\s*({STRING}))?(?:\s+EXEMPT_OTHER_POLICIES\s*=\s*(TRUE|FALSE))?\s*$",
                        m.group(5), re.I | re.S)
        assert tail is not None
        body, exempt = tail.group(1).strip(), (tail.group(3) or "").upper() == "TRUE"
        comment = string_value(tail.group(2)) if tail.group(2) else ""
        if kind == "MASKING":
            if not signature:
                raise RuleViolation(RETURNS_MATCHES_INPUT, f"masking policy {name} has no argument to mask")
            if info_type(signature[0][1]) != info_type(returns):
                raise RuleViolation(RETURNS_MATCHES_INPUT, f"masking policy {name} takes {signature[0][1]} "
                                                           f"but returns {returns}")
        elif kind == "ROW_ACCESS":
            if returns != "BOOLEAN" or not signature:
                raise RuleViolation(ROW_ACCESS_RETURNS_BOOLEAN, f"row access policy {name} must take columns and "
                                                                f"return BOOLEAN")
            _no_tag_function(name, body)
        elif signature or returns != "PROJECTION_CONSTRAINT":
            raise RuleViolation(PROJECTION_SHAPE, f"projection policy {name} must be AS () RETURNS "
                                                  f"PROJECTION_CONSTRAINT")
        if exempt and kind != "MASKING":
            raise NotUnderstood(f"EXEMPT_OTHER_POLICIES is a masking policy property ({name})")
        current = self.policies.get(name)
        if current is not None and self.referenced(name):
            if current.signature != signature or current.returns != returns:
                raise RuleViolation(SIGNATURE_FIXED, f"Policy {name} is attached: its signature cannot be changed "
                                                     f"and it cannot be replaced")
            if current.exempt != exempt:
                raise RuleViolation(EXEMPT_FIXED, f"Policy {name} is attached: EXEMPT_OTHER_POLICIES cannot change "
                                                  f"and it cannot be replaced")
            raise RuleViolation(REPLACE_ATTACHED, f"Policy {name} is attached and cannot be replaced")
        self.policies[name] = Policy(name, kind, signature, returns, body, exempt, comment)
        return None

    def _set_body(self, m: re.Match) -> None:
        kind = m.group(1).upper().replace(" ", "_")
        policy = self._policy(m.group(2), kind)
        body = m.group(3).strip()
        if kind == "ROW_ACCESS":
            _no_tag_function(policy.name, body)
        self.policies[policy.name] = replace(policy, body=body)
        return None

    def _drop_policy(self, m: re.Match) -> None:
        kind = m.group(1).upper().replace(" ", "_")
        policy = self._policy(m.group(2), kind)
        if any(policy.name in by_type.values() for by_type in self.tag_policies.values()):
            raise RuleViolation(DROP_ON_TAG, f"Policy {policy.name} is set on a tag and cannot be dropped")
        if any(a.policy == policy.name for a in self.attachments):
            rule = DROP_ATTACHED_ROW_ACCESS if kind == "ROW_ACCESS" else DROP_ATTACHED
            raise RuleViolation(rule, f"Policy {policy.name} is attached and cannot be dropped")
        del self.policies[policy.name]
        return None

    # tables and columns --------------------------------------------------------------------------

    def _table(self, text: str) -> str:
        table = table_key(text)
        if table not in self.columns:
            raise NotFound(f"Table {text.strip()} does not exist or not authorized.")
        return table

    def _column(self, table: str, text: str) -> str:
        column = column_name(text)
        if column not in self.columns[table]:
            raise NotFound(f"invalid identifier '{column}' (no such column in {table})")
        return column

    def _set_masking(self, table: str, column: str, policy_text: str, using: str | None, force: bool) -> None:
        policy = self._policy(policy_text, "MASKING")
        listed = [self._column(table, c) for c in split_top(using)] if using else [column]
        if listed[0] != column:
            raise RuleViolation(USING_FIRST_COLUMN, f"USING of {policy.name} on {table}.{column} starts with "
                                                    f"{listed[0]}")
        if using and len(listed) != len(policy.signature):
            raise RuleViolation(SIGNATURE_MATCHES_COLUMNS, f"{policy.name} takes {len(policy.signature)} "
                                                           f"argument(s); USING lists {len(listed)} on {table}")
        current = self.attachment("MASKING_POLICY", table, column)
        if current is not None:
            if not force:
                raise RuleViolation(FORCE_TO_REPLACE, f"Column {table}.{column} already has masking policy "
                                                      f"{current.policy}; use FORCE to replace it")
            before = self.policies.get(current.policy)
            if before is not None and type_family(before.signature[0][1]) != type_family(policy.signature[0][1]):
                raise RuleViolation(FORCE_SAME_TYPE, f"FORCE replaces {before.name} ({before.signature[0][1]}) on "
                                                     f"{table}.{column} only with a policy of the same data type, "
                                                     f"not {policy.name} ({policy.signature[0][1]})")
        for listed_column, (_, kind) in zip(listed, policy.signature):
            actual = self.columns[table][listed_column]
            if type_family(actual) != type_family(kind):
                raise RuleViolation(SIGNATURE_MATCHES_COLUMNS, f"{policy.name} takes {kind} where {table}."
                                                               f"{listed_column} is {actual}")
        if current is not None:
            self.attachments.remove(current)
        self.attachments.append(Attachment(policy.name, "MASKING_POLICY", table, column, tuple(listed[1:])))

    def _set_projection(self, table: str, column: str, policy_text: str, force: bool) -> None:
        policy = self._policy(policy_text, "PROJECTION")
        current = self.attachment("PROJECTION_POLICY", table, column)
        if current is not None:
            if not force:
                raise RuleViolation(FORCE_TO_REPLACE, f"Column {table}.{column} already has projection policy "
                                                      f"{current.policy}; use FORCE to replace it")
            self.attachments.remove(current)
        self.attachments.append(Attachment(policy.name, "PROJECTION_POLICY", table, column))

    def _add_row_access(self, table: str, policy_text: str, on: str) -> None:
        policy = self._policy(policy_text, "ROW_ACCESS")
        if self.attachment("ROW_ACCESS_POLICY", table) is not None:
            raise RuleViolation(ONE_ROW_ACCESS_POLICY, f"{table} already has row access policy "
                                                       f"{self.row_access_of(table)}")
        columns = [self._column(table, c) for c in split_top(on)]
        if len(columns) != len(policy.signature):
            raise RuleViolation(SIGNATURE_MATCHES_COLUMNS, f"{policy.name} takes {len(policy.signature)} "
                                                           f"argument(s); ON lists {len(columns)} on {table}")
        for listed_column, (_, kind) in zip(columns, policy.signature):
            actual = self.columns[table][listed_column]
            if type_family(actual) != type_family(kind):
                raise RuleViolation(SIGNATURE_MATCHES_COLUMNS, f"{policy.name} takes {kind} where {table}."
                                                               f"{listed_column} is {actual}")
        self.attachments.append(Attachment(policy.name, "ROW_ACCESS_POLICY", table, None, tuple(columns)))

    def _set_tag(self, table: str, column: str, tag_text: str, value: str) -> None:
        tag = self._tag(tag_text)
        if len(value) > 256:
            raise RuleViolation(TAG_VALUE_LENGTH, f"the value of tag {tag.name} on {table}.{column} has "
                                                  f"{len(value)} characters")
        if tag.allowed_values is not None and value not in tag.allowed_values:
            raise RuleViolation(TAG_ALLOWED_VALUES, f"tag {tag.name} does not allow the value set on {table}.{column}")
        on_column = {name for (t, c, name) in self.tag_values if t == table and c == column}
        if tag.name not in on_column and len(on_column) >= 20:
            raise RuleViolation(TAGS_PER_COLUMN, f"{table}.{column} already carries 20 tags")
        self.tag_values[(table, column, tag.name)] = value

    def _alter_column(self, m: re.Match) -> None:
        table = self._table(m.group(1))
        column = self._column(table, m.group(2))
        action = m.group(3)
        found = re.match(rf"SET MASKING POLICY ({QNAME})(?: USING \((.*?)\))?( FORCE)?$", action, re.I)
        if found:
            self._set_masking(table, column, found.group(1), found.group(2), bool(found.group(3)))
        elif re.match(r"UNSET MASKING POLICY$", action, re.I):
            self.attachments = [a for a in self.attachments
                                if (a.kind, a.table, a.column) != ("MASKING_POLICY", table, column)]
        elif found := re.match(rf"SET PROJECTION POLICY ({QNAME})( FORCE)?$", action, re.I):
            self._set_projection(table, column, found.group(1), bool(found.group(2)))
        elif re.match(r"UNSET PROJECTION POLICY$", action, re.I):
            self.attachments = [a for a in self.attachments
                                if (a.kind, a.table, a.column) != ("PROJECTION_POLICY", table, column)]
        elif found := re.match(r"SET TAG (.+)$", action, re.I):
            for assignment in split_top(found.group(1)):
                pair = re.match(rf"\s*({QNAME})\s*=\s*({STRING})\s*$", assignment)
                if not pair:
                    raise NotUnderstood(f"the Snowflake model does not understand this tag assignment on {table}")
                self._set_tag(table, column, pair.group(1), string_value(pair.group(2)))
        elif found := re.match(r"UNSET TAG (.+)$", action, re.I):
            for tag_text in split_top(found.group(1)):
                self.tag_values.pop((table, column, object_name(tag_text)), None)
        else:
            raise NotUnderstood(f"the Snowflake model does not understand this column change on {table}")
        self._check_table(table)
        return None

    def _alter_row_access(self, m: re.Match) -> None:
        table = self._table(m.group(1))
        dropped, added, on = m.group(2), m.group(3), m.group(4)
        current = self.attachment("ROW_ACCESS_POLICY", table)
        if dropped:
            name = object_name(dropped)
            if current is None or current.policy != name:
                if added:
                    raise RuleViolation(SWAP_NEEDS_CURRENT, f"{name} is not the row access policy of {table}")
                raise NotFound(f"row access policy {name} is not attached to {table}")
            self.attachments.remove(current)
        if added:
            self._add_row_access(table, added, on)
        self._check_table(table)
        return None

    def _create_table(self, m: re.Match) -> None:
        text = m.group(2)
        table = table_key(m.group(1))
        if table in self.columns:
            return None  # IF NOT EXISTS: an existing table is left as it is
        inner, tail = _parenthesized(text)
        definitions = []
        for element in split_top(inner):
            element = element.strip()
            if re.match(r"(PRIMARY KEY|UNIQUE|FOREIGN KEY|CONSTRAINT)\b", element, re.I):
                continue
            found = re.match(rf"({IDENT})\s+(.+?)(?=\s+NOT NULL\b|\s+NULL\b|\s+WITH\b|\s+MASKING POLICY\b|"
                             rf"\s+PROJECTION POLICY\b|\s+TAG\b|\s+COMMENT\b|\s+DEFAULT\b|$)(.*)$", element, re.I)
            if not found:
                raise NotUnderstood(f"the Snowflake model does not understand a column of {table}")
            definitions.append((column_name(found.group(1)), info_type(found.group(2)), found.group(3)))
        self.columns[table] = {name: kind for name, kind, _ in definitions}
        self.rows.setdefault(object_name(m.group(1)), [])
        for name, _, options in definitions:
            mask = re.search(rf"(?:WITH )?MASKING POLICY ({QNAME})(?: USING \((.*?)\))?", options, re.I)
            if mask:
                self._set_masking(table, name, mask.group(1), mask.group(2), False)
            projection = re.search(rf"(?:WITH )?PROJECTION POLICY ({QNAME})", options, re.I)
            if projection:
                self._set_projection(table, name, projection.group(1), False)
            tags = re.search(r"(?:WITH )?TAG \((.*)\)", options, re.I)
            if tags:
                for assignment in split_top(tags.group(1)):
                    pair = re.match(rf"\s*({QNAME})\s*=\s*({STRING})\s*$", assignment)
                    if not pair:
                        raise NotUnderstood(f"the Snowflake model does not understand a tag of {table}.{name}")
                    self._set_tag(table, name, pair.group(1), string_value(pair.group(2)))
        row_access = re.match(rf"\s*(?:WITH )?ROW ACCESS POLICY ({QNAME}) ON \((.*?)\)\s*$", tail, re.I)
        if row_access:
            self._add_row_access(table, row_access.group(1), row_access.group(2))
        elif tail.strip():
            raise NotUnderstood(f"the Snowflake model does not understand what follows the columns of {table}")
        self._check_table(table)
        return None

    # plain data ----------------------------------------------------------------------------------

    def _data_table(self, text: str) -> str:
        self._table(text)
        return object_name(text)

    def _delete(self, m: re.Match) -> None:
        self.rows[self._data_table(m.group(1))] = []
        return None

    def _insert(self, m: re.Match) -> None:
        table = self._table(m.group(1))
        name = object_name(m.group(1))
        listed = [self._column(table, c) for c in split_top(m.group(2))]
        order = list(self.columns[table])
        for group in re.findall(r"\(((?:'(?:[^']|'')*'|[^()'])*)\)", m.group(3)):
            values = [_literal(v.strip()) for v in split_top(group)]
            if len(values) != len(listed):
                raise SnowflakeError(f"Insert value list does not match column list for {name}")
            by_column = dict(zip(listed, values))
            self.rows.setdefault(name, []).append(tuple(by_column.get(c) for c in order))
        return None

    def _select(self, flat: str) -> list[tuple]:
        m = re.match(rf"SELECT (.+?) FROM ({QNAME})$", flat, re.I)
        if not m:
            raise NotUnderstood(f"the Snowflake model does not understand this query: {_head(flat)}")
        table = self._table(m.group(2))
        order = list(self.columns[table])
        wanted = order if m.group(1).strip() == "*" else [self._column(table, c) for c in split_top(m.group(1))]
        positions = [order.index(c) for c in wanted]
        return [tuple(row[p] for p in positions) for row in self.rows.get(object_name(m.group(2)), [])]

    # Snowflake Scripting -------------------------------------------------------------------------

    def _script(self, text: str) -> None:
        m = re.match(r"EXECUTE IMMEDIATE\s+\$\$(.*)\$\$\s*$", text, re.I | re.S)
        block = " ".join(m.group(1).split()) if m else ""
        # the shape the engine writes: a variable set by SELECT ... INTO (docs: sql-reference/constructs/into),
        # then IF (...) THEN ... ELSE ... END IF (docs: developer-guide/snowflake-scripting/branch)
        found = re.match(rf"DECLARE found INTEGER DEFAULT 0; BEGIN SELECT COUNT\(\*\) INTO :found FROM "
                         rf"({IDENT})\.INFORMATION_SCHEMA\.TABLES WHERE "
                         rf"TABLE_SCHEMA = ({STRING}) AND TABLE_NAME = ({STRING}); IF \(found > 0\) THEN (.*?)"
                         rf"(?: ELSE (.*?))? END IF; END;?$", block, re.I | re.S)
        if not found:
            raise NotUnderstood(f"the Snowflake model does not understand this block: {_head(block)}")
        database = column_name(found.group(1))
        schema, name = string_value(found.group(2)), string_value(found.group(3))
        exists = any(_parts(t)[-3:] == [database, schema, name] or
                     [p.upper() for p in _parts(t)[-3:]] == [database.upper(), schema.upper(), name.upper()]
                     for t in self.columns)
        branch = found.group(4) if exists else (found.group(5) or "")
        for statement in split_top(branch, ";"):
            if statement.strip():
                self.execute(statement)
        return None

    # invariants ----------------------------------------------------------------------------------

    def _masking_signature(self, table: str, column: str) -> tuple[str, list[str]] | None:
        """(policy, columns in its signature) of the masking policy in effect on a column."""
        direct = self.attachment("MASKING_POLICY", table, column)
        if direct is not None:
            return direct.policy, [column, *direct.arguments]
        found = self._tag_masking(table, column)
        if not found:
            return None
        policy = self.policies.get(found[0][1])
        conditional = [name for name, _ in (policy.signature[1:] if policy else ()) if name in self.columns[table]]
        return found[0][1], [column, *conditional]

    def _exempt(self, policy: str) -> bool:
        found = self.policies.get(policy)
        return bool(found and found.exempt)

    def _check_table(self, table: str) -> None:
        """The rules that hold between a table's policies, whichever statement changed them."""
        signatures = {c: s for c in self.columns.get(table, {}) if (s := self._masking_signature(table, c))}
        row_access = self.attachment("ROW_ACCESS_POLICY", table)
        for column, (policy, listed) in sorted(signatures.items()):
            if row_access is not None and not self._exempt(policy):
                shared = [c for c in listed if c in row_access.arguments]
                if shared:
                    raise RuleViolation(MASK_AND_ROW_ACCESS, f"{table}.{', '.join(shared)} is in the signature of "
                                                             f"masking policy {policy} (not EXEMPT_OTHER_POLICIES) "
                                                             f"and of row access policy {row_access.policy}")
            for conditional in listed[1:]:
                other = signatures.get(conditional)
                if other is not None and not self._exempt(other[0]):
                    raise RuleViolation(MASKED_AS_CONDITIONAL, f"{table}.{conditional}, masked by {other[0]} (not "
                                                               f"EXEMPT_OTHER_POLICIES), is a conditional column of "
                                                               f"{policy} on {column}")


def _no_tag_function(name: str, body: str) -> None:
    if re.search(r"SYSTEM\$GET_TAG_ON_CURRENT_COLUMN", body, re.I):
        raise RuleViolation(GET_TAG_NOT_IN_ROW_ACCESS, f"row access policy {name} calls "
                                                       f"SYSTEM$GET_TAG_ON_CURRENT_COLUMN")


# --- names, types, literals ----------------------------------------------------------------------

IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
QNAME = rf"{IDENT}(?:\.{IDENT})*"
STRING = r"'(?:[^']|'')*'"


def _parts(text: str) -> list[str]:
    """A qualified name's parts as Snowflake stores them: quoted ones as written, others upper-cased."""
    return [column_name(p) for p in re.findall(IDENT, text.strip())]


def object_name(text: str) -> str:
    return _parts(text)[-1]


def column_name(text: str) -> str:
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        return text[1:-1].replace('""', '"')
    return text.upper()


def table_key(text: str) -> str:
    return text.strip().lower()


def string_value(literal: str) -> str:
    literal = literal.strip()
    if not (literal.startswith("'") and literal.endswith("'")):
        raise NotUnderstood("a string literal was expected")
    return literal[1:-1].replace("''", "'")


def _literal(text: str) -> object:
    if text.upper() == "NULL":
        return None
    if text.startswith("'"):
        return string_value(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


def split_top(text: str, separator: str = ",") -> list[str]:
    """Split at ``separator`` outside parentheses, string literals and quoted identifiers."""
    parts, depth, current, quote = [], 0, [], ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts if any(p.strip() for p in parts) else []


def _parenthesized(text: str) -> tuple[str, str]:
    """The content of the first parenthesized group of ``text`` and what follows it."""
    start = text.index("(")
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:index], text[index + 1:]
    raise NotUnderstood("unbalanced parentheses")


def normalize_type(text: str) -> str:
    """A type as written, normalized: upper case, no whitespace, the default length or precision dropped
    (VARCHAR(16777216) is VARCHAR; TIME(9) and TIMESTAMP_NTZ(9) are TIME and TIMESTAMP_NTZ, 9 being the
    documented default fractional-seconds precision), so DESCRIBE's spelling never looks like a new type."""
    kind = re.sub(r"\s+", "", text.upper())
    kind = re.sub(r"^(TIME|TIMESTAMP|TIMESTAMP_NTZ|TIMESTAMP_LTZ|TIMESTAMP_TZ|DATETIME)\(9\)$", r"\1", kind)
    return re.sub(r"^(VARCHAR|STRING|TEXT)\(16777216\)$", r"\1", kind)


_TEXT = {"VARCHAR", "STRING", "TEXT", "CHAR", "CHARACTER", "NCHAR", "NVARCHAR", "NVARCHAR2", "CHARVARYING",
         "NCHARVARYING"}
_INTEGERS = {"INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"}
_FLOATS = {"FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLEPRECISION", "REAL"}
_ALIASES = {"DATETIME": "TIMESTAMP_NTZ", "TIMESTAMP": "TIMESTAMP_NTZ", "VARBINARY": "BINARY"}


def info_type(text: str) -> str:
    """The data type ``INFORMATION_SCHEMA.COLUMNS`` reports for a declared type, with NUMBER's precision and
    scale: ``TEXT`` for every character type, ``NUMBER(p,s)`` for the fixed-point ones, ``FLOAT`` for the
    floating ones, TIME and the timestamps without their fractional-seconds precision."""
    kind = normalize_type(text)
    m = re.match(r"^([A-Z_0-9]+?)(?:\((\d+)(?:,(\d+))?\))?$", kind)
    if not m:
        return kind
    base, precision, scale = m.group(1), m.group(2), m.group(3)
    if base in _TEXT:
        return "TEXT"
    if base in _INTEGERS:
        return "NUMBER(38,0)"
    if base in ("NUMBER", "NUMERIC", "DECIMAL"):
        return f"NUMBER({precision or 38},{scale or 0})"
    if base in _FLOATS:
        return "FLOAT"
    if base == "BINARY":
        return "BINARY"
    return _ALIASES.get(base, base)


def type_family(text: str) -> str:
    """The data type a masking policy is written for, as the tag rule counts them ("one masking policy per
    data type"): VARCHAR for the character types, NUMBER for every precision and scale, FLOAT, TIME with any
    precision; the three timestamps differ (TIMESTAMP_NTZ, TIMESTAMP_LTZ, TIMESTAMP_TZ)."""
    kind = info_type(text)
    if kind == "TEXT":
        return "VARCHAR"
    if kind.startswith("NUMBER"):
        return "NUMBER"
    return kind


def _head(text: str) -> str:
    """The start of a statement for an error message: its keywords and names, never a body or a key."""
    head = re.split(r"\s(?:->|AS|VALUES)\s|\$\$", " ".join(text.split()), maxsplit=1)[0]
    return head[:100]


_HANDLERS = [
    (rf"CREATE STAGE IF NOT EXISTS ({QNAME})(?: .*)?$", SnowflakeModel._create_stage),
    (rf"CREATE TAG IF NOT EXISTS ({QNAME})(.*)$", SnowflakeModel._create_tag),
    (rf"ALTER TAG ({QNAME}) (ADD|DROP) ALLOWED_VALUES (.+)$", SnowflakeModel._alter_allowed_values),
    (rf"ALTER TAG ({QNAME}) SET ((?:MASKING POLICY {QNAME}(?:\s*,\s*)?)+?)( FORCE)?$",
     SnowflakeModel._set_tag_policies),
    (rf"ALTER TAG ({QNAME}) UNSET ((?:MASKING POLICY {QNAME}(?:\s*,\s*)?)+)$", SnowflakeModel._unset_tag_policies),
    (rf"CREATE OR REPLACE (MASKING|PROJECTION|ROW ACCESS) POLICY ({QNAME}) AS \(((?:[^()]|\([^()]*\))*)\) "
     r"RETURNS (\S+) ->\s*(.*)$", SnowflakeModel._create_policy),
    (rf"ALTER (MASKING|PROJECTION|ROW ACCESS) POLICY ({QNAME}) SET BODY ->\s*(.*)$", SnowflakeModel._set_body),
    (rf"DROP (MASKING|PROJECTION|ROW ACCESS) POLICY ({QNAME})$", SnowflakeModel._drop_policy),
    (rf"ALTER TABLE ({QNAME}) (?:ALTER|MODIFY) COLUMN ({IDENT}) (.+)$", SnowflakeModel._alter_column),
    (rf"ALTER TABLE ({QNAME}) (?:DROP ROW ACCESS POLICY ({QNAME}))?(?:, )?(?:ADD ROW ACCESS POLICY ({QNAME}) "
     r"ON \((.*)\))?$", SnowflakeModel._alter_row_access),
    (rf"CREATE TABLE IF NOT EXISTS ({QNAME}) (\(.*)$", SnowflakeModel._create_table),
    (rf"DELETE FROM ({QNAME})$", SnowflakeModel._delete),
    (rf"INSERT INTO ({QNAME}) \((.*?)\) VALUES (.*)$", SnowflakeModel._insert),
]
