"""A SQLAlchemy 2 dialect over the DB-API connection: ``policyengine+duckdb:///demo.duckdb?role=bi_analyst``.

Statements run through the policy engine like any other; the inspector answers from the decision,
so tools built on SQLAlchemy (Superset, pandas, scripts) see only the tables and columns the
subject may read, with the types the protected values have.

URL query options: ``role`` (repeatable, or comma-separated), ``principal``, ``env``,
``policies`` (default ``policies``), ``key_file``, ``audit``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.engine import default
from sqlalchemy.engine.url import URL

from policyengine.decision import Outcome
from policyengine.model import TypeFamily, name_key

_TYPES = {
    TypeFamily.STRING: sqltypes.String,
    TypeFamily.BOOLEAN: sqltypes.Boolean,
    TypeFamily.DATE: sqltypes.Date,
    TypeFamily.TIMESTAMP: sqltypes.DateTime,
    TypeFamily.TIME: sqltypes.Time,
    TypeFamily.BINARY: sqltypes.LargeBinary,
    TypeFamily.FLOAT: sqltypes.Float,
}
_INTEGERS = {"TINYINT": sqltypes.SmallInteger, "SMALLINT": sqltypes.SmallInteger, "INTEGER": sqltypes.Integer,
             "BIGINT": sqltypes.BigInteger}


def _sqlalchemy_type(column: Any) -> sqltypes.TypeEngine:
    family, sql = column.type.family, column.type.sql
    if family is TypeFamily.INTEGER:
        return _INTEGERS.get(sql, sqltypes.BigInteger)()
    if family is TypeFamily.DECIMAL:
        precision, scale = (int(x) for x in sql[sql.index("(") + 1:-1].split(","))
        return sqltypes.Numeric(precision, scale)
    if family is TypeFamily.TIMESTAMP:
        return sqltypes.DateTime(timezone=sql == "TIMESTAMPTZ")
    return _TYPES[family]()


class PolicyEngineDialect(default.DefaultDialect):
    name = "policyengine"
    driver = "duckdb"
    supports_statement_cache = True
    supports_native_boolean = True
    supports_native_decimal = True
    supports_sane_rowcount = False
    supports_sane_multi_rowcount = False
    supports_alter = False
    supports_sequences = False
    postfetch_lastrowid = False
    default_paramstyle = "qmark"
    default_schema_name = "main"

    @classmethod
    def import_dbapi(cls) -> Any:
        from policyengine import dbapi

        return dbapi

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        options: dict[str, Any] = {}
        roles: list[str] = []
        for key, value in url.query.items():
            values = list(value) if isinstance(value, tuple) else [value]
            if key == "role":
                roles.extend(part.strip() for v in values for part in v.split(",") if part.strip())
            elif key in ("principal", "env", "policies", "key_file", "audit", "read"):
                options[key] = values[-1]
            else:
                raise ValueError(f"unknown option '{key}' in the policyengine URL")
        if roles:
            options["roles"] = roles
        return [url.database], options

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass  # read-only: nothing to roll back

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_ping(self, dbapi_connection: Any) -> bool:
        return not dbapi_connection.closed

    def _get_server_version_info(self, connection: Any) -> tuple[int, ...]:
        return (2, 0)

    def _get_default_schema_name(self, connection: Any) -> str:
        return "main"

    # --- the inspector, answered from the decision ------------------------------------------------

    @staticmethod
    def _policy(connection: Any) -> Any:
        return connection.connection.dbapi_connection

    def _visible(self, connection: Any, schema: str | None) -> dict[str, Any]:
        wanted = name_key(schema or "main")
        out = {}
        for decision in self._policy(connection).visible_tables():
            parts = decision.table.parts
            if (parts[-2] if len(parts) >= 2 else "main") == wanted:
                out[decision.table.name.split(".")[-1]] = decision
        return out

    def get_schema_names(self, connection: Any, **kw: Any) -> list[str]:
        schemas = {d.table.parts[-2] if len(d.table.parts) >= 2 else "main"
                   for d in self._policy(connection).visible_tables()}
        return sorted(schemas | {"main"})

    def get_table_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        return sorted(self._visible(connection, schema))

    def get_view_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        return []

    def has_table(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> bool:
        return name_key(table_name) in {name_key(t) for t in self._visible(connection, schema)}

    def _decision(self, connection: Any, table_name: str, schema: str | None) -> Any:
        from sqlalchemy.exc import NoSuchTableError

        for name, decision in self._visible(connection, schema).items():
            if name_key(name) == name_key(table_name):
                return decision
        raise NoSuchTableError(table_name)

    def get_columns(self, connection: Any, table_name: str, schema: str | None = None,
                    **kw: Any) -> list[dict[str, Any]]:
        decision = self._decision(connection, table_name, schema)
        return [
            {"name": c.column.name, "type": _sqlalchemy_type(c.column), "nullable": c.column.mode != "required",
             "default": None, "autoincrement": False,
             "comment": f"{c.column.sensitivity}; sees {c.shows}"
                        + (f"; {c.column.description}" if c.column.description else "")}
            for c in decision.columns if c.outcome is not Outcome.DENIED
        ]

    def get_pk_constraint(self, connection: Any, table_name: str, schema: str | None = None,
                          **kw: Any) -> dict[str, Any]:
        decision = self._decision(connection, table_name, schema)
        keys = [c.column.name for c in decision.columns if c.column.primary_key and c.outcome is not Outcome.DENIED]
        return {"constrained_columns": keys, "name": None}

    def get_foreign_keys(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list[Any]:
        return []

    def get_indexes(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list[Any]:
        return []

    def get_unique_constraints(self, connection: Any, table_name: str, schema: str | None = None,
                               **kw: Any) -> list[Any]:
        return []

    def get_check_constraints(self, connection: Any, table_name: str, schema: str | None = None,
                              **kw: Any) -> list[Any]:
        return []

    def get_table_comment(self, connection: Any, table_name: str, schema: str | None = None,
                          **kw: Any) -> dict[str, Any]:
        decision = self._decision(connection, table_name, schema)
        return {"text": decision.table.description}


dialect = PolicyEngineDialect
