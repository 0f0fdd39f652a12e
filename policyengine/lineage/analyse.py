"""Column-level lineage: which source columns each output column of a statement comes from.

``CREATE TABLE ... AS SELECT``, ``CREATE VIEW ... AS``, a plain ``SELECT`` (a dbt model's compiled
SQL), or a script of them: every output column is traced through CTEs, subqueries, joins, set
operations, aggregates, windows and expressions to the table columns its value is computed from,
with sqlglot's qualifier and lineage walker over a schema built from the contracts
(:mod:`policyengine.lineage.catalog`). Nothing here reads a file or a database.

What counts as a source is what the value is computed from: the columns of the output column's
expression at every step (a ``CASE`` condition, a window's ``PARTITION BY`` and ``ORDER BY``, the
argument of an aggregate, a scalar subquery's result), as sqlglot's lineage defines it. Columns
that only decide which rows there are (``WHERE``, ``JOIN ... ON``, ``GROUP BY`` keys that are not
selected) are not sources of any column; ``docs/lineage.md`` says why.

Fail closed, at two levels:

- A statement that cannot be analysed at all raises :class:`LineageError` with the reason: a
  syntax error, a statement that is not a query or a ``CREATE ... AS``, uncompiled Jinja, a ``*``
  that cannot be expanded (so the output columns are not even known), a column the table's
  contract does not list.
- An output column whose sources cannot be determined (an ambiguous column, a whole-row reference,
  DuckDB's ``COLUMNS(...)``, a table function, a correlated reference sqlglot does not follow) is
  kept, marked unknown with the reason; whoever uses the lineage decides what that means (derive
  and validate treat it as reading every column of every table the statement reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.lineage import Node, to_node
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, traverse_scope
from sqlglot.schema import MappingSchema
from sqlglot.tokens import TokenType

from policyengine.lineage.catalog import Catalog, CatalogTable
from policyengine.model.policyset import name_key
from policyengine.model.types import ColumnType, UnknownType, parse_column_type

DEFAULT_DIALECT = "duckdb"


class LineageError(ValueError):
    """A statement that cannot be analysed: refused as a whole, with the reason (and its number in a script)."""


class Transform(str, Enum):
    """How an output column is made from its sources, as far as that matters for propagation."""

    COLUMN = "column"  # a source column's value, unchanged (a reference, possibly renamed)
    VALUE = "value"  # one of the source column's values: MIN, MAX, ANY_VALUE, FIRST, a cast to the same kind
    EXPRESSION = "expression"  # computed by an expression, CASE, function or scalar subquery
    AGGREGATE = "aggregate"
    WINDOW = "window"
    CONSTANT = "constant"  # from no column at all: a literal, COUNT(*), VALUES
    UNKNOWN = "unknown"  # the sources could not be determined


#: Aggregates whose result is one of the input values, unchanged (so a protection of the input fits it)
VALUE_AGGREGATES: tuple[type[exp.Expression], ...] = (exp.Min, exp.Max, exp.AnyValue, exp.First, exp.Last,
                                                      exp.FirstValue, exp.LastValue)

_PRIORITY = {Transform.COLUMN: 0, Transform.VALUE: 1, Transform.EXPRESSION: 2, Transform.AGGREGATE: 3,
             Transform.WINDOW: 4}


@dataclass(frozen=True, order=True)
class SourceColumn:
    """A column of a table: the table's name as its contract spells it (as written when it has none)."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class OutputColumn:
    """One output column: its sources and how it is made from them."""

    name: str
    sources: tuple[SourceColumn, ...]
    transform: Transform
    #: the type sqlglot infers, when it is one a contract can hold (None: unknown or imprecise)
    type: ColumnType | None
    #: the type as sqlglot inferred it, for messages (``DECIMAL`` without precision, ``UNKNOWN``)
    inferred: str | None = None
    #: why the sources could not be determined; None when they are known
    unknown: str | None = None
    #: tables the script itself created that the value passed through, in order
    via: tuple[str, ...] = ()
    #: the output expression, as SQL
    expression: str = ""

    @property
    def determined(self) -> bool:
        return self.unknown is None

    @property
    def preserves_value(self) -> bool:
        """Whether the value is one source column's value, unchanged (so its protection still fits)."""
        return self.determined and len(self.sources) == 1 and self.transform in (Transform.COLUMN, Transform.VALUE)


@dataclass(frozen=True)
class StatementLineage:
    """The lineage of one statement of a script."""

    number: int  # 1-based, in the script
    kind: str  # "select", "create table", "create view"
    target: str | None  # the table or view the statement creates (as written)
    columns: tuple[OutputColumn, ...]
    #: the tables read that have a contract (their names as the contracts spell them), sorted
    reads: tuple[str, ...]
    #: what is read with no contract: tables as written, and table functions
    unknown_reads: tuple[str, ...]
    #: the statement's text as written (comments included)
    sql: str

    def column(self, name: str) -> OutputColumn | None:
        wanted = name_key(name)
        return next((c for c in self.columns if name_key(c.name) == wanted), None)


@dataclass(frozen=True)
class Statement:
    """One statement of a script, parsed; not yet analysed."""

    number: int
    sql: str
    tree: exp.Expression
    kind: str
    target: exp.Table | None
    #: output column names (and types) given by the statement: ``CREATE VIEW v (a, b)``, ``CREATE TABLE t (a INT)``
    declared: tuple[tuple[str, exp.DataType | None], ...]
    query: exp.Query


# --- splitting and parsing -------------------------------------------------------------------------

_JINJA = re.compile(r"\{\{|\{%|\{#")


def split_statements(sql: str, dialect: str = DEFAULT_DIALECT) -> list[str]:
    """The script's statements, each as written (comments kept), at the semicolons the tokenizer sees
    (not those inside strings or comments)."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except (TokenError, ParseError) as error:
        raise LineageError(f"cannot read the SQL: {error}") from None
    except ValueError as error:  # an unknown dialect name
        raise LineageError(str(error)) from None
    pieces: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            pieces.append(sql[start:token.start])
            start = token.end + 1
    pieces.append(sql[start:])
    return [p.strip() for p in pieces if _has_code(p, dialect)]


def _has_code(text: str, dialect: str) -> bool:
    try:
        return any(t.token_type != TokenType.SEMICOLON for t in Dialect.get_or_raise(dialect).tokenize(text))
    except (TokenError, ParseError):
        return True


def parse_statement(text: str, number: int, dialect: str = DEFAULT_DIALECT) -> Statement:
    """One statement, parsed and classified; :class:`LineageError` for anything but a query or ``CREATE ... AS``."""
    where = f"statement {number}: " if number else ""
    if _JINJA.search(text):
        raise LineageError(f"{where}holds Jinja ({{{{ ... }}}} or {{% ... %}}): give dbt's compiled SQL "
                           "(target/compiled/...), not the model's source")
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except (ParseError, TokenError) as error:
        errors = getattr(error, "errors", None) or [{}]
        first = errors[0]
        line, col = first.get("line"), first.get("col")
        at = f" at line {line}, column {col}" if line else ""
        description = re.sub(r" but got <Token .*$", "", str(first.get("description") or error), flags=re.DOTALL)
        incomplete = re.match(r"Required keyword: '\w+' missing for <class '[\w.]*?(\w+)'>", description)
        if incomplete:
            description = f"{incomplete.group(1).upper()} is incomplete"
        raise LineageError(f"{where}syntax error{at}: {description}") from None
    if len(trees) != 1:
        raise LineageError(f"{where}expected one statement, found {len(trees)}")
    tree = trees[0]
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        query = tree.expression
        while isinstance(query, exp.Subquery):
            query = query.this
        if kind not in ("TABLE", "VIEW") or not isinstance(query, exp.Query):
            what = f"CREATE {kind}" if kind else "CREATE"
            raise LineageError(f"{where}{what} without AS SELECT has no lineage: only SELECT, "
                               "CREATE TABLE ... AS SELECT and CREATE VIEW ... AS are analysed")
        target = tree.this
        declared: list[tuple[str, exp.DataType | None]] = []
        if isinstance(target, exp.Schema):
            for item in target.expressions:
                if isinstance(item, exp.ColumnDef):
                    declared.append((item.name, item.args.get("kind")))
                elif isinstance(item, exp.Identifier):
                    declared.append((item.name, None))
                else:
                    raise LineageError(f"{where}cannot read the column list of the {kind.lower()}")
            target = target.this
        if not isinstance(target, exp.Table) or not isinstance(target.this, exp.Identifier):
            raise LineageError(f"{where}cannot tell which table the statement creates")
        return Statement(number, text, tree, f"create {kind.lower()}", target, tuple(declared), query)
    if isinstance(tree, exp.Query):
        return Statement(number, text, tree, "select", None, (), tree)
    name = tree.key.upper() if tree.key else type(tree).__name__
    raise LineageError(f"{where}a {name} statement has no lineage: only SELECT, CREATE TABLE ... AS SELECT "
                       "and CREATE VIEW ... AS are analysed")


def table_name(table: exp.Table) -> str:
    """``db.schema.table`` as written (without quotes)."""
    return ".".join(part.name for part in table.parts)


# --- analysis --------------------------------------------------------------------------------------

@dataclass
class _Context:
    """What one analysis knows: synthetic names for the tables read, and what they stand for."""

    catalog: Catalog
    #: tables an earlier statement of the same script created: traced through, not read from the catalog
    script: dict[str, StatementLineage]
    #: synthetic table name -> the catalog table, the script's statement, or the name as written (no contract)
    aliases: dict[str, CatalogTable | StatementLineage | str] = field(default_factory=dict)
    schema: dict[str, dict[str, str]] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    #: identifiers as the statement spells them, by lower-case name (for messages)
    spellings: dict[str, str] = field(default_factory=dict)

    def spell(self, name: str) -> str:
        return self.spellings.get(name_key(name), name)


def analyse(sql: str, catalog: Catalog, *, dialect: str = DEFAULT_DIALECT) -> list[StatementLineage]:
    """The lineage of every statement of a script; tables created earlier in the script are traced
    through to what they read (``via`` names them). Raises :class:`LineageError` for a statement that
    cannot be analysed."""
    texts = split_statements(sql, dialect)
    if not texts:
        raise LineageError("the SQL holds no statement")
    numbered = len(texts) > 1
    out: list[StatementLineage] = []
    script: dict[str, StatementLineage] = {}
    for number, text in enumerate(texts, 1):
        statement = parse_statement(text, number if numbered else 0, dialect)
        result = analyse_statement(statement, catalog, dialect=dialect, script=script)
        out.append(result)
        if result.target is not None:
            script[name_key(result.target)] = result
    return out


def analyse_statement(statement: Statement, catalog: Catalog, *, dialect: str = DEFAULT_DIALECT,
                      script: dict[str, StatementLineage] | None = None) -> StatementLineage:
    """The lineage of one parsed statement over the catalog (and the tables of ``script``, by key)."""
    where = f"statement {statement.number}: " if statement.number else ""
    context = _Context(catalog, dict(script or {}))
    query = statement.query.copy()
    try:
        context.spellings = {name_key(i.name): i.name for i in reversed(list(query.find_all(exp.Identifier)))}
        _bind_tables(query, context)
        _normalize_identifiers(query)
        _check_values(query)
        _check_columns(query, context, qualified_only=True)
        schema = MappingSchema(context.schema, dialect=dialect, normalize=True)
        qualified = qualify(query, dialect=dialect, schema=schema, validate_qualify_columns=False,
                            identify=False, quote_identifiers=False)
    except LineageError as error:
        raise LineageError(f"{where}{error}") from None
    except (SqlglotError, RecursionError, ValueError, KeyError) as error:
        raise LineageError(f"{where}cannot analyse the query: {error}") from None
    try:
        _check_columns(qualified, context)
        _check_stars(qualified, context)
    except LineageError as error:
        raise LineageError(f"{where}{error}") from None
    try:
        annotate_types(qualified, schema=schema, dialect=dialect)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        pass  # types are a convenience: an output column whose type is not inferred says so
    try:
        root = build_scope(qualified)
    except (SqlglotError, RecursionError) as error:
        raise LineageError(f"{where}cannot analyse the query's scopes: {error}") from None
    if root is None:
        raise LineageError(f"{where}cannot analyse the query's scopes")

    selects = qualified.selects
    names = [_spelling(select.alias_or_name, statement, context) for select in selects]
    types: list[exp.DataType | None] = [select.type for select in selects]
    if statement.declared:
        if len(statement.declared) != len(selects):
            raise LineageError(f"{where}the column list names {len(statement.declared)} columns, "
                               f"the query gives {len(selects)}")
        names = [name for name, _ in statement.declared]
        types = [kind if kind is not None else types[i] for i, (_, kind) in enumerate(statement.declared)]

    cache: dict[tuple, Node] = {}
    pivoted = {name_key(c.name) for pivot in qualified.find_all(exp.Pivot) for c in pivot.args.get("columns") or []}
    columns = []
    for index, select in enumerate(selects):
        column = _column(index, names[index], select, types[index], root, schema, dialect, context, cache)
        if name_key(select.alias_or_name) in pivoted and column.transform in (Transform.COLUMN, Transform.VALUE):
            column = replace(column, transform=Transform.AGGREGATE)  # a PIVOT's cell aggregates its rows
        columns.append(column)
    reads, unknown_reads = _reads(qualified, context)
    target = table_name(statement.target) if statement.target is not None else None
    return StatementLineage(statement.number or 1, statement.kind, target, tuple(columns), reads, unknown_reads,
                            statement.sql)


def _normalize_identifiers(query: exp.Expression) -> None:
    """Names compared as the project compares them: case-insensitively, quoted or not."""
    for identifier in query.find_all(exp.Identifier):
        identifier.set("this", identifier.name.lower())
        identifier.set("quoted", False)


def _bind_tables(query: exp.Expression, context: _Context) -> None:
    """Give each base table reference a synthetic single-part name (``__t0``) that the schema knows it
    by, keeping what it is known as in the query (its alias, else its own name). The schema is then one
    level deep whatever the set's names are (``reviews``, ``sales.orders``), and a table the script
    created earlier is told apart from a contract table of the same name."""
    try:
        scopes = traverse_scope(query)
    except (SqlglotError, RecursionError) as error:
        raise LineageError(f"cannot analyse the query's scopes: {error}") from None
    by_target: dict[str, str] = {}
    seen: set[int] = set()
    for scope in scopes:
        ctes = {name_key(name) for name in scope.cte_sources}
        for table in scope.tables:
            if id(table) in seen:
                continue
            seen.add(id(table))
            if not isinstance(table.this, exp.Identifier):
                context.functions.append(table.this.sql(comments=False)[:80])
                continue
            written = tuple(part.name for part in table.parts)
            if len(written) == 1 and name_key(written[0]) in ctes:
                continue
            if any(table.args.get(arg) for arg in ("version", "when", "changes")):
                raise LineageError(f"cannot analyse '{table.sql(comments=False)[:80]}': time travel reads "
                                   "data the contracts do not describe")
            key = ".".join(name_key(p) for p in written)
            bound: CatalogTable | StatementLineage | str
            script_table = context.script.get(key) if len(written) == 1 else None
            if script_table is not None:
                bound = script_table
            else:
                found = context.catalog.resolve(written)
                bound = found if found is not None else ".".join(written)
            identity = (f"s:{name_key(bound.target or '')}" if isinstance(bound, StatementLineage)
                        else f"c:{bound.key}" if isinstance(bound, CatalogTable) else f"u:{key}")
            synthetic = by_target.get(identity)
            if synthetic is None:
                synthetic = f"__t{len(by_target)}"
                by_target[identity] = synthetic
                context.aliases[synthetic] = bound
                if isinstance(bound, CatalogTable):
                    context.schema[synthetic] = {name_key(c): t for c, t in bound.columns}
                elif isinstance(bound, StatementLineage):
                    context.schema[synthetic] = {name_key(c.name): (c.type.sql if c.type else "UNKNOWN")
                                                 for c in bound.columns}
            alias = table.alias or written[-1]
            table.set("this", exp.to_identifier(synthetic))
            table.set("db", None)
            table.set("catalog", None)
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name_key(alias)),
                                              columns=table.args["alias"].columns if table.args.get("alias") else None))


def _check_values(query: exp.Expression) -> None:
    """``VALUES`` rows are constants here; VALUES that read columns or run subqueries are not analysed."""
    for values in query.find_all(exp.Values):
        if any(values.find_all(exp.Column, exp.Query)):
            raise LineageError("VALUES with column references or subqueries is not analysed")


def _check_columns(qualified: exp.Expression, context: _Context, *, qualified_only: bool = False) -> None:
    """A column of a table with a contract must be one the contract lists, wherever it is read.

    Run before qualification for the columns the query qualifies itself (the qualifier stops at the
    first one it cannot find, with a terser message), and after it for all of them."""
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            if column.name == "*" or (qualified_only and not column.table):
                continue
            if not column.table:
                # the qualifier leaves a column unqualified when no source it knows has it
                if scope.sources and not any(_may_have(s, column.name, context) for s in scope.sources.values()):
                    raise LineageError(
                        f"unknown column '{context.spell(column.name)}': no table the query reads has it")
                continue
            source = scope.sources.get(column.table)
            if not isinstance(source, exp.Table):
                continue
            bound = context.aliases.get(name_key(source.name))
            if isinstance(bound, CatalogTable) and bound.column(column.name) is None:
                raise LineageError(f"unknown column '{context.spell(column.name)}' of table {bound.name}: its "
                                   "contract does not list it")
            if isinstance(bound, StatementLineage) and bound.column(column.name) is None:
                raise LineageError(f"unknown column '{context.spell(column.name)}' of table {bound.target}, which "
                                   f"statement {bound.number} creates")


def _may_have(source: exp.Table | Scope, column: str, context: _Context) -> bool:
    """Whether a source of a scope has (or, not being known, may have) the column."""
    if isinstance(source, Scope):
        query = source.expression
        if not isinstance(query, exp.Query):
            return True
        return query.is_star or name_key(column) in {name_key(n) for n in query.named_selects}
    if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
        return True
    bound = context.aliases.get(name_key(source.name))
    if isinstance(bound, CatalogTable):
        return bound.column(column) is not None
    if isinstance(bound, StatementLineage):
        return bound.column(column) is not None
    return True


def _check_stars(qualified: exp.Expression, context: _Context) -> None:
    """A ``*`` left after qualification could not be expanded: the output columns are not known."""
    for select in qualified.selects:
        star = select if isinstance(select, exp.Star) else select.this if isinstance(select, exp.Column) else None
        if isinstance(star, exp.Star):
            unknown = sorted({b for b in context.aliases.values() if isinstance(b, str)}) + context.functions
            what = f" over {', '.join(unknown)}, which has no contract" if unknown else ""
            raise LineageError(f"cannot expand *{what}: the output columns are not known")


def _spelling(name: str, statement: Statement, context: _Context) -> str:
    """An output name as the statement (or the contract) spells it: names are compared in lower case,
    but a contract keeps ``ReviewID``, not ``reviewid``."""
    wanted = name_key(name)
    for select in _first_select(statement.query).expressions:
        if isinstance(select, exp.Alias) and name_key(select.alias) == wanted:
            return select.alias
    for identifier in statement.query.find_all(exp.Identifier):
        if name_key(identifier.name) == wanted and isinstance(identifier.parent, exp.Column):
            column = _contract_spelling(wanted, context)
            return column or identifier.name
    return _contract_spelling(wanted, context) or name


def _contract_spelling(wanted: str, context: _Context) -> str | None:
    for bound in context.aliases.values():
        if isinstance(bound, CatalogTable):
            spelled = bound.column(wanted)
            if spelled is not None:
                return spelled
        elif isinstance(bound, StatementLineage):
            found = bound.column(wanted)
            if found is not None:
                return found.name
    return None


def _first_select(query: exp.Expression) -> exp.Select:
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    return query if isinstance(query, exp.Select) else exp.Select()


# --- one output column ------------------------------------------------------------------------------

@dataclass
class _Trace:
    sources: set[SourceColumn] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)
    steps: set[Transform] = field(default_factory=set)
    via: list[str] = field(default_factory=list)

    def not_known(self, reason: str) -> None:
        if reason not in self.unknown:
            self.unknown.append(reason)


def _column(index: int, name: str, select: exp.Expression, inferred: exp.DataType | None, root: Scope,
            schema: MappingSchema, dialect: str, context: _Context, cache: dict[tuple, Node]) -> OutputColumn:
    trace = _Trace()
    try:
        node = to_node(index, root, dialect, schema, trim_selects=False, _cache=cache)
    except (SqlglotError, RecursionError, ValueError, KeyError, IndexError) as error:
        trace.not_known(f"sqlglot cannot follow it ({error})")
        node = None
    if node is not None:
        for step in node.walk():
            if step.downstream:
                _step(step, trace)
            else:
                _leaf(step, trace, context)
    column_type, written = _column_type(inferred)
    if trace.unknown:
        transform = Transform.UNKNOWN
    else:
        ranked = [s for s in trace.steps if s in _PRIORITY]
        transform = max(ranked, key=_PRIORITY.__getitem__) if ranked else Transform.COLUMN
        if not trace.sources and transform in (Transform.COLUMN, Transform.VALUE, Transform.EXPRESSION):
            transform = Transform.CONSTANT
    return OutputColumn(
        name=name, sources=tuple(sorted(trace.sources)), transform=transform, type=column_type, inferred=written,
        unknown="; ".join(trace.unknown) or None, via=tuple(dict.fromkeys(trace.via)),
        expression=_unalias(select).sql(dialect=dialect, comments=False),
    )


def _unalias(node: exp.Expression) -> exp.Expression:
    return node.this if isinstance(node, exp.Alias) else node


def _step(node: Node, trace: _Trace) -> None:
    """One projection on the way (an output column, a CTE's or subquery's column)."""
    if isinstance(node.source, exp.SetOperation) and node.name in ("UNION", "INTERSECT", "EXCEPT"):
        return  # the set operation's node: its branches are steps of their own
    expression = node.expression
    if isinstance(expression, exp.Query) or not isinstance(expression, (exp.Alias, exp.Column, exp.Star)):
        trace.not_known(f"'{node.name}' is not a column of the query it is read from")
        return
    body = _unalias(expression)
    for found in body.find_all(exp.TableColumn, exp.Columns, exp.Star, exp.Column):
        if isinstance(found, exp.TableColumn):
            trace.not_known(f"reads the whole row '{found.name}'")
        elif isinstance(found, exp.Columns):
            trace.not_known("COLUMNS(...) reads columns chosen by name when the query runs")
        elif isinstance(found, exp.Star) and not (isinstance(found.parent, exp.Count) and found.parent.this is found):
            if not isinstance(found.parent, exp.Column):
                trace.not_known(f"'{body.sql(comments=False)[:60]}' reads every column (*)")
        elif isinstance(found, exp.Column) and isinstance(found.this, exp.Star):
            trace.not_known(f"'{found.sql(comments=False)}' reads every column of '{found.table}'")
    trace.steps.add(_classify(body))


def _classify(body: exp.Expression) -> Transform:
    if isinstance(body, exp.Column):
        return Transform.COLUMN
    if isinstance(body, VALUE_AGGREGATES) and isinstance(body.this, exp.Column) and not body.expressions:
        return Transform.VALUE
    if isinstance(body, exp.Window) and isinstance(body.this, VALUE_AGGREGATES) and not (
            body.args.get("partition_by") or body.args.get("order")):
        return Transform.VALUE if isinstance(body.this.this, exp.Column) else Transform.WINDOW
    if isinstance(body, (exp.Cast, exp.TryCast)) and isinstance(body.this, exp.Column):
        return Transform.VALUE  # the same value, in another type: propagation checks the type still fits
    if body.find(exp.Window):
        return Transform.WINDOW
    if body.find(exp.AggFunc):
        return Transform.AGGREGATE
    return Transform.EXPRESSION


def _leaf(node: Node, trace: _Trace, context: _Context) -> None:
    expression = node.expression
    if isinstance(expression, exp.Table):
        if not isinstance(expression.this, exp.Identifier):
            trace.not_known(f"reads the table function {expression.this.sql(comments=False)[:60]}")
            return
        column = node.name.split(".")[-1]
        if column == "*":
            bound = context.aliases.get(name_key(expression.name), expression.name)
            label = bound.name if isinstance(bound, CatalogTable) else (
                bound.target if isinstance(bound, StatementLineage) else bound)
            trace.not_known(f"* over {label} could not be expanded")
            return
        bound = context.aliases.get(name_key(expression.name))
        if isinstance(bound, CatalogTable):
            trace.sources.add(SourceColumn(bound.name, bound.column(column) or column))
        elif isinstance(bound, StatementLineage):
            _through(bound, column, trace)
        elif isinstance(bound, str):
            trace.sources.add(SourceColumn(bound, column))
        else:
            trace.not_known(f"cannot tell which table '{node.name}' comes from")
        return
    if isinstance(expression, exp.Placeholder):
        trace.not_known(f"cannot tell which table column '{node.name}' comes from (ambiguous, or a reference "
                        "to an enclosing query)")
        return
    if isinstance(expression, (exp.Alias, exp.Identifier)):
        # a projection that reads no column (a literal, COUNT(*)), or a column of VALUES (constants,
        # checked by _check_values); anything that would read a column would have a downstream node
        if isinstance(expression, exp.Alias):
            _step(node, trace)
        return
    trace.not_known(f"cannot follow '{node.name}'")


def _through(created: StatementLineage, column: str, trace: _Trace) -> None:
    """A column of a table the script created earlier: its own lineage, continued."""
    found = created.column(column)
    trace.via.append(created.target or "")
    if found is None:
        trace.not_known(f"{created.target} has no column '{column}'")
        return
    trace.via.extend(found.via)
    trace.sources.update(found.sources)
    if found.unknown:
        trace.not_known(f"{created.target}.{found.name}: {found.unknown}")
    elif found.transform is Transform.CONSTANT:
        trace.steps.add(Transform.EXPRESSION)
    elif found.transform in _PRIORITY:
        trace.steps.add(found.transform)


def _column_type(inferred: exp.DataType | None) -> tuple[ColumnType | None, str | None]:
    """A contract type for what sqlglot inferred; None when it is unknown or imprecise (a DECIMAL
    without precision: the database picks one, or a DOUBLE, and a contract must not guess)."""
    if inferred is None or inferred.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None, None if inferred is None else inferred.sql("duckdb")
    written = inferred.sql("duckdb")
    if inferred.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL) and not inferred.expressions:
        return None, written
    try:
        return parse_column_type(written), written
    except UnknownType:
        return None, written


def _reads(qualified: exp.Expression, context: _Context) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tables the statement reads (through the script's own tables, what they read)."""
    known: set[str] = set()
    unknown: set[str] = set(context.functions)
    for bound in context.aliases.values():
        if isinstance(bound, CatalogTable):
            known.add(bound.name)
        elif isinstance(bound, StatementLineage):
            known.update(bound.reads)
            unknown.update(bound.unknown_reads)
        else:
            unknown.add(bound)
    return tuple(sorted(known, key=name_key)), tuple(sorted(unknown))
