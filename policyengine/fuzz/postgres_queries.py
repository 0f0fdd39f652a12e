"""Generated PostgreSQL statements for the differential fuzzer (policyengine/fuzz/postgres.py).

Typed and deterministic: statement ``i`` of seed ``s`` comes from ``Random(f"{s}:{i}")``. Each
expression is built for a PostgreSQL type (integer, bigint, numeric, double precision, text,
boolean, date, timestamp, interval, arrays) from that type's operators, functions and casts, over
the demo tables' columns or literals, so that PostgreSQL itself accepts nearly every statement and a
difference is the front door's.

Determinism of the answer matters as much as of the text: an ordered statement orders by every
output column (ties are then identical rows), ``LIMIT``/``OFFSET`` come only with such an order,
order-sensitive windows order by a table's key, ordered aggregates order by their argument, and
nothing reads the clock or a random source. Floats are never summed (the order of a sum changes its
last digit on any two engines).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

INT, BIGINT, NUMERIC, FLOAT, TEXT, BOOL, DATE, TS, INTERVAL = (
    "integer", "bigint", "numeric", "float8", "text", "boolean", "date", "timestamp", "interval")
INT_ARRAY, TEXT_ARRAY = "integer[]", "text[]"
SCALARS = (INT, BIGINT, NUMERIC, FLOAT, TEXT, BOOL, DATE, TS, INTERVAL)
ORDERABLE = (INT, BIGINT, NUMERIC, FLOAT, TEXT, DATE, TS, INTERVAL)

#: the demo tables (policyengine.demo.data) with the PostgreSQL types the front door announces
TABLES: dict[str, dict[str, str]] = {
    "reviews": {"ReviewID": TEXT, "UserID": TEXT, "ProductID": TEXT, "Rating": INT, "ReviewText": TEXT,
                "CreatedAt": TS},
    "user_demographics": {"UserID": TEXT, "FullName": TEXT, "Email": TEXT, "Phone": TEXT, "BirthDate": DATE,
                          "Gender": TEXT, "City": TEXT, "Country": TEXT, "PostalCode": TEXT, "NationalID": TEXT,
                          "Iban": TEXT, "MarketingConsent": BOOL},
    "verified_reviews": {"ReviewID": TEXT, "UserID": TEXT, "ReviewSentiment": NUMERIC, "BirthYear": INT,
                         "Gender": INT, "Location": TEXT},
    "region_countries": {"Region": TEXT, "Country": TEXT},
    "review_summary": {"UserID": TEXT, "ContactEmail": TEXT, "Country": TEXT, "BirthDecade": INT,
                       "ConsentedCity": TEXT, "ReviewCount": BIGINT, "AvgSentiment": NUMERIC, "Segment": TEXT,
                       "LastReviewAt": TS},
}
#: each table's unique key (a total order for row_number, lag, lead, ...)
KEYS = {"reviews": "ReviewID", "user_demographics": "UserID", "verified_reviews": "ReviewID",
        "review_summary": "UserID", "region_countries": "Country"}
#: (left, right, left column, right column): the joins the data answers
JOINS = [("reviews", "user_demographics", "UserID", "UserID"),
         ("reviews", "verified_reviews", "ReviewID", "ReviewID"),
         ("verified_reviews", "user_demographics", "UserID", "UserID"),
         ("user_demographics", "region_countries", "Country", "Country"),
         ("review_summary", "user_demographics", "UserID", "UserID"),
         ("verified_reviews", "region_countries", "Location", "Country")]
ALIASES = {"reviews": "r", "user_demographics": "u", "verified_reviews": "v", "region_countries": "rc",
           "review_summary": "s"}

INT_LITERALS = ["0", "1", "2", "3", "5", "7", "10", "13", "100", "(-1)", "(-2)", "(-3)", "(-7)", "(-13)", "2147483647",
                "(-2147483648)"]
NUMERIC_LITERALS = ["0.5", "1.5", "2.25", "(-2.5)", "0.1", "0.333", "3.14159", "100.000", "0.001", "(-0.75)", "1e3",
                    "12345.6789", "1.0", "0.0", "2.50"]
FLOAT_LITERALS = ["1.5::float8", "0.1::float8", "(-2.5)::float8", "'1e10'::float8", "3::float8", "1e-5::float8",
                  "0.3333::float8", "'2.5e-3'::double precision", "100::double precision"]
TEXT_LITERALS = ["'abc'", "''", "'Hello World'", "'a%b_c'", "'ÄÖü straße'", "'  padded  '", "'x-y-z'", "'MiXeD'",
                 "'42'", "'e'", "'R0000'", "'GB'", "'NA'", "'it''s'", "'a\\b'"]
DATE_LITERALS = ["DATE '2021-03-04'", "DATE '2000-02-29'", "DATE '1999-12-31'", "'2024-01-15'::date",
                 "DATE '1970-01-01'", "make_date(2023, 6, 30)"]
TS_LITERALS = ["TIMESTAMP '2021-03-04 05:06:07'", "TIMESTAMP '2000-02-29 23:59:59.5'",
               "'2022-12-31 00:00:00'::timestamp", "TIMESTAMP '2021-06-15 12:00:00'",
               "TIMESTAMP '1999-01-01 00:00:00.123456'"]
INTERVAL_LITERALS = ["INTERVAL '1 day'", "INTERVAL '2 hours 30 minutes'", "INTERVAL '1 mon'", "INTERVAL '-3 days'",
                     "INTERVAL '1 year 2 mons'", "INTERVAL '36 hours'", "INTERVAL '00:00:01.5'",
                     "'10 days 04:05:06'::interval", "INTERVAL '1 week'"]
TS_FORMATS = ["'YYYY-MM-DD'", "'YYYY-MM-DD HH24:MI:SS'", "'Mon DD, YYYY'", "'Day'", "'DY'", "'Q'", "'WW'", "'IW'",
              "'DDD'", "'HH12:MI AM'", "'YYYY\"Q\"Q'", "'FMMonth'", "'FMDD/FMMM/YY'", "'D'", "'J'", "'MS US'"]
NUM_FORMATS = ["'999'", "'0000'", "'999.99'", "'FM999.00'", "'S999'", "'9,999'", "'FM0.000'", "'99.9EEEE'", "'RN'"]
LIKE_PATTERNS = ["'%a%'", "'A%'", "'%.com'", "'_a%'", "'%e_'", "'R000%'", "'%'", "'%\\%%'", "'GB'", "'%son%'"]
REGEXES = ["'^[A-M]'", "'a.*e'", "'[0-9]{3}'", "'^R0+1'", "'com$'", "'(ab|cd)'", "'\\s'", "'^[^aeiou]+$'"]
FIELDS = ["year", "month", "day", "hour", "minute", "dow", "doy", "quarter", "week", "epoch", "isodow", "decade"]
REPLACEMENTS = ["'X'", "''", "'<\\&>'"]
TRUNCS = ["'year'", "'month'", "'day'", "'hour'", "'week'", "'quarter'", "'minute'", "'decade'"]


@dataclass(frozen=True)
class Ref:
    sql: str
    type: str


class PostgresQueryGenerator:
    """One statement from a seeded Random: :meth:`statement`."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.scope: list[Ref] = []

    # --- helpers ---------------------------------------------------------------------------------

    def pick(self, options: list[str] | tuple[str, ...]) -> str:
        return self.rng.choice(list(options))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def columns(self, kind: str) -> list[Ref]:
        return [ref for ref in self.scope if ref.type == kind]

    def table_scope(self, table: str, alias: str) -> list[Ref]:
        return [Ref(f'{alias}."{name}"', kind) for name, kind in TABLES[table].items()]

    # --- expressions by type ---------------------------------------------------------------------

    def expr(self, kind: str, depth: int = 2) -> str:
        columns = self.columns(kind)
        if columns and (depth <= 0 or self.chance(0.35)):
            return self.rng.choice(columns).sql
        if depth <= 0 or self.chance(0.15):
            return self.literal(kind)
        return getattr(self, f"_{kind.replace('[]', '_array')}")(depth - 1)

    def literal(self, kind: str) -> str:
        table = {INT: INT_LITERALS, BIGINT: ["3000000000", "(-9000000000)", "42::bigint", "0::int8"],
                 NUMERIC: NUMERIC_LITERALS, FLOAT: FLOAT_LITERALS, TEXT: TEXT_LITERALS,
                 BOOL: ["TRUE", "FALSE", "NULL::boolean"], DATE: DATE_LITERALS, TS: TS_LITERALS,
                 INTERVAL: INTERVAL_LITERALS, INT_ARRAY: ["ARRAY[1, 2, 3]", "ARRAY[3, NULL, 1]", "'{5,4}'::int[]"],
                 TEXT_ARRAY: ["ARRAY['a', 'b']", "'{x,y,NULL}'::text[]", "ARRAY['Hello', 'World', '']"]}[kind]
        if self.chance(0.04) and kind not in (BOOL,):
            return f"NULL::{kind}"
        return self.pick(table)

    def common(self, kind: str, depth: int) -> str:
        """CASE, COALESCE, NULLIF, GREATEST/LEAST: for any type."""
        e = lambda: self.expr(kind, depth)  # noqa: E731
        choice = self.rng.randrange(4)
        if choice == 0:
            return f"CASE WHEN {self.expr(BOOL, depth)} THEN {e()} ELSE {e()} END"
        if choice == 1:
            return f"COALESCE({e()}, {e()})"
        if choice == 2 and kind not in (INT_ARRAY, TEXT_ARRAY):
            return f"NULLIF({e()}, {e()})"
        if kind in ORDERABLE:
            return f"{self.pick(['GREATEST', 'LEAST'])}({e()}, {e()})"
        return f"CASE {e()} WHEN {e()} THEN {e()} END"

    def _integer(self, d: int) -> str:
        i = lambda: self.expr(INT, d)  # noqa: E731
        small = lambda: self.pick(["2", "3", "4", "7", "(-2)", "(-3)", "10", "0"] if self.chance(0.1)  # noqa: E731
                                  else ["2", "3", "4", "7", "(-2)", "(-3)", "10"])
        options: list[Callable[[], str]] = [
            lambda: f"({i()} + {i()})", lambda: f"({i()} - {i()})", lambda: f"({i()} * {small()})",
            lambda: f"({i()} / {small()})", lambda: f"({i()} % {small()})", lambda: f"abs({i()})",
            lambda: f"(-{i()})", lambda: f"length({self.expr(TEXT, d)})", lambda: f"char_length({self.expr(TEXT, d)})",
            lambda: f"strpos({self.expr(TEXT, d)}, {self.pick(['a', 'e', 'R0'])!r})",
            lambda: f"({self.expr(DATE, d)} - {self.expr(DATE, d)})",
            lambda: f"{self.expr(NUMERIC, d)}::integer", lambda: f"CAST({self.expr(FLOAT, d)} AS integer)",
            lambda: f"{self.pick(['42', '-7', ' 12 ', '007'])!r}::int",
            lambda: f"ascii({self.expr(TEXT, d)})", lambda: f"({i()} & {i()})", lambda: f"({i()} # {small()})",
            lambda: f"({i()} << 2)", lambda: f"mod({i()}, {small()})", lambda: f"div({i()}, {small()})::int",
            lambda: f"array_length({self.expr(INT_ARRAY, d)}, 1)", lambda: f"cardinality({self.expr(TEXT_ARRAY, d)})",
            lambda: f"width_bucket({self.expr(NUMERIC, d)}, 0, 10, 4)", lambda: f"octet_length({self.expr(TEXT, d)})",
            lambda: f"date_part('year', {self.expr(DATE, d)})::int",
            lambda: self.common(INT, d),
        ]
        return self.rng.choice(options)()

    def _bigint(self, d: int) -> str:
        i = lambda: self.expr(INT, d)  # noqa: E731
        b = lambda: self.expr(BIGINT, d)  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: f"{i()}::bigint", lambda: f"({b()} + {i()})", lambda: f"({b()} * {self.pick(['2', '1000000'])})",
            lambda: f"({b()} / {self.pick(['3', '(-4)', '1000'])})", lambda: f"({b()} % 7)",
            lambda: f"CAST({self.expr(NUMERIC, d)} AS bigint)", lambda: f"(2147483647 + {i()}::bigint)",
            lambda: self.common(BIGINT, d),
        ]
        return self.rng.choice(options)()

    def _numeric(self, d: int) -> str:
        n = lambda: self.expr(NUMERIC, d)  # noqa: E731
        nonzero = lambda: self.pick(["3", "7", "0.5", "(-2)", "1.25", "3.0", "9.000", "0.1"])  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: f"({n()} + {n()})", lambda: f"({n()} - {n()})", lambda: f"({n()} * {n()})",
            lambda: f"({n()} / {nonzero()})", lambda: f"({self.expr(INT, d)} / {nonzero()})",
            lambda: f"({self.expr(INT, d)} * {self.pick(NUMERIC_LITERALS)})", lambda: f"round({n()})",
            lambda: f"round({n()}, {self.pick(['0', '1', '2', '3', '(-1)'])})",
            lambda: f"trunc({n()}, {self.pick(['0', '1', '2'])})", lambda: f"ceil({n()})", lambda: f"floor({n()})",
            lambda: f"abs({n()})", lambda: f"{self.expr(INT, d)}::numeric",
            lambda: f"{n()}::numeric({self.pick(['10, 2', '5, 0', '12, 4', '6, 3'])})",
            lambda: f"mod({n()}, {nonzero()})", lambda: f"extract({self.pick(FIELDS)} from {self.expr(TS, d)})",
            lambda: f"extract({self.pick(['year', 'month', 'day', 'dow', 'doy'])} from {self.expr(DATE, d)})",
            lambda: f"{self.pick(['1.50', '-0.5', '12.000'])!r}::numeric", lambda: f"sign({n()})",
            lambda: f"power({n()}, 2)", lambda: f"(- {n()})", lambda: self.common(NUMERIC, d),
        ]
        return self.rng.choice(options)()

    def _float8(self, d: int) -> str:
        f = lambda: self.expr(FLOAT, d)  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: f"({f()} + {f()})", lambda: f"({f()} * {f()})",
            lambda: f"({f()} / {self.pick(['3::float8', '0.1::float8', '(-7)::float8'])})",
            lambda: f"{self.expr(INT, d)}::float8", lambda: f"{self.expr(NUMERIC, d)}::double precision",
            lambda: f"sqrt(abs({f()}))", lambda: f"date_part({self.pick(TRUNCS[:4])}, {self.expr(TS, d)})",
            lambda: f"({self.expr(INT, d)} * 1.5::float8)", lambda: f"round({f()})", lambda: f"trunc({f()})",
            lambda: f"cbrt({f()})", lambda: f"{self.pick(['1.5', '-0.25', '1e300', 'NaN', 'Infinity'])!r}::float8",
            lambda: self.common(FLOAT, d),
        ]
        return self.rng.choice(options)()

    def _text(self, d: int) -> str:
        t = lambda: self.expr(TEXT, d)  # noqa: E731
        n = lambda: self.pick(["0", "1", "2", "3", "5", "(-1)", "(-2)"])  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: f"({t()} || {t()})", lambda: f"({t()} || {self.expr(self.pick(SCALARS), d)})",
            lambda: f"upper({t()})", lambda: f"lower({t()})", lambda: f"initcap({t()})",
            lambda: f"substr({t()}, {n()}, {self.pick(['1', '3', '10'])})", lambda: f"substr({t()}, {n()})",
            lambda: f"substring({t()} from {self.pick(['2', '1'])} for 3)",
            lambda: f"left({t()}, {n()})", lambda: f"right({t()}, {n()})",
            lambda: f"replace({t()}, {self.pick(['e', 'a', ' '])!r}, {self.pick(['E', '', '--'])!r})",
            lambda: f"trim({t()})", lambda: f"ltrim({t()})", lambda: f"rtrim({t()}, 'x ')",
            lambda: f"btrim({t()}, 'aR')",
            lambda: f"lpad({t()}, {self.pick(['3', '8', '12'])}, '*')", lambda: f"rpad({t()}, {self.pick(['3', '8'])})",
            lambda: f"concat({t()}, {self.expr(self.pick(SCALARS), d)}, {t()})",
            lambda: f"concat_ws('-', {t()}, {self.expr(self.pick(SCALARS), d)})", lambda: f"reverse({t()})",
            lambda: f"repeat({t()}, {self.pick(['0', '2', '3'])})",
            lambda: f"split_part({t()}, {self.pick([' ', '-', '@', '.'])!r}, {self.pick(['1', '2', '3'])})",
            lambda: f"md5({t()})", lambda: f"translate({t()}, 'aeR', 'AE')",
            lambda: f"to_char({self.expr(TS, d)}, {self.pick(TS_FORMATS)})",
            lambda: f"to_char({self.expr(DATE, d)}, {self.pick(TS_FORMATS[:9])})",
            lambda: f"to_char({self.expr(self.pick([INT, NUMERIC]), d)}, {self.pick(NUM_FORMATS)})",
            lambda: f"to_char({self.expr(INTERVAL, d)}, 'HH24:MI:SS')",
            lambda: f"{self.expr(self.pick(SCALARS), d)}::text",
            lambda: f"CAST({self.expr(self.pick([INT, NUMERIC, FLOAT, DATE, TS, INTERVAL, BOOL]), d)} AS varchar)",
            lambda: f"regexp_replace({t()}, {self.pick(REGEXES)}, {self.pick(REPLACEMENTS)})",
            lambda: f"regexp_replace({t()}, {self.pick(REGEXES)}, '#', 'g')",
            lambda: f"substring({t()} from {self.pick(REGEXES)})",
            lambda: f"format('%s|%s', {t()}, {self.expr(self.pick(SCALARS), d)})",
            lambda: f"chr({self.pick(['65', '97', '8364', '48'])})",
            lambda: f"array_to_string({self.expr(self.pick([INT_ARRAY, TEXT_ARRAY]), d)}, ',')",
            lambda: f"quote_literal({t()})", lambda: f"{self.expr(INT, d)}::text || 'x'",
            lambda: self.common(TEXT, d),
        ]
        return self.rng.choice(options)()

    def _boolean(self, d: int) -> str:
        t = lambda: self.expr(TEXT, d)  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: self.compare(d), lambda: self.compare(d), lambda: self.compare(d),
            lambda: f"({t()} {self.pick(['LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE'])} {self.pick(LIKE_PATTERNS)})",
            lambda: f"({t()} {self.pick(['~', '~*', '!~', '!~*'])} {self.pick(REGEXES)})",
            lambda: f"({self.expr(self.pick(SCALARS), d)} IS {self.pick(['', 'NOT '])}NULL)",
            lambda: f"({self.expr(BOOL, d)} {self.pick(['AND', 'OR'])} {self.expr(BOOL, d)})",
            lambda: f"(NOT {self.expr(BOOL, d)})",
            lambda: self.in_list(d),
            lambda: self.between(d),
            lambda: f"({self.expr(INT, d)} IS DISTINCT FROM {self.expr(INT, d)})",
            lambda: f"starts_with({t()}, {self.pick(['R', 'U0', 'a', ''])!r})",
            lambda: f"({self.expr(BOOL, d)} IS {self.pick(['TRUE', 'NOT FALSE', 'UNKNOWN'])})",
            lambda: f"({t()} SIMILAR TO {self.pick(['%(a|b)%', 'R[0-9]+', '%'])!r})",
            lambda: f"({self.expr(INT, d)} = ANY({self.expr(INT_ARRAY, d)}))",
        ]
        return self.rng.choice(options)()

    def compare(self, d: int) -> str:
        kind = self.pick(ORDERABLE + (BOOL,))
        op = self.pick(["=", "<>", "<", "<=", ">", ">=", "!="])
        left, right = self.expr(kind, d), self.expr(kind, d)
        if kind == INT and self.chance(0.2):  # mixed: integer with numeric, numeric with float
            right = self.expr(NUMERIC, d)
        return f"({left} {op} {right})"

    def in_list(self, d: int) -> str:
        kind = self.pick([INT, TEXT, NUMERIC, DATE])
        items = ", ".join(self.literal(kind) for _ in range(self.rng.randint(1, 4)))
        return f"({self.expr(kind, d)} {self.pick(['IN', 'NOT IN'])} ({items}))"

    def between(self, d: int) -> str:
        kind = self.pick([INT, NUMERIC, DATE, TS, TEXT])
        return f"({self.expr(kind, d)} BETWEEN {self.literal(kind)} AND {self.literal(kind)})"

    def _date(self, d: int) -> str:
        options: list[Callable[[], str]] = [
            lambda: f"({self.expr(DATE, d)} + {self.expr(INT, 0)})", lambda: f"({self.expr(DATE, d)} - 30)",
            lambda: f"{self.expr(TS, d)}::date", lambda: f"CAST({self.expr(TS, d)} AS date)",
            lambda: f"make_date({self.pick(['2020', '1999', '2024'])}, {self.pick(['1', '2', '12'])}, "
                    f"{self.pick(['1', '28', '15'])})",
            lambda: f"date_trunc('month', {self.expr(DATE, d)})::date", lambda: self.common(DATE, d),
        ]
        return self.rng.choice(options)()

    def _timestamp(self, d: int) -> str:
        options: list[Callable[[], str]] = [
            lambda: f"({self.expr(TS, d)} + {self.expr(INTERVAL, d)})",
            lambda: f"({self.expr(TS, d)} - {self.expr(INTERVAL, d)})",
            lambda: f"({self.expr(DATE, d)} + {self.expr(INTERVAL, d)})",
            lambda: f"date_trunc({self.pick(TRUNCS)}, {self.expr(TS, d)})", lambda: f"{self.expr(DATE, d)}::timestamp",
            lambda: f"({self.expr(DATE, d)} + TIME '10:30:00')",
            lambda: f"make_timestamp(2021, {self.pick(['1', '6', '12'])}, 15, 8, 30, "
                    f"{self.pick(['0', '1.5', '59.999'])})",
            lambda: f"{self.pick(['2021-01-01 10:00', '2020-02-29T12:34:56', '1999-12-31 23:59:59.999999'])!r}"
                    "::timestamp",
            lambda: self.common(TS, d),
        ]
        return self.rng.choice(options)()

    def _interval(self, d: int) -> str:
        v = lambda: self.expr(INTERVAL, d)  # noqa: E731
        options: list[Callable[[], str]] = [
            lambda: f"({self.expr(TS, d)} - {self.expr(TS, d)})",
            lambda: f"age({self.expr(TS, d)}, {self.expr(TS, d)})",
            lambda: f"({v()} * {self.pick(['2', '3', '(-1)', '0.5'])})", lambda: f"({v()} + {v()})",
            lambda: f"({v()} - {v()})", lambda: f"(- {v()})", lambda: f"justify_hours({v()})",
            lambda: f"justify_days({v()})", lambda: f"justify_interval({v()})",
            lambda: f"({v()} / {self.pick(['2', '4'])})", lambda: f"make_interval(days => {self.expr(INT, 0)})",
            lambda: f"({self.expr(INT, 0)} * INTERVAL '1 hour')", lambda: self.common(INTERVAL, d),
        ]
        return self.rng.choice(options)()

    def _integer_array(self, d: int) -> str:
        options: list[Callable[[], str]] = [
            lambda: f"ARRAY[{self.expr(INT, d)}, {self.expr(INT, d)}]", lambda: self.literal(INT_ARRAY),
            lambda: f"array_append({self.expr(INT_ARRAY, d)}, {self.expr(INT, d)})",
            lambda: f"({self.expr(INT_ARRAY, d)} || {self.expr(INT_ARRAY, d)})",
        ]
        return self.rng.choice(options)()

    def _text_array(self, d: int) -> str:
        options: list[Callable[[], str]] = [
            lambda: f"string_to_array({self.expr(TEXT, d)}, {self.pick([' ', '-', ','])!r})",
            lambda: f"ARRAY[{self.expr(TEXT, d)}, {self.expr(TEXT, d)}]", lambda: self.literal(TEXT_ARRAY),
            lambda: f"regexp_split_to_array({self.expr(TEXT, d)}, '\\s+')",
        ]
        return self.rng.choice(options)()

    # --- select lists ----------------------------------------------------------------------------

    def output_kind(self) -> str:
        return self.pick(SCALARS * 3 + (INT_ARRAY, TEXT_ARRAY))

    def select_item(self, index: int, kind: str | None = None, depth: int = 2) -> str:
        expression = self.expr(kind or self.output_kind(), depth)
        return f"{expression} AS c{index}" if self.chance(0.7) else expression

    def order_by(self, width: int) -> str:
        """Every output column, each ascending or descending, nulls first or last, by position."""
        parts = []
        for position in range(1, width + 1):
            direction = self.pick(["", " ASC", " DESC"])
            nulls = self.pick(["", "", " NULLS FIRST", " NULLS LAST"])
            parts.append(f"{position}{direction}{nulls}")
        self.rng.shuffle(parts)
        return " ORDER BY " + ", ".join(parts)

    def tail(self, width: int, ordered: bool | None = None) -> tuple[str, bool]:
        """ORDER BY (total) and maybe LIMIT/OFFSET; whether the answer's order is defined."""
        ordered = self.chance(0.55) if ordered is None else ordered
        if not ordered:
            return "", False
        sql = self.order_by(width)
        if self.chance(0.4):
            sql += f" LIMIT {self.pick(['1', '3', '10', '0', 'ALL'])}"
            if self.chance(0.4):
                sql += f" OFFSET {self.pick(['0', '2', '5'])}"
        elif self.chance(0.1):
            sql += f" OFFSET {self.pick(['1', '7'])}"
        return sql, True

    # --- statements ------------------------------------------------------------------------------

    def statement(self) -> str:
        shape = self.rng.choices(
            ["scalar", "project", "group", "join", "setop", "window", "subquery", "cte", "aggregate"],
            weights=[14, 18, 16, 12, 8, 10, 10, 5, 7])[0]
        return getattr(self, f"_{shape}")()

    def _from(self) -> tuple[str, str]:
        table = self.pick(list(TABLES))
        alias = ALIASES[table]
        self.scope = self.table_scope(table, alias)
        return f"{table} {alias}", table

    def where(self, p: float = 0.5) -> str:
        return f" WHERE {self.expr(BOOL, 2)}" if self.chance(p) else ""

    def _scalar(self) -> str:
        self.scope = []
        width = self.rng.randint(1, 4)
        items = ", ".join(self.select_item(i + 1, depth=self.rng.randint(1, 3)) for i in range(width))
        return f"SELECT {items}"

    def _project(self) -> str:
        source, _ = self._from()
        width = self.rng.randint(1, 4)
        distinct = "DISTINCT " if self.chance(0.25) else ""
        items = ", ".join(self.select_item(i + 1) for i in range(width))
        tail, _ = self.tail(width)
        return f"SELECT {distinct}{items} FROM {source}{self.where(0.6)}{tail}"

    def aggregate(self) -> str:
        kind = self.pick([INT, NUMERIC, TEXT, DATE, TS, BOOL, INTERVAL, BIGINT])
        e = lambda k: self.expr(k, 1)  # noqa: E731
        options: list[Callable[[], str]] = [lambda: "count(*)", lambda: f"count({e(kind)})",
                                            lambda: f"count(DISTINCT {e(kind)})"]
        if kind in (INT, NUMERIC, BIGINT):
            options += [lambda: f"sum({e(kind)})", lambda: f"avg({e(kind)})", lambda: f"min({e(kind)})",
                        lambda: f"max({e(kind)})", lambda: f"stddev_samp({e(kind)})",
                        lambda: f"sum({e(kind)}) FILTER (WHERE {self.expr(BOOL, 1)})"]
        if kind in (TEXT, DATE, TS, INTERVAL):
            options += [lambda: f"min({e(kind)})", lambda: f"max({e(kind)})"]
        if kind == TEXT:
            options += [lambda: (lambda x: f"string_agg({x}, ',' ORDER BY {x})")(e(TEXT)),
                        lambda: (lambda x: f"array_agg({x} ORDER BY {x} NULLS FIRST)")(e(TEXT))]
        if kind == INTERVAL:
            options += [lambda: f"sum({e(INTERVAL)})", lambda: f"avg({e(INTERVAL)})"]
        if kind == BOOL:
            options += [lambda: f"bool_and({e(BOOL)})", lambda: f"bool_or({e(BOOL)})", lambda: f"every({e(BOOL)})"]
        if kind == INT:
            options += [lambda: (lambda x: f"array_agg({x} ORDER BY {x})")(e(INT)), lambda: f"bit_or({e(INT)})"]
        return self.rng.choice(options)()

    def _group(self) -> str:
        source, table = self._from()
        keys = self.rng.randint(1, 2)
        candidates = [ref for ref in self.scope if ref.type in (TEXT, INT, BOOL, DATE)]
        groups = []
        for _ in range(keys):
            ref = self.rng.choice(candidates)
            groups.append(ref.sql if self.chance(0.6) else self.expr(ref.type, 1))
        aggs = [self.aggregate() for _ in range(self.rng.randint(1, 3))]
        items = [f"{g} AS g{i + 1}" if self.chance(0.6) else g for i, g in enumerate(groups)]
        items += [f"{a} AS a{i + 1}" if self.chance(0.7) else a for i, a in enumerate(aggs)]
        by = ", ".join(str(i + 1) for i in range(len(groups))) if self.chance(0.5) else ", ".join(groups)
        having = f" HAVING count(*) {self.pick(['>', '>=', '<'])} {self.pick(['1', '2', '5'])}" if self.chance(0.3) \
            else ""
        tail, _ = self.tail(len(items))
        return f"SELECT {', '.join(items)} FROM {source}{self.where(0.4)} GROUP BY {by}{having}{tail}"

    def _aggregate(self) -> str:
        source, _ = self._from()
        aggs = [self.aggregate() for _ in range(self.rng.randint(1, 4))]
        items = [f"{a} AS a{i + 1}" if self.chance(0.6) else a for i, a in enumerate(aggs)]
        return f"SELECT {', '.join(items)} FROM {source}{self.where(0.5)}"

    def _join(self) -> str:
        left, right, lcol, rcol = self.rng.choice(JOINS)
        la, ra = ALIASES[left], ALIASES[right]
        kind = self.pick(["JOIN", "JOIN", "LEFT JOIN", "INNER JOIN"])
        self.scope = self.table_scope(left, la) + self.table_scope(right, ra)
        source = f'{left} {la} {kind} {right} {ra} ON {la}."{lcol}" = {ra}."{rcol}"'
        if self.chance(0.3):
            keys = [self.rng.choice([r for r in self.scope if r.type in (TEXT, INT)]).sql]
            aggs = [self.aggregate() for _ in range(self.rng.randint(1, 2))]
            items = keys + [f"{a} AS a{i + 1}" for i, a in enumerate(aggs)]
            tail, _ = self.tail(len(items))
            return f"SELECT {', '.join(items)} FROM {source}{self.where(0.3)} GROUP BY 1{tail}"
        width = self.rng.randint(1, 4)
        items = ", ".join(self.select_item(i + 1) for i in range(width))
        tail, _ = self.tail(width)
        return f"SELECT {items} FROM {source}{self.where(0.5)}{tail}"

    def _setop(self) -> str:
        width = self.rng.randint(1, 2)
        kinds = [self.pick([INT, TEXT, NUMERIC, DATE, TS, BOOL]) for _ in range(width)]
        sides = []
        for _ in range(2):
            if self.chance(0.3):
                self.scope = []
                sides.append("SELECT " + ", ".join(f"{self.expr(k, 1)} AS c{i + 1}" for i, k in enumerate(kinds)))
            else:
                source, _ = self._from()
                sides.append("SELECT " + ", ".join(f"{self.expr(k, 1)} AS c{i + 1}" for i, k in enumerate(kinds))
                             + f" FROM {source}{self.where(0.5)}")
        op = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"])
        tail, _ = self.tail(width)
        return f"{sides[0]} {op} {sides[1]}{tail}"

    def _window(self) -> str:
        source, table = self._from()
        key = f'{ALIASES[table]}."{KEYS[table]}"'
        parts = [ref for ref in self.scope if ref.type in (TEXT, INT, BOOL, DATE)]
        partition = f"PARTITION BY {self.rng.choice(parts).sql} " if self.chance(0.6) else ""
        value = self.rng.choice([r for r in self.scope if r.type in (INT, NUMERIC, TEXT, TS, DATE)] or parts)
        numeric = [r for r in self.scope if r.type in (INT, NUMERIC, BIGINT)]
        functions: list[Callable[[], str]] = [
            lambda: f"row_number() OVER ({partition}ORDER BY {key})",
            lambda: f"rank() OVER ({partition}ORDER BY {value.sql})",
            lambda: f"dense_rank() OVER ({partition}ORDER BY {value.sql} DESC)",
            lambda: f"count(*) OVER ({partition.strip()})",
            lambda: f"lag({value.sql}) OVER ({partition}ORDER BY {key})",
            lambda: f"lead({value.sql}, 2) OVER ({partition}ORDER BY {key})",
            lambda: f"first_value({value.sql}) OVER ({partition}ORDER BY {key})",
            lambda: f"ntile(3) OVER ({partition}ORDER BY {key})",
            lambda: f"percent_rank() OVER ({partition}ORDER BY {value.sql})",
            lambda: f"max({value.sql}) OVER ({partition}ORDER BY {key} ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
        ]
        if numeric:
            column = self.rng.choice(numeric).sql
            functions += [lambda: f"sum({column}) OVER ({partition.strip()})",
                          lambda: f"sum({column}) OVER ({partition}ORDER BY {key})",
                          lambda: f"avg({column}) OVER ({partition.strip()})"]
        window = self.rng.choice(functions)()
        named = self.chance(0.6)
        items = [key, f"{window} AS w" if named else window]
        if self.chance(0.5):
            items.append(self.select_item(3, depth=1))
        tail, _ = self.tail(len(items), ordered=self.chance(0.7))
        return f"SELECT {', '.join(items)} FROM {source}{self.where(0.4)}{tail}"

    def _subquery(self) -> str:
        choice = self.rng.randrange(4)
        if choice == 0:  # IN (SELECT ...)
            left, right, lcol, rcol = self.rng.choice(JOINS)
            la, ra = ALIASES[left], ALIASES[right]
            self.scope = self.table_scope(right, ra)
            inner = f'SELECT {ra}."{rcol}" FROM {right} {ra}{self.where(0.8)}'
            self.scope = self.table_scope(left, la)
            width = self.rng.randint(1, 3)
            items = ", ".join(self.select_item(i + 1) for i in range(width))
            tail, _ = self.tail(width)
            negate = self.pick(["", "NOT "])
            return f'SELECT {items} FROM {left} {la} WHERE {la}."{lcol}" {negate}IN ({inner}){tail}'
        if choice == 1:  # scalar subquery in the select list
            source, _ = self._from()
            inner_agg = self.aggregate()
            inner = f"(SELECT {inner_agg} FROM {source}{self.where(0.5)})"
            self.scope = []
            return f"SELECT {inner} AS sub, {self.select_item(2, depth=1)}"
        if choice == 2:  # derived table
            source, table = self._from()
            width = self.rng.randint(1, 3)
            kinds = [self.pick(SCALARS) for _ in range(width)]
            inner = "SELECT " + ", ".join(f"{self.expr(k, 2)} AS x{i + 1}" for i, k in enumerate(kinds)) + \
                    f" FROM {source}{self.where(0.5)}"
            self.scope = [Ref(f"d.x{i + 1}", k) for i, k in enumerate(kinds)]
            outer = ", ".join(self.select_item(i + 1, kind=self.pick(kinds), depth=1) for i in range(width))
            tail, _ = self.tail(width)
            return f"SELECT {outer} FROM ({inner}) AS d{self.where(0.4)}{tail}"
        # correlated EXISTS
        left, right, lcol, rcol = self.rng.choice(JOINS)
        la, ra = ALIASES[left], ALIASES[right]
        self.scope = self.table_scope(right, ra)
        condition = f' AND {self.expr(BOOL, 1)}' if self.chance(0.6) else ""
        inner = f'SELECT 1 FROM {right} {ra} WHERE {ra}."{rcol}" = {la}."{lcol}"{condition}'
        self.scope = self.table_scope(left, la)
        width = self.rng.randint(1, 2)
        items = ", ".join(self.select_item(i + 1) for i in range(width))
        tail, _ = self.tail(width)
        return f"SELECT {items} FROM {left} {la} WHERE {self.pick(['', 'NOT '])}EXISTS ({inner}){tail}"

    def _cte(self) -> str:
        source, table = self._from()
        groups = self.rng.choice([r for r in self.scope if r.type in (TEXT, INT)])
        agg = self.aggregate()
        inner = f"SELECT {groups.sql} AS k, {agg} AS m FROM {source} GROUP BY 1"
        self.scope = [Ref("t.k", groups.type)]
        item = self.select_item(2, kind=groups.type, depth=1)
        tail, _ = self.tail(3)
        return f"WITH t AS ({inner}) SELECT t.k, t.m, {item} FROM t{tail}"


def statement(seed: int, index: int) -> str:
    """Statement ``index`` of the run with ``seed``."""
    return PostgresQueryGenerator(random.Random(f"{seed}:{index}")).statement()
