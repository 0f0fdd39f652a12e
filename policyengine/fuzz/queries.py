"""A generator of SQL queries over a policy set's tables, for the query fuzzer (fuzz/run.py).

The queries are DuckDB SQL and exercise what attacks exploit: every join kind, self-joins,
correlated and scalar subqueries, CTEs (some named like real tables), set operations, GROUP BY /
HAVING / GROUPING SETS / ROLLUP / CUBE, windows, ORDER BY / LIMIT, ``*`` in its DuckDB forms
(``t.*``, ``EXCLUDE``, ``REPLACE``, ``COLUMNS``), whole-row references, LATERAL and UNNEST, CASE,
casts, string and date functions, and predicates on protected columns.

They are also deterministic, so results can be compared with an oracle: LIMIT only after ORDER BY
ALL, ordered aggregates of strings, and no window function whose answer depends on how ties fall.
One ``random.Random`` drives everything: the same seed gives the same queries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from policyengine.model import PolicySet, TypeFamily

#: the families expressions are typed by (DuckDB types of their values)
STRING, INTEGER, DECIMAL, FLOAT, DATE, TIMESTAMP, BOOLEAN = (
    "string", "integer", "decimal", "float", "date", "timestamp", "boolean")
_FAMILY = {TypeFamily.STRING: STRING, TypeFamily.INTEGER: INTEGER, TypeFamily.DECIMAL: DECIMAL,
           TypeFamily.FLOAT: FLOAT, TypeFamily.DATE: DATE, TypeFamily.TIMESTAMP: TIMESTAMP,
           TypeFamily.BOOLEAN: BOOLEAN, TypeFamily.TIME: STRING, TypeFamily.BINARY: STRING}
NUMERIC = (INTEGER, DECIMAL, FLOAT)


@dataclass(frozen=True)
class Column:
    name: str
    family: str


@dataclass(frozen=True)
class Ref:
    """A column in scope: ``alias.name``."""

    alias: str
    name: str
    family: str

    @property
    def sql(self) -> str:
        return f'{self.alias}."{self.name}"'


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class QueryGenerator:
    def __init__(self, policy_set: PolicySet, rng: random.Random):
        self.rng = rng
        self.tables: dict[str, list[Column]] = {
            table.name: [Column(c.name, _FAMILY[c.type.family]) for c in table.columns]
            for table in policy_set.tables.values()}
        self._aliases = 0

    # --- helpers ---------------------------------------------------------------------------------

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: list | tuple):  # type: ignore[no-untyped-def]
        return items[self.rng.randrange(len(items))]

    def literal(self, family: str) -> str:
        r = self.rng
        if family == STRING:
            return self.pick(["'a'", "'e'", "'US'", "'DE'", "'canary'", "'%a%'", "''", "'R0000001'", "'*****'",
                              "'x''y'", "'EU'"])
        if family == INTEGER:
            return str(self.pick([0, 1, 2, 3, 5, 1970, 1990, -1, 100]))
        if family in (DECIMAL, FLOAT):
            return self.pick(["0.5", "0.1", "1", "0", "0.75"])
        if family == DATE:
            return f"DATE '{r.randint(1940, 2024)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}'"
        if family == TIMESTAMP:
            return f"TIMESTAMP '20{r.randint(10, 24)}-0{r.randint(1, 9)}-1{r.randint(0, 9)} 1{r.randint(0, 9)}:00:00'"
        return self.pick(["TRUE", "FALSE"])

    def of(self, scope: list[Ref], family: str) -> list[Ref]:
        if family in NUMERIC:
            return [c for c in scope if c.family in NUMERIC]
        return [c for c in scope if c.family == family]

    # --- expressions -------------------------------------------------------------------------------

    def expr(self, scope: list[Ref], family: str, depth: int = 0) -> str:
        """An expression of this family over the columns in scope (a literal when none fit)."""
        candidates = self.of(scope, family)
        if depth > 2 or (candidates and self.chance(0.45)):
            return self.pick(candidates).sql if candidates else self.literal(family)
        if not candidates and self.chance(0.5):
            return self.literal(family)
        d = depth + 1
        if family == STRING:
            options = [
                lambda: f"lower({self.expr(scope, STRING, d)})",
                lambda: f"upper({self.expr(scope, STRING, d)})",
                lambda: f"substr({self.expr(scope, STRING, d)}, {self.rng.randint(1, 4)}, {self.rng.randint(1, 6)})",
                lambda: f"({self.expr(scope, STRING, d)} || {self.expr(scope, STRING, d)})",
                lambda: f"coalesce({self.expr(scope, STRING, d)}, {self.literal(STRING)})",
                lambda: f"replace({self.expr(scope, STRING, d)}, 'a', 'b')",
                lambda: f"left({self.expr(scope, STRING, d)}, {self.rng.randint(1, 5)})",
                lambda: f"CAST({self.expr(scope, self.pick([INTEGER, DATE, DECIMAL]), d)} AS VARCHAR)",
                lambda: f"strftime({self.expr(scope, self.pick([DATE, TIMESTAMP]), d)}, '%Y-%m')",
                lambda: f"CASE WHEN {self.predicate(scope, d)} THEN {self.expr(scope, STRING, d)} "
                        f"ELSE {self.literal(STRING)} END",
                lambda: f"concat_ws('-', {self.expr(scope, STRING, d)}, {self.expr(scope, INTEGER, d)})",
                lambda: f"md5({self.expr(scope, STRING, d)})",
                lambda: f"reverse({self.expr(scope, STRING, d)})",
                lambda: f"trim({self.expr(scope, STRING, d)})",
            ]
        elif family in NUMERIC:
            options = [
                lambda: f"length({self.expr(scope, STRING, d)})",
                lambda: f"({self.expr(scope, INTEGER, d)} + {self.literal(INTEGER)})",
                lambda: f"abs({self.expr(scope, family, d)})",
                lambda: f"year({self.expr(scope, self.pick([DATE, TIMESTAMP]), d)})",
                lambda: f"month({self.expr(scope, self.pick([DATE, TIMESTAMP]), d)})",
                lambda: f"TRY_CAST({self.expr(scope, STRING, d)} AS INTEGER)",
                lambda: f"CASE WHEN {self.predicate(scope, d)} THEN {self.expr(scope, family, d)} ELSE 0 END",
                lambda: f"round({self.expr(scope, family, d)}, 2)",
                lambda: f"coalesce({self.expr(scope, family, d)}, 0)",
                lambda: f"strpos({self.expr(scope, STRING, d)}, 'a')",
                lambda: f"hash({self.expr(scope, STRING, d)}) % 7",
            ]
        elif family == DATE:
            options = [
                lambda: f"CAST({self.expr(scope, TIMESTAMP, d)} AS DATE)",
                lambda: f"CAST(date_trunc('month', {self.expr(scope, DATE, d)}) AS DATE)",
                lambda: f"({self.expr(scope, DATE, d)} + INTERVAL 1 DAY)::DATE",
                lambda: f"coalesce({self.expr(scope, DATE, d)}, {self.literal(DATE)})",
            ]
        elif family == TIMESTAMP:
            options = [
                lambda: f"date_trunc('day', {self.expr(scope, TIMESTAMP, d)})",
                lambda: f"CAST({self.expr(scope, DATE, d)} AS TIMESTAMP)",
                lambda: f"({self.expr(scope, TIMESTAMP, d)} + INTERVAL 1 HOUR)",
            ]
        else:  # parenthesized: DuckDB's parser will not take ``a IS NULL BETWEEN x AND y`` bare
            options = [lambda: f"({self.predicate(scope, d)})"]
        return self.pick(options)()

    def predicate(self, scope: list[Ref], depth: int = 0, subqueries: bool = True) -> str:
        d = depth + 1
        family = self.pick([STRING, STRING, INTEGER, DECIMAL, DATE, TIMESTAMP, BOOLEAN])
        if depth > 2:
            return f"{self.expr(scope, family, d)} IS NOT NULL"
        operator = self.pick(["=", "<>", "<", ">=", "LIKE", "IN", "BETWEEN", "IS NULL", "NOT", "AND", "OR",
                              "EXISTS", "IN SUBQUERY", "SCALAR", "ILIKE", "~"])
        if operator in ("LIKE", "ILIKE", "~"):
            pattern = self.pick(["'%a%'", "'c%'", "'%@%'", "'%canary%'", "'R%'", "'_%'"])
            if operator == "~":
                pattern = self.pick(["'^c'", "'a.*'", "'[0-9]'", "'canary'"])
                return f"regexp_matches({self.expr(scope, STRING, d)}, {pattern})"
            return f"{self.expr(scope, STRING, d)} {operator} {pattern}"
        if operator == "IN":
            values = ", ".join(self.literal(family) for _ in range(self.rng.randint(1, 3)))
            return f"{self.expr(scope, family, d)} IN ({values})"
        if operator == "BETWEEN":
            return f"{self.expr(scope, family, d)} BETWEEN {self.literal(family)} AND {self.literal(family)}"
        if operator == "IS NULL":
            return f"{self.expr(scope, family, d)} IS {self.pick(['', 'NOT '])}NULL"
        if operator == "NOT":
            return f"NOT ({self.predicate(scope, d, subqueries)})"
        if operator in ("AND", "OR"):
            return f"({self.predicate(scope, d, subqueries)} {operator} {self.predicate(scope, d, subqueries)})"
        if subqueries and operator == "EXISTS":
            return f"{self.pick(['', 'NOT '])}EXISTS ({self.correlated(scope, d)})"
        if subqueries and operator == "IN SUBQUERY":
            table = self.pick(list(self.tables))
            column = self.pick(self.tables[table])
            alias = self.alias()
            inner = [Ref(alias, c.name, c.family) for c in self.tables[table]]
            outer = self.expr(scope, column.family, d)
            return (f"{outer} {self.pick(['', 'NOT '])}IN (SELECT {alias}.{q(column.name)} FROM {table} {alias} "
                    f"WHERE {self.predicate(inner, d, False)})")
        if subqueries and operator == "SCALAR":
            table = self.pick(list(self.tables))
            alias = self.alias()
            inner = [Ref(alias, c.name, c.family) for c in self.tables[table]]
            aggregate = self.pick(["count(*)", f"count(DISTINCT {self.expr(inner, STRING, d)})",
                                   f"max({self.expr(inner, INTEGER, d)})"])
            return (f"(SELECT {aggregate} FROM {table} {alias} WHERE {self.predicate(inner, d, False)}) "
                    f"> {self.literal(INTEGER)}")
        if family == BOOLEAN:
            return self.expr(scope, BOOLEAN, d) if self.of(scope, BOOLEAN) else "TRUE"
        return f"{self.expr(scope, family, d)} {self.pick(['=', '<>', '<', '>='])} {self.expr(scope, family, d)}"

    def correlated(self, scope: list[Ref], depth: int) -> str:
        """A subquery that refers to the outer query through a shared column name."""
        table = self.pick(list(self.tables))
        alias = self.alias()
        inner = [Ref(alias, c.name, c.family) for c in self.tables[table]]
        links = [(i, o) for i in inner for o in scope if i.name == o.name and i.family == o.family]
        condition = f"{link[0].sql} = {link[1].sql}" if (link := self.pick(links) if links else None) else "TRUE"
        return f"SELECT 1 FROM {table} {alias} WHERE {condition} AND {self.predicate(inner, depth, False)}"

    # --- FROM ----------------------------------------------------------------------------------------

    def source(self, depth: int, ctes: dict[str, list[Column]]) -> tuple[str, list[Ref]]:
        """A FROM clause and the columns it brings into scope."""
        shape = self.pick(["table", "table", "join", "join", "self", "derived", "lateral", "unnest", "cte",
                           "semi", "using"])
        if shape == "cte" and ctes:
            name = self.pick(list(ctes))
            alias = self.alias()
            return f"{q(name)} {alias}", [Ref(alias, c.name, c.family) for c in ctes[name]]
        table = self.pick(list(self.tables))
        alias = self.alias()
        scope = [Ref(alias, c.name, c.family) for c in self.tables[table]]
        text = f"{table} {alias}"
        if shape in ("join", "self", "semi", "using"):
            other = table if shape == "self" else self.pick(list(self.tables))
            other_alias = self.alias()
            other_scope = [Ref(other_alias, c.name, c.family) for c in self.tables[other]]
            links = [(a, b) for a in scope for b in other_scope if a.name == b.name and a.family == b.family]
            if shape == "using" and links:
                column = self.pick(links)[0].name
                return (f"{text} {self.pick(['JOIN', 'LEFT JOIN', 'FULL JOIN'])} {other} {other_alias} "
                        f"USING ({q(column)})", scope + [r for r in other_scope if r.name != column])
            condition = " AND ".join(f"{a.sql} = {b.sql}" for a, b in [self.pick(links)]) if links else None
            if shape == "semi" and condition:
                return f"{text} {self.pick(['SEMI', 'ANTI'])} JOIN {other} {other_alias} ON {condition}", scope
            if condition is None:
                if "region_countries" not in (table, other):
                    return text, scope
                return f"{text} CROSS JOIN {other} {other_alias}", scope + other_scope
            kind = self.pick(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL OUTER JOIN", "INNER JOIN"])
            return f"{text} {kind} {other} {other_alias} ON {condition}", scope + other_scope
        if shape == "derived" and depth < 2:
            inner, columns = self.select(depth + 1, {}, aggregate=self.chance(0.3))
            derived = self.alias()
            return f"({inner}) {derived}", [Ref(derived, c.name, c.family) for c in columns]
        if shape == "lateral":
            other = self.pick(list(self.tables))
            inner_alias, lateral = self.alias(), self.alias()
            inner = [Ref(inner_alias, c.name, c.family) for c in self.tables[other]]
            links = [(i, o) for i in inner for o in scope if i.name == o.name and i.family == o.family]
            condition = f"{links[0][0].sql} = {links[0][1].sql}" if links else "TRUE"
            value = self.expr(inner, STRING)
            return (f"{text}, LATERAL (SELECT count(*) AS n, max({value}) AS m FROM {other} {inner_alias} "
                    f"WHERE {condition}) {lateral}", scope + [Ref(lateral, "n", INTEGER), Ref(lateral, "m", STRING)])
        if shape == "unnest":
            strings = self.of(scope, STRING)
            if strings:
                words = self.alias()
                return (f"{text} CROSS JOIN UNNEST(string_split({self.pick(strings).sql}, "
                        f"{self.pick([repr(' '), repr('@'), repr('-')])})) AS {words}(w)",
                        scope + [Ref(words, "w", STRING)])
        return text, scope

    # --- SELECT ----------------------------------------------------------------------------------------

    def select(self, depth: int, ctes: dict[str, list[Column]], *, aggregate: bool | None = None,
               families: list[str] | None = None) -> tuple[str, list[Column]]:
        """A SELECT and its output columns (named c0, c1, ... so that set operations line up)."""
        source, scope = self.source(depth, ctes)
        where = f" WHERE {self.predicate(scope, depth)}" if self.chance(0.6) else ""
        if families is None and aggregate is None and self.chance(0.12):
            star = self.star(scope)
            if star is not None:
                return f"SELECT {star} FROM {source}{where}", []
        count = len(families) if families else self.rng.randint(1, 3)
        families = families or [self.pick([STRING, STRING, INTEGER, DECIMAL, DATE, TIMESTAMP, BOOLEAN])
                                for _ in range(count)]
        aggregate = self.chance(0.3) if aggregate is None else aggregate
        if aggregate:
            keys = [self.expr(scope, f) for f in families[:-1]]
            measure = self.aggregate(scope, families[-1])
            items = [f"{k} AS c{i}" for i, k in enumerate(keys)] + [f"{measure} AS c{len(keys)}"]
            group = ""
            if keys:
                listed = ", ".join(keys)
                group = " GROUP BY " + self.pick([listed, listed, f"ROLLUP ({listed})", f"CUBE ({listed})",
                                                  f"GROUPING SETS (({listed}), ())", "ALL"])
            having = f" HAVING {self.aggregate(scope, INTEGER)} > {self.rng.randint(0, 3)}" if self.chance(0.3) else ""
            text = f"SELECT {', '.join(items)} FROM {source}{where}{group}{having}"
        else:
            items = [f"{self.expr(scope, f)} AS c{i}" for i, f in enumerate(families)]
            if self.chance(0.15):
                items.append(f"{self.window(scope)} AS c{len(items)}")
                families = families + [INTEGER]
            distinct = "DISTINCT " if self.chance(0.15) else ""
            text = f"SELECT {distinct}{', '.join(items)} FROM {source}{where}"
        return text, [Column(f"c{i}", f) for i, f in enumerate(families)]

    def aggregate(self, scope: list[Ref], family: str) -> str:
        if family == STRING:
            value = self.expr(scope, STRING)
            return self.pick([f"string_agg({value}, ',' ORDER BY {value})", f"min({value})", f"max({value})"])
        if family in NUMERIC:
            return self.pick(["count(*)", f"count(DISTINCT {self.expr(scope, STRING)})",
                              f"sum({self.expr(scope, INTEGER)})", f"max({self.expr(scope, family)})",
                              f"count({self.expr(scope, self.pick([STRING, DATE]))})"])
        if family == BOOLEAN:
            return f"bool_or({self.predicate(scope, 1, False)})"
        return f"{self.pick(['min', 'max'])}({self.expr(scope, family)})"

    def window(self, scope: list[Ref]) -> str:
        """A window whose value does not depend on how ties are broken."""
        partition = self.expr(scope, STRING)
        order = self.expr(scope, self.pick([INTEGER, DATE, STRING]))
        return self.pick([f"count(*) OVER (PARTITION BY {partition})",
                          f"rank() OVER (PARTITION BY {partition} ORDER BY {order})",
                          f"dense_rank() OVER (ORDER BY {order})",
                          f"count(*) OVER (ORDER BY {order})"])

    def star(self, scope: list[Ref]) -> str | None:
        aliases = sorted({r.alias for r in scope})
        alias = self.pick(aliases)
        mine = [r for r in scope if r.alias == alias]
        column = self.pick(mine)
        forms = ["*", f"{alias}.*", f"* EXCLUDE ({q(column.name)})", "COLUMNS('.*[Ii][Dd].*')",
                 f"{alias}", f"{alias}.* REPLACE (lower(CAST({column.sql} AS VARCHAR)) AS {q(column.name)})",
                 "COLUMNS('^[A-Z]')"]
        return self.pick(forms)

    def query(self) -> str:
        """A whole statement: optional CTEs, then a SELECT or a set operation, maybe ordered and limited."""
        self._aliases = 0
        ctes: dict[str, list[Column]] = {}
        prefix = ""
        if self.chance(0.2):
            name = self.pick(["recent", *self.tables])  # a CTE may shadow a real table's name
            body, columns = self.select(1, {})
            if columns:
                ctes[name] = columns
                prefix = f"WITH {q(name)} AS ({body}) "
        if self.chance(0.15):
            families = [self.pick([STRING, INTEGER, DATE]) for _ in range(self.rng.randint(1, 2))]
            left, columns = self.select(1, ctes, families=families, aggregate=False)
            right, _ = self.select(1, ctes, families=families, aggregate=self.chance(0.3))
            operator = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "UNION BY NAME"])
            text = f"{left} {operator} {right}"
        else:
            text, columns = self.select(0, ctes)
        if columns and self.chance(0.3):
            text = f"SELECT * FROM ({text}) ORDER BY ALL LIMIT {self.rng.randint(1, 20)}"
        return prefix + text
