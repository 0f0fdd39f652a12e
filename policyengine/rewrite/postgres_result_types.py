"""Result column types PostgreSQL announces that DuckDB's cannot say: character varying.

DuckDB has one string type, VARCHAR, which the front door announces as text (OID 25). PostgreSQL's
RowDescription says varchar (1043; varchar[] 1015) for ``CAST(x AS varchar)``, and carries it where
its type resolution does (checked against PostgreSQL 15, tests/test_postgres_semantics.py):

* CASE, COALESCE, GREATEST, LEAST and the columns of UNION/INTERSECT/EXCEPT take the type of their
  first branch that has one (``select_common_type`` in parse_coerce.c keeps the first type when the
  next is of the same category and each coerces implicitly to the other, as varchar and text do;
  text is the preferred type, so it is never replaced either). CASE counts its ELSE first
  (transformCaseExpr puts the default result at the head of the list). Untyped literals and NULL are
  skipped; all of them untyped is text, and so is each set operation's column of two untyped ones.
* ``array_agg(varchar)`` and ``ARRAY[varchar, ...]`` are varchar[]; an element of one, ``unnest``,
  ``first_value``/``last_value``/``nth_value``/``lag``/``lead`` of a varchar are varchar (polymorphic);
  ``max``/``min`` (there are only text versions), ``NULLIF`` (the = operator's text input), ``||`` and
  every other function give text.
* A column of a derived table or CTE, and a scalar subquery, have the type of the projection they read.

This module works that out for each column of the statement's result, on the tree as the reader wrote
it (:func:`postgres_result_types`, a finding of the rewrite: ``Rewritten.result_types``); the server
announces those columns as varchar. Where a ``*`` over a table sits beside a varchar column (the
table's visible columns are counted later, by the policy) the statement is refused, naming it.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, build_scope

from policyengine.rewrite.refusal import Refused

VARCHAR, VARCHAR_ARRAY = "varchar", "varchar[]"
#: an untyped literal or NULL: it takes the type of the branches beside it
_UNKNOWN = "unknown"

#: window functions (and others) whose result is their first argument's type
_SAME_AS_ARGUMENT = (exp.FirstValue, exp.LastValue, exp.NthValue, exp.Lag, exp.Lead)


def postgres_result_types(tree: exp.Expression, read: str) -> tuple[str | None, ...]:
    """PostgreSQL's type of each result column where it is varchar or varchar[] (None elsewhere: the
    type DuckDB's result has); empty when ``read`` is not PostgreSQL or the tree is not a query.

    >>> import sqlglot
    >>> sql = "SELECT CAST(1 AS varchar), 'a', CASE WHEN true THEN 'x' ELSE 'y'::varchar END, max('a'::varchar)"
    >>> postgres_result_types(sqlglot.parse_one(sql, read="postgres"), "postgres")
    ('varchar', None, 'varchar', None)
    """
    if read != "postgres" or not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        return ()
    try:
        root = build_scope(tree)
    except (OptimizeError, RecursionError):
        return ()
    if root is None:
        return ()
    resolver = _Types(root)
    kinds = resolver.outputs(root)
    if resolver.uncountable:
        if any(kind in (VARCHAR, VARCHAR_ARRAY) for kind in resolver.seen):
            raise Refused("a varchar result column beside a * over a table cannot be given PostgreSQL's exact "
                          "meaning here: its type (varchar) is announced by position, name the table's columns",
                          kind="unsupported")
        return ()
    resolved = tuple(kind if kind in (VARCHAR, VARCHAR_ARRAY) else None for kind in kinds)
    return resolved if any(resolved) else ()


def _common(kinds: list[str | None]) -> str | None:
    """select_common_type between varchar, text and untyped values: the first typed one."""
    for kind in kinds:
        if kind != _UNKNOWN:
            return kind
    return _UNKNOWN


def _resolved(kind: str | None) -> str | None:
    """An untyped value that reaches a query's output is text there."""
    return None if kind == _UNKNOWN else kind


class _Types:
    def __init__(self, root: Scope):
        self.scopes = {id(scope.expression): scope for scope in root.traverse()}
        self.seen: list[str | None] = []
        #: a * over a base table was met: its width is the policy's to decide (the wrappers list the
        #: columns the principal may see), so positions after it cannot be told here
        self.uncountable = False

    # --- a query's output columns -------------------------------------------------------------------

    def outputs(self, scope: Scope, keep_unknown: bool = False) -> list[str | None]:
        """The kinds of ``scope``'s output columns, in order (untyped ones text unless ``keep_unknown``:
        a branch of a set operation, whose untyped columns take the other branch's type)."""
        expression = scope.expression
        branches = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", [])
        if isinstance(expression, exp.SetOperation) and len(branches) == 2:
            left, right = (self.outputs(branch, keep_unknown=True) for branch in branches)
            kinds = [_common([a, b]) if len(left) == len(right) else None for a, b in zip(left, right)]
            kinds = [_resolved(kind) for kind in kinds]  # each set operation resolves its untyped columns
        elif isinstance(expression, exp.Select):
            kinds = []
            for projection in expression.expressions:
                if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                         and isinstance(projection.this, exp.Star)):
                    kinds.extend(self._star(projection, scope))
                else:
                    kinds.append(self.kind(projection, scope))
            if not keep_unknown:
                kinds = [_resolved(kind) for kind in kinds]
        else:
            return []
        self.seen.extend(kinds)
        return kinds

    def _star(self, star: exp.Expression, scope: Scope) -> list[str | None]:
        table = star.table if isinstance(star, exp.Column) else ""
        kinds: list[str | None] = []
        for name, (_, source) in scope.selected_sources.items():
            if table and name != table:
                continue
            if not isinstance(source, Scope):
                self.uncountable = True
                continue
            kinds.extend(self.outputs(source))
        return kinds

    def output(self, scope: Scope, name: str) -> str | None:
        """The kind of ``scope``'s output column ``name``."""
        expression = scope.expression
        leaf = expression
        while isinstance(leaf, exp.SetOperation):
            leaf = leaf.this
        while isinstance(leaf, exp.Subquery):
            leaf = leaf.this
        if not isinstance(leaf, exp.Select):
            return None
        names = [projection.alias_or_name for projection in leaf.expressions]
        if name not in names:
            lowered = [n.lower() for n in names]
            if name.lower() not in lowered or any(isinstance(p, exp.Star) for p in leaf.expressions):
                return None
            position = lowered.index(name.lower())
        else:
            position = names.index(name)
        if isinstance(expression, exp.Select):
            return _resolved(self.kind(expression.expressions[position], scope))
        kinds = self.outputs(scope)
        return kinds[position] if position < len(kinds) else None

    # --- an expression ------------------------------------------------------------------------------

    def kind(self, node: exp.Expression | None, scope: Scope) -> str | None:
        if node is None:
            return None
        if isinstance(node, (exp.Alias, exp.Paren, exp.Collate)):
            return self.kind(node.this, scope)
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return _cast_kind(node.to)
        if isinstance(node, exp.Null) or isinstance(node, exp.Literal) and node.is_string:
            return _UNKNOWN
        if isinstance(node, exp.Case):
            default = node.args.get("default")
            return _common([self.kind(default, scope) if default is not None else _UNKNOWN,
                            *(self.kind(when.args.get("true"), scope) for when in node.args.get("ifs") or [])])
        if isinstance(node, (exp.Coalesce, exp.Greatest, exp.Least)):
            return _common([self.kind(argument, scope) for argument in [node.this, *(node.expressions or [])]])
        if isinstance(node, (exp.Window, exp.Filter, exp.IgnoreNulls, exp.RespectNulls)):
            return self.kind(node.this, scope)
        if isinstance(node, _SAME_AS_ARGUMENT):
            return _resolved(self.kind(node.this, scope))
        if isinstance(node, exp.ArrayAgg):
            argument = node.this.this if isinstance(node.this, exp.Order) else node.this
            if isinstance(argument, exp.Distinct):
                argument = argument.expressions[0] if argument.expressions else None
            return VARCHAR_ARRAY if self.kind(argument, scope) == VARCHAR else None
        if isinstance(node, exp.Array):
            return VARCHAR_ARRAY if _common([self.kind(e, scope) for e in node.expressions]) == VARCHAR else None
        if isinstance(node, exp.Bracket):
            single = len(node.expressions) == 1 and not isinstance(node.expressions[0], exp.Slice)
            return VARCHAR if single and self.kind(node.this, scope) == VARCHAR_ARRAY else None
        if isinstance(node, (exp.Explode, exp.Unnest)):
            inner = node.this if isinstance(node, exp.Explode) else (node.expressions or [None])[0]
            return VARCHAR if self.kind(inner, scope) == VARCHAR_ARRAY else None
        if isinstance(node, exp.Subquery):
            inner = self.scopes.get(id(node.this))
            kinds = self.outputs(inner) if inner is not None else []
            return kinds[0] if len(kinds) == 1 else None
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            return self._column(node, scope)
        return None

    def _column(self, column: exp.Column, scope: Scope | None) -> str | None:
        name, table = column.name, column.table
        while scope is not None:
            if table:
                source = scope.sources.get(table)
                if source is not None:
                    return self.output(source, name) if isinstance(source, Scope) else None
            else:
                found = [source for source in scope.sources.values()
                         if isinstance(source, Scope) and self._has_output(source, name)]
                if len(found) == 1:
                    return self.output(found[0], name)
                if scope.sources:
                    return None  # a base table's column (text), or ambiguous
            scope = scope.parent
        return None

    @staticmethod
    def _has_output(scope: Scope, name: str) -> bool:
        leaf = scope.expression
        while isinstance(leaf, (exp.SetOperation, exp.Subquery)):
            leaf = leaf.this
        return isinstance(leaf, exp.Select) and name.lower() in {p.alias_or_name.lower() for p in leaf.expressions}


def _cast_kind(to: exp.DataType) -> str | None:
    if to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR):
        return VARCHAR
    if to.this == exp.DataType.Type.ARRAY and to.expressions and isinstance(to.expressions[0], exp.DataType) \
            and to.expressions[0].this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR):
        return VARCHAR_ARRAY
    return None
