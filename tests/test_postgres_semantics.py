"""The front door answers as PostgreSQL 15 does (issue #17: silent wrong answers).

Each statement runs through the front door (as frank, who sees everything raw) and on a real
PostgreSQL 15 holding the same rows of ``reviews``; the column names, the type OIDs of the
RowDescription and the values must be equal. What the engine cannot give PostgreSQL's exact meaning
is refused with 0A000 (and still answers on PostgreSQL, so the refusal is not of something PostgreSQL
itself rejects). The rewrite stage is policyengine/rewrite/postgres_semantics.py, the names
policyengine/rewrite/postgres_names.py; tests/fixtures/rewrite/postgres_semantics.sql shows what each
rule writes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")

#: the reviews columns copied to PostgreSQL, with PostgreSQL's types for DuckDB's
COPIED = (('"ReviewID"', "text"), ('"Rating"', "integer"), ('"CreatedAt"', "timestamp"))
ORDERED = 'ORDER BY "ReviewID" LIMIT 5'

SAME: list[str] = [
    "SELECT NULLIF(100 / 7, ceil(2 * 1.0)), NULLIF(3, 1.50), NULLIF(2::int2, 5::int8), NULLIF(1.5, 2)",
    "SELECT array_to_string(ARRAY[NULL::text, NULL], ','), array_to_string(ARRAY['a', NULL, 'b'], '-'), "
    "array_to_string(NULL::text[], ','), array_to_string(ARRAY['a'], NULL)",
    "SELECT substring(regexp_replace(substring('MiXeD' from '\\s'), '\\s', 'X') from '^[A-M]'), "
    "substring(substring('abcdef' from 2) from 2), (DATE '2000-01-01' + 1) + 2",
    "SELECT (((2147483647 << 2) * (-2)) << 2), (1 << 31) << 1, x << 2 FROM (SELECT (-1) % 7 AS x) AS d",
    # a derived table's or CTE's column has the type of the projection it reads
    'SELECT x / 2, -x / 2 FROM (SELECT "Rating" AS x FROM reviews) AS t ORDER BY 1, 2',
    'SELECT sign(x), x FROM (SELECT "Rating" * 1.5 AS x FROM reviews) AS d ORDER BY 2',
    'WITH t AS (SELECT "Rating"::float8 AS r, DATE \'2024-01-15\' AS d FROM reviews) '
    'SELECT r / 2, d + 1 FROM t ORDER BY 1',
    "SELECT -INTERVAL '1 day 2 hours', -(INTERVAL '1 mon' - INTERVAL '3 days'), -make_interval(days => 999)",
    # a typed literal followed by several casts: each cast in the order written
    "SELECT TIMESTAMP '1999-01-01 00:00:00.123456'::date::text, DATE '1970-01-01'::timestamp::text, "
    "DATE '2024-03-09'::text::date",
    "SELECT round((2 / (-2)), (-1)), trunc(2.567, (2)), round(-2.5, 3)",
    # the string and array functions DuckDB lacks, written out (postgres_functions.py), on data and alone
    "SELECT quote_literal('a\\b'), quote_literal('it''s'), quote_literal(42), quote_nullable(NULL::text), "
    "quote_ident('Ab'), quote_ident('ab_1'), quote_ident('a\"b'), 7/2",
    f'SELECT quote_literal("ReviewID"), quote_nullable("Rating"), quote_ident("ReviewID") FROM reviews {ORDERED}',
    "SELECT array_upper(ARRAY[1, 2, 3], 1), array_lower(ARRAY[1, 2], 1), array_upper(ARRAY[1], 2), "
    "array_lower('{}'::int[], 1)",
    # intervals keep PostgreSQL's months (postgres_intervals.py): interval / 2, age()
    "SELECT interval '1 year' / 2",
    "SELECT age(timestamp '2024-03-01', timestamp '2023-01-15')",
    # arithmetic: integer division truncates toward zero; % keeps the dividend's sign; ^ is float8
    "SELECT 7/2, -7/2, 7/-2, -7 % 3, 7 % -3",
    "SELECT 2^3, 1::float8 / 3, 1 / 3::float8, 10::real / 3",
    f'SELECT "Rating" / 2, -"Rating" / 2, "Rating" % 2, "Rating" / -2 FROM reviews {ORDERED}',
    'SELECT sum("Rating") / count(*), sum("Rating"), count(*), min("Rating"), max("Rating") FROM reviews',
    f'SELECT sum("Rating") OVER (ORDER BY "ReviewID"), sum("Rating") FILTER (WHERE "Rating" > 2) OVER () '
    f"FROM reviews {ORDERED}",
    # numeric without a precision keeps every digit
    "SELECT 1.23456::numeric, 1.5::numeric, 12345678901234567890.123::numeric, '12.50'::numeric, "
    "1.23456::decimal(10,2)",
    f'SELECT "Rating"::numeric FROM reviews {ORDERED}',
    # rounding
    "SELECT round(2.5), round(-2.5), round(2.5::float8), round(3.5::float8), trunc(2.7), ceil(2.1), floor(-2.1)",
    # names and types of functions, casts and operators
    "SELECT 'x'::text, 1::int, 1::bigint, 1::smallint, lower('A'), upper('a'), substr('hello', 2, 3), "
    "length('héllo'), position('l' in 'hello'), 'abc' || 1",
    "SELECT CASE WHEN true THEN 1 END, 1 + 1, (SELECT 1), EXISTS (SELECT 1), coalesce(NULL, 2), "
    "greatest(1, 2), nullif(1, 2), 1",
    f'SELECT CASE WHEN "Rating" > 3 THEN \'high\' ELSE "ReviewID" END, "Rating"::text, upper("ReviewID") '
    f"FROM reviews {ORDERED}",
    'SELECT * FROM (SELECT upper("ReviewID"), "Rating"::text, count(*) FROM reviews GROUP BY 1, 2 '
    "ORDER BY 1 LIMIT 3) AS t",
    # dates and intervals
    "SELECT to_char(date '2024-03-29', 'Mon DD YYYY'), to_char(date '2024-03-09', 'FMMonth FMDD, YYYY'), "
    "to_char(timestamp '2024-03-09 13:05:07', 'YYYY-MM-DD HH24:MI:SS'), "
    "to_char(timestamp '2024-03-09 13:05:07', 'HH12:MI AM'), to_char(date '2024-03-09', 'Dy, DD Mon YY')",
    f"SELECT to_char(\"CreatedAt\", 'YYYY-MM-DD\"T\"HH24:MI:SS'), to_char(\"CreatedAt\", 'FMDD/FMMM/YYYY') "
    f"FROM reviews {ORDERED}",
    "SELECT to_char(timestamp '2024-03-09 03:05:07.123456', 'HH:MI:SS.MS US'), to_char(date '2024-12-31', 'DDD YY'), "
    "to_char(date '0999-01-05', 'YYYY-MM-DD'), to_char(timestamp '2024-03-09 00:05:07', 'HH12 AM'), "
    "to_char(timestamp '2024-03-09 13:05:07', 'FMHH12:MI PM')",
    "SELECT to_char(date '2024-03-09', 'yyyy-mm-dd'), to_char(date '2024-03-09', 'FMDay, FMDD Mon'), "
    "to_char(date '2024-03-09', 'YYYY \"week\" MM %')",
    "SELECT to_date('29 Mar 2024', 'DD Mon YYYY'), to_timestamp('2024-03-09 13:05:07', 'YYYY-MM-DD HH24:MI:SS'), "
    "to_date('09/03/2024', 'DD/MM/YYYY'), to_timestamp('09 Mar 2024 01:05 PM', 'DD Mon YYYY HH12:MI AM')",
    "SELECT interval '1 month', interval '1 month' + interval '1 day', date '2024-01-31' + interval '1 month', "
    "timestamp '2024-03-31 10:00' - interval '1 month'",
    "SELECT date '2024-03-01' - date '2024-01-01', date '2024-03-01' + 1",
    f"SELECT \"CreatedAt\" + interval '1 month', \"CreatedAt\" - interval '1 year 2 months' FROM reviews {ORDERED}",
    "SELECT extract(year from timestamp '2024-03-09 13:05:07'), extract(dow from date '2024-03-10'), "
    "extract(quarter from date '2024-05-01'), extract(month from interval '14 months')",
    "SELECT date_part('year', timestamp '2024-03-09 13:05:07'), date_part('doy', date '2024-12-31')",
    "SELECT date_trunc('month', timestamp '2024-03-09 13:05:07'), date_trunc('month', date '2024-03-09')",
    f"SELECT date_trunc('month', \"CreatedAt\"), extract(hour from \"CreatedAt\") FROM reviews {ORDERED}",
    # a typed literal cast again (sqlglot reads date '...'::text as a date)
    "SELECT timestamp '2024-03-09 13:05:07'::date, date '2024-03-09'::text",
    "SELECT interval '1 day' * 2, interval '1 month' * 3, interval '90 minutes'",
    # exponent literals are numeric; sign, mod, div, initcap, string_agg
    "SELECT 1e3, 1.5e0 * 2, 2.5e-3",
    "SELECT sign(-3), sign(2.5::float8), sign(-2.5), initcap('hello world'), mod(7, 3), mod(-7, 3), div(7, 2)",
    "SELECT string_agg(x, ',') FROM (VALUES ('a'), ('b')) AS v(x)",
    "SELECT chr(65), char_length('a'), character_length('ab'), btrim(' a ')",
    # integers of different widths are added in the wider one; numeric branches of one scale
    "SELECT 32767::int2 + 1, 5::int2 * 2::int2, 2147483647 + 1::int8",
    # a float to numeric(p, s) goes through its 15 (6) significant digits, as PostgreSQL's does
    "SELECT 1.005::float8::numeric(10,2), (-1.005)::float8::numeric(10,2), 2.675::float8::numeric(10,2), "
    "1.005::real::numeric(10,3), 1.5::float8::int, 2.5::float8::int, 3.5::int",
    f'SELECT coalesce(NULL, 2.50), greatest(1.25, 2.50), CASE WHEN "Rating" > 3 THEN 1.5 ELSE 2.5 END '
    f"FROM reviews {ORDERED}",
    # substr counts from the first character; SIMILAR TO takes SQL patterns; concat and format write
    # booleans as t and f; trim is btrim
    "SELECT substr('abc', -1), substr('abc', 0, 2), substr('abcdef', -2, 5), substr('abc', 2), substr('abcdef', 2, 3)",
    "SELECT 'abc' SIMILAR TO '%(b|x)%', 'a.c' SIMILAR TO 'a.c', 'abc' SIMILAR TO 'a.c', 'abc' SIMILAR TO 'a_c', "
    "'abc' NOT SIMILAR TO 'b%', 'a%' SIMILAR TO 'a#%' ESCAPE '#', 'ab' SIMILAR TO 'a[a-c]'",
    'SELECT count(*) FROM reviews WHERE "ReviewID" SIMILAR TO \'%(1|2)\'',
    "SELECT concat('a', false, NULL, 1, 'b'), concat_ws('-', 'a', true, 2.50), format('%s|%s|%%', 'abc', 42::bigint), "
    "format('%s', NULL), format('x%sy', true)",
    "SELECT trim('  a '), array_length(ARRAY[1,2], 1), cardinality(ARRAY[1,2,3])",
    "SELECT -2147483648, max(-2147483648), sum(ascii('a')), floor(1.5), ceil(1.2), round(1.25, 1), trunc(1.25, 1), "
    "mod(5.5, 2)",
    "SELECT 1.50 AS c UNION ALL SELECT 2.25",
    f'SELECT "ReviewID", ntile(3) OVER (ORDER BY "ReviewID") FROM reviews {ORDERED}',
    # PostgreSQL's schema: public is DuckDB's main, and schema.table.column references resolve
    f'SELECT "public"."reviews"."Rating", "reviews"."ReviewID" FROM "public"."reviews" {ORDERED}',
    f'SELECT public.reviews."Rating" FROM public.reviews {ORDERED}',
    # found by the differential fuzzer: octet_length of text, array literals, make_interval of columns and
    # negative values, sum of intervals, substring by a regular expression, <<, NULL arrays
    f"SELECT octet_length('héllo'), octet_length(\"ReviewID\"), octet_length('') FROM reviews {ORDERED}",
    "SELECT '{5,4}'::int[], '{x,\"y z\",NULL,\"NULL\", \" a\\\\b \"}'::text[], '{}'::int[], '{t,off}'::bool[], "
    "3 = ANY('{5,4}'::int[]), cardinality('{x,y,NULL}'::text[])",
    f"SELECT make_interval(days => 13), make_interval(days => (-7)), make_interval(weeks => 1, days => 2, hours => 3, "
    f"mins => 4, secs => 1.5), make_interval(hours => \"Rating\"), - make_interval(days => \"Rating\") "
    f"FROM reviews {ORDERED}",
    'SELECT sum("Rating" * interval \'1 hour\'), sum(make_interval(days => "Rating") - interval \'36 hours\'), '
    "sum(NULL::timestamp - timestamp '2000-02-29 23:59:59.5') FROM reviews",
    "SELECT substring('abc.com' from 'com$'), substring('abc' from 'x'), substring('abcd' from 'b(c)'), "
    "(-1) << 2, 1 << 31, 5 << 33, (-3)::int8 << 62, 7 << 2",
    "SELECT NULL::int[] || ARRAY[1, 2], 3 = ANY(NULL::int[]), 2 = ANY(ARRAY[1, NULL]), NULL::int[] || NULL::int[], "
    "1 = ANY(ARRAY[3] || '{5,1}'::int[])",
    "SELECT date '2024-03-01' - 30, date '2024-03-01' + 2000000",
    r"SELECT regexp_replace('xabey', 'a(.)e', '<\&|\1|\\|\0|\q>', 'g'), regexp_replace('abc', 'b', '[\&]')",
    "SELECT sum(7 & (-7)), make_date(2023, 6, 30) - make_date(1999, 12, 15), CASE WHEN true THEN 7 ELSE 2 END / 2",
    "SELECT round((-2.5), 3), round(trunc(100.000, 0), 2), trunc(1.2345, 2), round(5, 2), round(123.45, -1)",
    f'SELECT TRUE OR ("Rating" IS DISTINCT FROM "Rating"), "Rating" IN (1, 2), '
    f'round(extract(day from "CreatedAt"), 3), '
    f'date \'2022-12-31\' - NULLIF(date \'2020-01-01\', date \'2020-01-01\') FROM reviews {ORDERED}',
    f'SELECT round(round("Rating" * 1.5), 2), trunc("Rating"::numeric, 1), round("Rating", -1) FROM reviews {ORDERED}',
    # seed 17: LIKE's default escape is backslash; a constant ORDER BY key in an aggregate orders nothing;
    # -(-2147483648) is the int8 constant; sign() and mod() of numerics keep PostgreSQL's types and scales
    r"SELECT 'a%b_c' LIKE '%\%%', 'a_' LIKE 'a\_', 'ab' LIKE 'a\_', 'A%' ILIKE 'a\%', 'ab' NOT LIKE 'a\%', "
    r"'a%' LIKE 'a%' ESCAPE '', 'a\b' LIKE 'a\\b'",
    "SELECT string_agg(x, ',' ORDER BY 'k'), array_agg(x ORDER BY NULL, x DESC) FROM (VALUES ('a'), ('b')) AS v(x)",
    "SELECT -(-2147483648), sum(-(-2147483648)), sign(sign(1.5)), trunc(mod(sign(0.001), 7), 2), "
    "mod(sign(0.001), 3.0), mod(extract(week from timestamp '1999-01-01'), 0.5), mod(7.25, 2)",
    # the C locale: case mapping of ASCII letters only, and the settings that say so
    "SELECT upper('ÄÖü straße'), lower('ÄÖü StraßE'), initcap('ÄÖü straße'), initcap('hello wORLD-foo_bar x1y 1ab')",
    f'SELECT upper(lower("ReviewID")), initcap("ReviewID") FROM reviews {ORDERED}',
    r"SELECT 'Ä' ILIKE 'ä', 'Äx' ILIKE '%X', 'straße' ILIKE '%SS%', 'ABC' NOT ILIKE 'a_c', 'a%' ILIKE 'A\%', "
    "'É' ~* 'e'",
    "SELECT current_setting('lc_collate'), current_setting('lc_ctype')",
    "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()",
    # string_to_array of an empty string is empty; a NULL delimiter splits characters, an empty one none
    "SELECT string_to_array('', ','), string_to_array('abc', ''), string_to_array('abc', NULL), "
    "string_to_array('a,NULL', ',', 'NULL'), string_to_array('x,,y', ',', ''), string_to_array(NULL, ',')",
    f'SELECT string_to_array(right("ReviewID", 0), \' \'), string_to_array("ReviewID", \'0\') FROM reviews {ORDERED}',
    # varchar results: RowDescription says varchar where PostgreSQL's type resolution keeps it
    f'SELECT CAST("Rating" AS varchar), "ReviewID"::varchar(10), CASE WHEN "Rating" > 3 THEN "ReviewID" '
    f'ELSE CAST("Rating" AS varchar) END, coalesce(NULL, "Rating"::varchar), max("Rating"::varchar) OVER (), '
    f'(SELECT array_agg("Rating"::varchar ORDER BY "ReviewID") FROM reviews) FROM reviews {ORDERED}',
    'SELECT CAST("Rating" AS varchar) AS c FROM reviews UNION SELECT initcap(\'abc\') ORDER BY 1',
    'WITH t AS (SELECT CAST("Rating" AS varchar) AS k FROM reviews) SELECT t.k, upper(t.k), * FROM t '
    "ORDER BY 1 LIMIT 3",
]

#: statements PostgreSQL rejects, with its SQLSTATE: the front door rejects them with the same one
ERRORS: list[tuple[str, str]] = [
    ("SELECT -make_interval(days => -2147483648)", "22008"),  # interval out of range
    ("SELECT -x FROM (SELECT (-2147483648)::int4 AS x) AS t", "22003"),  # integer out of range
    ("SELECT round(1.5::float8, 1)", "42883"),  # no round(double precision, integer) in PostgreSQL
    ("SELECT 1 FROM reviews ORDER BY 'a'", "42601"),  # non-integer constant in ORDER BY
    ('SELECT count(*) FROM reviews GROUP BY \'a\'', "42601"),  # non-integer constant in GROUP BY
    ("SELECT CAST('1e10'::float8 AS integer)", "22003"),  # integer out of range
    ("SELECT 2147483647 + 1", "22003"),
    ('SELECT "Rating" * 2147483647 * 2 FROM reviews', "22003"),
    ("SELECT 1 / 0", "22012"),  # division by zero
    ('SELECT "Rating" % 0 FROM reviews', "22012"),
    ("SELECT 'abc'::int", "22P02"),  # invalid input syntax for type integer
    ("SELECT DATE '2000-02-29' + (-2147483648)", "22008"),  # date out of range (DuckDB's dates reach further)
    ("SELECT make_date(2020, 13, 1)", "22008"),
    ("SELECT substr('abc', 1, -1)", "22011"),  # negative substring length not allowed
    ('SELECT "Rating" * 4, 13 AS g, count(*) FROM reviews GROUP BY 1, 13', "42P10"),  # position not in select list
    ("SELECT 1 FROM reviews ORDER BY 2", "42P10"),
    # an integer beyond int4 is a Float constant to PostgreSQL's lexer: not a position
    ("SELECT (-2147483648) AS g, count(*) FROM reviews GROUP BY (-2147483648)", "42601"),
    ('SELECT 2 AS g, sum("Rating") FROM reviews GROUP BY 2', "42803"),  # an aggregate in GROUP BY
    ("SELECT row_number() OVER () FROM reviews GROUP BY 1", "42P20"),  # a window function in GROUP BY
    # a constant out of range fails while PostgreSQL plans, even over no rows (in parentheses too)
    ("SELECT min(('2024-01-15'::date + (-2147483648))) FROM reviews WHERE false", "22008"),
]

REFUSED: list[str] = [
    "SELECT array_to_string(ARRAY[true, false], ',')",  # t,f there, true,false here
    "SELECT CAST(round(1e-5::float8) AS varchar)",  # a float's text: 0 there, 0.0 here
    'SELECT round(1.5, "Rating") FROM reviews LIMIT 1',  # the scale is the value of the places
    "SELECT 7.0 / 2",  # numeric division: PostgreSQL's scale depends on the values (3.5000000000000000)
    "SELECT 2 ^ 0.5",  # numeric power (1.4142135623730950)
    'SELECT avg("Rating") FROM reviews',  # numeric avg (value-dependent scale)
    "SELECT to_char(date '2024-03-09', 'Month')",  # blank-padded to 9 characters
    "SELECT to_char(date '2024-03-09', 'Q')",  # quarter: no strftime equivalent
    "SELECT to_char(timestamp '2024-03-09 13:05:07', 'SSSS')",  # seconds past midnight, not SS twice
    "SELECT 10::float8::text",  # 10 there, 10.0 here
    "SELECT 'x' || 1e15::float8",  # 1e+15 there
    "SELECT interval '1 month 2 days'::text",  # 1 mon 2 days there
    "SELECT CASE WHEN true THEN 1 ELSE 1.5 END",  # 1 there, 1.0 here
    "SELECT least(1.10, 2)",  # 1.10 or 2 there, one scale here
    "SELECT format('%I', 'a')",  # identifier quoting: not translated
    "SELECT 0.825 UNION ALL SELECT extract(month FROM date '2024-03-09')",  # 0.825 and 3 there
    "SELECT floor(1.5) UNION ALL SELECT -3 * 100.000",  # 1 and -300.000 there
    "SELECT to_char(1234, '9999')",  # number formatting
    "SELECT 1.5::float8::numeric",  # float to numeric: PostgreSQL's 15 significant digits
    'SELECT x / (SELECT "Rating" FROM reviews LIMIT 1) FROM (SELECT 7 AS x) AS t',  # a scalar subquery's type
    'SELECT stddev("Rating") FROM reviews',  # numeric, value-dependent scale
    "SELECT extract(epoch from timestamp '2024-03-09 13:05:07')",  # numeric with 6 decimals
    "SELECT extract(year from date '2024-03-09'), date_part('year', date '2024-03-09')",  # one node in sqlglot
    "SELECT '{{1,2},{3,4}}'::int[]",  # a two-dimensional array: DuckDB's lists of lists are another thing
    "SELECT '{1.5,2.25}'::numeric[]",  # each element keeps its own scale there
    "SELECT avg(interval '1 day')",  # fractions of months carried into days of 30
    "SELECT to_char(interval '1 hour', 'HH24')",  # DuckDB's strftime takes no interval
    "SELECT substring('abc' from '(a)\\1')",  # a back reference
    r"SELECT 'x' LIKE 'a\'",  # false there; 22025 only when matching reaches the lone escape
    "SELECT 'a' LIKE ANY (ARRAY['a%'])",  # sqlglot drops the ANY
    'SELECT *, "Rating"::varchar FROM reviews',  # varchar beside a * over a table (its width is the policy's)
    "SELECT 'Ä' ~* 'ä'",  # PostgreSQL folds ASCII letters only in the C locale, DuckDB's regular expressions all
    "SELECT 'aX%' ILIKE 'aX%' ESCAPE 'X'",  # PostgreSQL applies a letter escape before lower-casing
    'SELECT sign(x) FROM (SELECT "Rating" * 1.5 AS x FROM reviews UNION SELECT 1) AS d',  # a set operation's
]


@pytest.fixture(scope="module")
def postgresql(frontdoor) -> Iterator[Any]:
    """A throwaway PostgreSQL 15 (benchmarks/frontdoor.py's cluster), in UTC, holding the rows of
    ``reviews`` the front door serves; a skip saying what is missing."""
    from benchmarks import frontdoor as bench

    missing = bench.missing()
    if missing is not None:
        pytest.skip(missing)
    folder = Path(tempfile.mkdtemp(prefix="pe-semantics-"))  # in /tmp itself: the postgres user must reach it
    cluster = bench.PostgreSQL(folder)
    try:
        cluster.start()
        with psycopg.connect(host="127.0.0.1", port=cluster.port, user=bench.PG_USER,
                             password=bench.PASSWORDS[bench.PG_USER], dbname="postgres", autocommit=True,
                             options="-c TimeZone=UTC") as connection:
            with _front(frontdoor) as front:
                rows = front.execute(f"SELECT {', '.join(n for n, _ in COPIED)} FROM reviews").fetchall()
            connection.execute(f"CREATE TABLE reviews ({', '.join(f'{n} {t}' for n, t in COPIED)})")
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO reviews VALUES ({', '.join('%s' for _ in COPIED)})", rows)
            yield connection
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _front(frontdoor) -> Any:
    from tests.harness.frontdoor import dsn

    return psycopg.connect(dsn(frontdoor, "frank"), autocommit=True)


@pytest.fixture(scope="module")
def front(frontdoor) -> Iterator[Any]:
    with _front(frontdoor) as connection:
        yield connection


def answer(connection: Any, sql: str) -> tuple[list[tuple[str, int]], list[tuple]]:
    """Names and type OIDs, and the rows with each numeric as its text: Decimal('1.5') equals
    Decimal('1.500'), but a client shows them apart."""
    cursor = connection.execute(sql)
    rows = [tuple(str(value) if isinstance(value, Decimal) else value for value in row) for row in cursor.fetchall()]
    return [(column.name, column.type_code) for column in cursor.description], rows


@pytest.mark.parametrize("sql", SAME)
def test_the_front_door_answers_as_postgresql(postgresql, front, sql):
    """Equal column names, type OIDs and values."""
    assert answer(front, sql) == answer(postgresql, sql)


@pytest.mark.parametrize("sql", REFUSED)
def test_what_cannot_keep_postgresql_meaning_is_refused(postgresql, front, sql):
    """PostgreSQL answers it; the front door refuses it as not supported (0A000) naming the construct,
    never answering something else, and the session goes on."""
    answer(postgresql, sql)
    with pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
        front.execute(sql)
    assert "PostgreSQL's exact meaning" in str(refused.value)
    assert front.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(("sql", "sqlstate"), ERRORS)
def test_errors_have_postgresql_sqlstate(postgresql, front, sql, sqlstate):
    """The same SQLSTATE as PostgreSQL's, with a fixed text (never the value DuckDB's message printed),
    and the session goes on."""
    with pytest.raises(psycopg.Error) as failed:
        postgresql.execute(sql)
    assert failed.value.sqlstate == sqlstate
    with pytest.raises(psycopg.Error) as refused:
        front.execute(sql)
    assert refused.value.sqlstate == sqlstate, str(refused.value)
    assert "2147483648" not in str(refused.value) and "abc" not in str(refused.value)
    assert front.execute("SELECT 1").fetchone() == (1,)


def test_an_interval_beyond_what_a_timedelta_holds_is_sent_as_postgresql(postgresql, front):
    """make_interval(days => 2147483647) is an interval PostgreSQL holds and a Python timedelta cannot
    (reading the row once ended the session): its text is PostgreSQL's, and the session goes on
    (tests/test_frontdoor_intervals.py compares the bytes)."""
    def sent(connection: Any) -> tuple[int, bytes]:  # the type OID and the text as the server sent them
        result = connection.pgconn.exec_(b"SELECT make_interval(days => 2147483647)")
        return result.ftype(0), bytes(result.get_value(0, 0))

    assert sent(front) == sent(postgresql) == (1186, b"2147483647 days")
    assert front.execute("SELECT 1").fetchone() == (1,)


def test_what_postgresql_itself_rejects_as_ambiguous_is_refused(postgresql, front):
    """array_agg() of an untyped literal: PostgreSQL's 42725 (the front door says 0A000, naming it)."""
    sql = "SELECT array_agg('x' ORDER BY 'x') FROM reviews"
    with pytest.raises(psycopg.Error) as failed:
        postgresql.execute(sql)
    assert failed.value.sqlstate == "42725"
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        front.execute(sql)
    assert front.execute("SELECT 1").fetchone() == (1,)


def test_current_schema_is_public(postgresql, front):
    """current_schema() and current_schemas() in a query of data say public, as PostgreSQL's search path;
    PostgreSQL's type for current_schema() is name (OID 19), which DuckDB has not: it is sent as text."""
    sql = "SELECT current_schema(), current_schemas(false), current_schemas(true), count(*) FROM reviews"
    (names, row), (pg_names, pg_row) = answer(front, sql), answer(postgresql, sql)
    assert row == pg_row == [("public", ["public"], ["pg_catalog", "public"], 300)]
    assert [name for name, _ in names] == [name for name, _ in pg_names]
    assert [oid for _, oid in pg_names][0] == 19 and [oid for _, oid in names][0] == 25


def test_the_engine_dialect_keeps_duckdb_meaning_and_names(frontdoor):
    """Only statements read as PostgreSQL change: the DuckDB-dialect engine keeps DuckDB's answers."""
    result = frontdoor.engine.query("SELECT 7 / 2, count(*) FROM reviews", principal="frank")
    assert result.columns == ["(7 / 2)", "count_star()"]
    assert result.fetchall()[0][0] == 3.5


def test_a_contract_in_a_schema_named_public_keeps_it(write_set):
    """public.x is DuckDB's main.x unless a contract places the table in a schema really named public."""
    import sqlglot

    from policyengine import load_policy_set
    from policyengine.rewrite.postgres_semantics import postgres_semantics
    from policyengine.rewrite.resolve import TableResolver

    folder = write_set({"roles.yaml": "roles:\n  analyst: {clearance: internal}\n",
                        "tables/public.orders.yaml": "columns:\n  - {name: id, type: INTEGER, sensitivity: public}\n"})
    resolver = TableResolver(load_policy_set(folder))
    cases = [("SELECT public.orders.id / 2 FROM public.orders", "SELECT orders.id // 2 FROM public.orders"),
             ("SELECT id FROM public.other", "SELECT id FROM main.other")]
    for sql, expected in cases:
        tree = postgres_semantics(sqlglot.parse_one(sql, read="postgres"), "postgres", sql, resolver)
        assert tree.sql("duckdb") == expected
