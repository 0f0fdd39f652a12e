"""A principal's ``pg_catalog`` and ``information_schema``, materialized in a sealed in-memory DuckDB.

Catalog queries from psql, drivers and BI tools run here, never against the data: this database
holds nothing but the listing of one principal (see listing.py), its file access is switched off
and its configuration locked, so even a catalog query the translation did not foresee can read
nothing the principal may not see. The tables carry PostgreSQL's column names and types, so the
queries clients really send (../shared/clients) run after a light translation (translate.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterable
from threading import Lock
from typing import Any

import duckdb
from sqlglot import exp

from policyengine.server.catalog.keywords import keywords
from policyengine.server.catalog.listing import DEFAULT_SCHEMA, ListedTable, Listing, stable_oid
from policyengine.server.catalog.pgtypes import (
    BUILTIN_TYPES,
    INFORMATION_SCHEMA_OID,
    PG_CATALOG_OID,
    builtin_rows,
    column_type,
    format_type,
)

SHADOW = "pgc"  # the schema catalog objects live in (DuckDB will not create one named pg_catalog)
OWNER_OID = 10
OWNER = "policyengine"
DATABASE_OID = 16383
PG_TOAST_OID = 99
DATABASE_OWNER_OID = 6171  # pg_database_owner, public's owner
PG_CLASS_OID = 1259
ROW_OIDS = 4  # a table takes oid, oid + 1 (its key's index), oid + 2 (its row type), oid + 3 (that type's array)

#: catalog relations clients name by ``'pg_x'::regclass`` (oid, name)
CATALOG_RELATIONS = {
    "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": PG_CLASS_OID, "pg_database": 1262,
    "pg_namespace": 2615, "pg_constraint": 2606, "pg_description": 2609, "pg_index": 2610, "pg_attrdef": 2604,
    "pg_am": 2601, "pg_language": 2612, "pg_inherits": 2611, "pg_trigger": 2620, "pg_rewrite": 2618, "pg_enum": 3501,
    "pg_collation": 3456, "pg_range": 3541, "pg_roles": 4000, "pg_settings": 4001,
}

#: table -> its columns as "name TYPE"; PostgreSQL's names, DuckDB's nearest types (oid = BIGINT,
#: name/text/"char"/regproc = VARCHAR, int2vector/oidvector/aclitem[] = lists)
TABLES: dict[str, str] = {
    "pg_namespace": "oid BIGINT, nspname VARCHAR, nspowner BIGINT, nspacl VARCHAR[]",
    "pg_class": (
        "oid BIGINT, relname VARCHAR, relnamespace BIGINT, reltype BIGINT, reloftype BIGINT, relowner BIGINT, "
        "relam BIGINT, relfilenode BIGINT, reltablespace BIGINT, relpages INTEGER, reltuples REAL, "
        "relallvisible INTEGER, reltoastrelid BIGINT, relhasindex BOOLEAN, relisshared BOOLEAN, "
        "relpersistence VARCHAR, relkind VARCHAR, relnatts SMALLINT, relchecks SMALLINT, relhasrules BOOLEAN, "
        "relhastriggers BOOLEAN, relhassubclass BOOLEAN, relrowsecurity BOOLEAN, relforcerowsecurity BOOLEAN, "
        "relispopulated BOOLEAN, relreplident VARCHAR, relispartition BOOLEAN, relrewrite BIGINT, "
        "relfrozenxid BIGINT, relminmxid BIGINT, relacl VARCHAR[], reloptions VARCHAR[], relpartbound VARCHAR, "
        "relhasoids BOOLEAN"),
    "pg_attribute": (
        "attrelid BIGINT, attname VARCHAR, atttypid BIGINT, attstattarget INTEGER, attlen SMALLINT, "
        "attnum SMALLINT, attndims INTEGER, attcacheoff INTEGER, atttypmod INTEGER, attbyval BOOLEAN, "
        "attalign VARCHAR, attstorage VARCHAR, attcompression VARCHAR, attnotnull BOOLEAN, atthasdef BOOLEAN, "
        "atthasmissing BOOLEAN, attidentity VARCHAR, attgenerated VARCHAR, attisdropped BOOLEAN, "
        "attislocal BOOLEAN, attinhcount INTEGER, attcollation BIGINT, attacl VARCHAR[], attoptions VARCHAR[], "
        "attfdwoptions VARCHAR[], attmissingval VARCHAR"),
    "pg_type": (
        "oid BIGINT, typname VARCHAR, typnamespace BIGINT, typowner BIGINT, typlen SMALLINT, typbyval BOOLEAN, "
        "typtype VARCHAR, typcategory VARCHAR, typispreferred BOOLEAN, typisdefined BOOLEAN, typdelim VARCHAR, "
        "typrelid BIGINT, typsubscript VARCHAR, typelem BIGINT, typarray BIGINT, typinput VARCHAR, "
        "typoutput VARCHAR, typreceive VARCHAR, typsend VARCHAR, typmodin VARCHAR, typmodout VARCHAR, "
        "typanalyze VARCHAR, typalign VARCHAR, typstorage VARCHAR, typnotnull BOOLEAN, typbasetype BIGINT, "
        "typtypmod INTEGER, typndims INTEGER, typcollation BIGINT, typdefaultbin VARCHAR, typdefault VARCHAR, "
        "typacl VARCHAR[]"),
    "pg_database": (
        "oid BIGINT, datname VARCHAR, datdba BIGINT, encoding INTEGER, datlocprovider VARCHAR, "
        "datistemplate BOOLEAN, datallowconn BOOLEAN, datconnlimit INTEGER, datfrozenxid BIGINT, "
        "datminmxid BIGINT, dattablespace BIGINT, datcollate VARCHAR, datctype VARCHAR, daticulocale VARCHAR, "
        "datcollversion VARCHAR, datacl VARCHAR[]"),
    "pg_index": (
        "indexrelid BIGINT, indrelid BIGINT, indnatts SMALLINT, indnkeyatts SMALLINT, indisunique BOOLEAN, "
        "indnullsnotdistinct BOOLEAN, indisprimary BOOLEAN, indisexclusion BOOLEAN, indimmediate BOOLEAN, "
        "indisclustered BOOLEAN, indisvalid BOOLEAN, indcheckxmin BOOLEAN, indisready BOOLEAN, "
        "indislive BOOLEAN, indisreplident BOOLEAN, indkey SMALLINT[], indcollation BIGINT[], "
        "indclass BIGINT[], indoption SMALLINT[], indexprs VARCHAR, indpred VARCHAR"),
    "pg_constraint": (
        "oid BIGINT, conname VARCHAR, connamespace BIGINT, contype VARCHAR, condeferrable BOOLEAN, "
        "condeferred BOOLEAN, convalidated BOOLEAN, conrelid BIGINT, contypid BIGINT, conindid BIGINT, "
        "conparentid BIGINT, confrelid BIGINT, confupdtype VARCHAR, confdeltype VARCHAR, confmatchtype VARCHAR, "
        "conislocal BOOLEAN, coninhcount INTEGER, connoinherit BOOLEAN, conkey SMALLINT[], confkey SMALLINT[], "
        "conpfeqop BIGINT[], conppeqop BIGINT[], conffeqop BIGINT[], confdelsetcols SMALLINT[], "
        "conexclop BIGINT[], conbin VARCHAR"),
    "pg_description": "objoid BIGINT, classoid BIGINT, objsubid INTEGER, description VARCHAR",
    "pg_attrdef": "oid BIGINT, adrelid BIGINT, adnum SMALLINT, adbin VARCHAR",
    "pg_am": "oid BIGINT, amname VARCHAR, amhandler VARCHAR, amtype VARCHAR",
    "pg_language": (
        "oid BIGINT, lanname VARCHAR, lanowner BIGINT, lanispl BOOLEAN, lanpltrusted BOOLEAN, lanplcallfoid BIGINT, "
        "laninline BIGINT, lanvalidator BIGINT, lanacl VARCHAR[]"),
    "pg_collation": (
        "oid BIGINT, collname VARCHAR, collnamespace BIGINT, collowner BIGINT, collprovider VARCHAR, "
        "collisdeterministic BOOLEAN, collencoding INTEGER, collcollate VARCHAR, collctype VARCHAR, "
        "colliculocale VARCHAR, collversion VARCHAR"),
    "pg_proc": (
        "oid BIGINT, proname VARCHAR, pronamespace BIGINT, proowner BIGINT, prolang BIGINT, prokind VARCHAR, "
        "proretset BOOLEAN, pronargs SMALLINT, prorettype BIGINT, proargtypes BIGINT[], proallargtypes BIGINT[], "
        "proargmodes VARCHAR[], proargnames VARCHAR[], proargdefaults VARCHAR, prosrc VARCHAR"),
    "pg_roles": (
        "oid BIGINT, rolname VARCHAR, rolsuper BOOLEAN, rolinherit BOOLEAN, rolcreaterole BOOLEAN, "
        "rolcreatedb BOOLEAN, rolcanlogin BOOLEAN, rolreplication BOOLEAN, rolconnlimit INTEGER, "
        "rolpassword VARCHAR, rolvaliduntil TIMESTAMP, rolbypassrls BOOLEAN, rolconfig VARCHAR[]"),
    "pg_auth_members": "oid BIGINT, roleid BIGINT, member BIGINT, grantor BIGINT, admin_option BOOLEAN",
    "pg_user": (
        "usename VARCHAR, usesysid BIGINT, usecreatedb BOOLEAN, usesuper BOOLEAN, userepl BOOLEAN, "
        "usebypassrls BOOLEAN, passwd VARCHAR, valuntil TIMESTAMP, useconfig VARCHAR[]"),
    "pg_settings": (
        "name VARCHAR, setting VARCHAR, unit VARCHAR, category VARCHAR, short_desc VARCHAR, vartype VARCHAR, "
        "context VARCHAR, source VARCHAR, min_val VARCHAR, max_val VARCHAR, enumvals VARCHAR[], "
        "boot_val VARCHAR, reset_val VARCHAR, pending_restart BOOLEAN"),
    "pg_tables": (
        "schemaname VARCHAR, tablename VARCHAR, tableowner VARCHAR, tablespace VARCHAR, hasindexes BOOLEAN, "
        "hasrules BOOLEAN, hastriggers BOOLEAN, rowsecurity BOOLEAN"),
    "pg_views": "schemaname VARCHAR, viewname VARCHAR, viewowner VARCHAR, definition VARCHAR",
    "pg_matviews": (
        "schemaname VARCHAR, matviewname VARCHAR, matviewowner VARCHAR, tablespace VARCHAR, "
        "hasindexes BOOLEAN, ispopulated BOOLEAN, definition VARCHAR"),
    "pg_stat_user_tables": "relid BIGINT, schemaname VARCHAR, relname VARCHAR, n_live_tup BIGINT, n_dead_tup BIGINT",
    "pg_stat_activity": (
        "datid BIGINT, datname VARCHAR, pid INTEGER, usename VARCHAR, application_name VARCHAR, "
        "client_addr VARCHAR, backend_start TIMESTAMP, state VARCHAR, query VARCHAR"),
    "pg_inherits": "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN",
    "pg_enum": "oid BIGINT, enumtypid BIGINT, enumsortorder REAL, enumlabel VARCHAR",
    "pg_range": (
        "rngtypid BIGINT, rngsubtype BIGINT, rngmultitypid BIGINT, rngcollation BIGINT, rngsubopc BIGINT, "
        "rngcanonical VARCHAR, rngsubdiff VARCHAR"),
    "pg_opclass": (
        "oid BIGINT, opcmethod BIGINT, opcname VARCHAR, opcnamespace BIGINT, opcowner BIGINT, "
        "opcfamily BIGINT, opcintype BIGINT, opcdefault BOOLEAN, opckeytype BIGINT"),
    "pg_extension": "oid BIGINT, extname VARCHAR, extowner BIGINT, extnamespace BIGINT, extversion VARCHAR",
    "pg_policy": (
        "oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN, polroles BIGINT[], "
        "polqual VARCHAR, polwithcheck VARCHAR"),
    "pg_statistic_ext": (
        "oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT, stxowner BIGINT, "
        "stxstattarget INTEGER, stxkeys SMALLINT[], stxkind VARCHAR[], stxexprs VARCHAR"),
    "pg_publication": (
        "oid BIGINT, pubname VARCHAR, pubowner BIGINT, puballtables BOOLEAN, pubinsert BOOLEAN, "
        "pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN"),
    "pg_publication_namespace": "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT",
    "pg_publication_rel": "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs SMALLINT[]",
    "pg_trigger": (
        "oid BIGINT, tgrelid BIGINT, tgname VARCHAR, tgfoid BIGINT, tgtype SMALLINT, tgenabled VARCHAR, "
        "tgisinternal BOOLEAN"),
    "pg_rewrite": "oid BIGINT, rulename VARCHAR, ev_class BIGINT, ev_type VARCHAR",
    "pg_foreign_table": "ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]",
    "pg_partitioned_table": "partrelid BIGINT, partstrat VARCHAR, partnatts SMALLINT",
    "pg_sequence": (
        "seqrelid BIGINT, seqtypid BIGINT, seqstart BIGINT, seqincrement BIGINT, seqmax BIGINT, seqmin BIGINT, "
        "seqcache BIGINT, seqcycle BOOLEAN"),
    "pg_depend": (
        "classid BIGINT, objid BIGINT, objsubid INTEGER, refclassid BIGINT, refobjid BIGINT, refobjsubid INTEGER, "
        "deptype VARCHAR"),
    "pg_tablespace": "oid BIGINT, spcname VARCHAR, spcowner BIGINT",
    "pg_shdescription": "objoid BIGINT, classoid BIGINT, description VARCHAR",
    # lookups behind our functions (not PostgreSQL's): every column is pe_-prefixed, so a macro's
    # argument such as ``oid`` or ``c.oid`` always binds to the caller's query, never to these
    "pe_type_names": "pe_oid BIGINT, pe_display VARCHAR, pe_name VARCHAR",
    "pe_definitions": "pe_oid BIGINT, pe_definition VARCHAR",
    "pe_relations": "pe_oid BIGINT, pe_display VARCHAR, pe_visible BOOLEAN, pe_names VARCHAR[]",
    "pe_roles": "pe_oid BIGINT, pe_name VARCHAR",
    "pe_namespaces": "pe_oid BIGINT, pe_name VARCHAR",
    "pe_descriptions": "pe_oid BIGINT, pe_sub INTEGER, pe_text VARCHAR",
    "pe_index_columns": "pe_oid BIGINT, pe_position INTEGER, pe_name VARCHAR",
    "pe_procs": "pe_oid BIGINT, pe_name VARCHAR",
    "pe_columns": "pe_oid BIGINT, pe_number SMALLINT, pe_name VARCHAR",
    "pe_keywords": "pe_word VARCHAR, pe_catcode VARCHAR, pe_barelabel BOOLEAN, pe_catdesc VARCHAR, pe_baredesc VARCHAR",
}

#: information_schema views (PostgreSQL's column names; the values are text, as PostgreSQL's domains print)
INFORMATION_SCHEMA: dict[str, str] = {
    "schemata": (
        "catalog_name VARCHAR, schema_name VARCHAR, schema_owner VARCHAR, default_character_set_catalog VARCHAR, "
        "default_character_set_schema VARCHAR, default_character_set_name VARCHAR, sql_path VARCHAR"),
    "tables": (
        "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, table_type VARCHAR, "
        "self_referencing_column_name VARCHAR, reference_generation VARCHAR, user_defined_type_catalog VARCHAR, "
        "user_defined_type_schema VARCHAR, user_defined_type_name VARCHAR, is_insertable_into VARCHAR, "
        "is_typed VARCHAR, commit_action VARCHAR"),
    "columns": (
        "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, "
        "ordinal_position INTEGER, column_default VARCHAR, is_nullable VARCHAR, data_type VARCHAR, "
        "character_maximum_length INTEGER, character_octet_length INTEGER, numeric_precision INTEGER, "
        "numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, "
        "interval_precision INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, "
        "character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, "
        "domain_catalog VARCHAR, domain_schema VARCHAR, domain_name VARCHAR, udt_catalog VARCHAR, "
        "udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, "
        "maximum_cardinality INTEGER, dtd_identifier VARCHAR, is_self_referencing VARCHAR, is_identity VARCHAR, "
        "identity_generation VARCHAR, identity_start VARCHAR, identity_increment VARCHAR, identity_maximum VARCHAR, "
        "identity_minimum VARCHAR, identity_cycle VARCHAR, is_generated VARCHAR, generation_expression VARCHAR, "
        "is_updatable VARCHAR"),
    "views": (
        "table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, view_definition VARCHAR, "
        "check_option VARCHAR, is_updatable VARCHAR, is_insertable_into VARCHAR"),
    "table_constraints": (
        "constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, table_catalog VARCHAR, "
        "table_schema VARCHAR, table_name VARCHAR, constraint_type VARCHAR, is_deferrable VARCHAR, "
        "initially_deferred VARCHAR, enforced VARCHAR, nulls_distinct VARCHAR"),
    "key_column_usage": (
        "constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, table_catalog VARCHAR, "
        "table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, ordinal_position INTEGER, "
        "position_in_unique_constraint INTEGER"),
    "referential_constraints": (
        "constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, "
        "unique_constraint_catalog VARCHAR, unique_constraint_schema VARCHAR, unique_constraint_name VARCHAR, "
        "match_option VARCHAR, update_rule VARCHAR, delete_rule VARCHAR"),
    "routines": (
        "specific_catalog VARCHAR, specific_schema VARCHAR, specific_name VARCHAR, routine_catalog VARCHAR, "
        "routine_schema VARCHAR, routine_name VARCHAR, routine_type VARCHAR, data_type VARCHAR"),
}
INFORMATION_PREFIX = "is_"  # information_schema.x lives at pgc.is_x

_DEFAULTS = {"BIGINT": 0, "INTEGER": 0, "SMALLINT": 0, "REAL": 0.0, "BOOLEAN": False}


def _columns(spec: str) -> list[tuple[str, str]]:
    return [tuple(part.strip().split(" ", 1)) for part in spec.split(", ")]  # type: ignore[misc]


def _fill(spec: str, rows: Iterable[dict[str, Any]], defaults: bool = True) -> list[tuple[Any, ...]]:
    """Rows as tuples in column order; what a row leaves out is PostgreSQL's usual 0/false (in pg_catalog;
    information_schema's are NULL), or NULL."""
    columns = _columns(spec)
    return [tuple(row.get(name, _DEFAULTS.get(kind) if defaults else None) for name, kind in columns) for row in rows]


def _assign_oids(tables: tuple[ListedTable, ...]) -> dict[tuple[str, str], int]:
    oids: dict[tuple[str, str], int] = {}
    taken: set[int] = set()
    for table in tables:  # the table, its primary key's index, its row type and that type's array
        oid = stable_oid(table.schema, table.name)
        while taken & set(range(oid, oid + ROW_OIDS)):
            oid += 2
        taken |= set(range(oid, oid + ROW_OIDS))
        oids[(table.schema, table.name)] = oid
    return oids


def _namespace_oid(schema: str) -> int:
    return 2200 if schema == DEFAULT_SCHEMA else stable_oid("schema", schema)


def catalog_rows(listing: Listing, settings: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every catalog table's rows for this listing (pure; shadow_database loads them)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    rows |= {INFORMATION_PREFIX + name: [] for name in INFORMATION_SCHEMA}
    db = listing.database
    rows["pg_namespace"] = [{"oid": PG_CATALOG_OID, "nspname": "pg_catalog", "nspowner": OWNER_OID},
                            {"oid": PG_TOAST_OID, "nspname": "pg_toast", "nspowner": OWNER_OID},
                            {"oid": INFORMATION_SCHEMA_OID, "nspname": "information_schema", "nspowner": OWNER_OID}]
    # public belongs to pg_database_owner, as in PostgreSQL 15
    rows["pg_namespace"] += [{"oid": _namespace_oid(s), "nspname": s,
                              "nspowner": DATABASE_OWNER_OID if s == DEFAULT_SCHEMA else OWNER_OID}
                             for s in listing.schemas]
    rows["is_schemata"] = [{"catalog_name": db, "schema_name": r["nspname"],
                            "schema_owner": "pg_database_owner" if r["nspowner"] == DATABASE_OWNER_OID else OWNER}
                           for r in rows["pg_namespace"]]
    rows["pg_database"] = [{"oid": DATABASE_OID, "datname": db, "datdba": OWNER_OID, "encoding": 6,
                            "datlocprovider": "c", "datallowconn": True, "datconnlimit": -1,
                            "dattablespace": 1663, "datcollate": "C", "datctype": "C"}]
    rows["pg_roles"] = [{"oid": OWNER_OID, "rolname": OWNER, "rolinherit": True, "rolconnlimit": -1,
                         "rolpassword": "********"},
                        {"oid": OWNER_OID + 1, "rolname": listing.user, "rolinherit": True, "rolcanlogin": True,
                         "rolconnlimit": -1, "rolpassword": "********"},
                        {"oid": DATABASE_OWNER_OID, "rolname": "pg_database_owner", "rolinherit": True,
                         "rolconnlimit": -1, "rolpassword": "********"}]
    rows["pg_user"] = [{"usename": listing.user, "usesysid": OWNER_OID + 1, "passwd": "********"}]
    rows["pg_am"] = [{"oid": 2, "amname": "heap", "amhandler": "heap_tableam_handler", "amtype": "t"},
                     {"oid": 403, "amname": "btree", "amhandler": "bthandler", "amtype": "i"}]
    # PostgreSQL 15's built-in languages (plpgsql is an extension, with an OID of its own per cluster)
    rows["pg_language"] = [{"oid": oid, "lanname": name, "lanowner": OWNER_OID, "lanispl": False,
                            "lanpltrusted": name == "sql", "lanplcallfoid": 0, "laninline": 0,
                            "lanvalidator": validator}
                           for oid, name, validator in ((12, "internal", 2246), (13, "c", 2247), (14, "sql", 2248))]
    rows["pg_tablespace"] = [{"oid": 1663, "spcname": "pg_default", "spcowner": OWNER_OID}]
    rows["pg_collation"] = [{"oid": 100, "collname": "default", "collnamespace": PG_CATALOG_OID,
                             "collowner": OWNER_OID, "collprovider": "d", "collisdeterministic": True,
                             "collencoding": -1}]
    rows["pg_settings"] = [{"name": name, "setting": value, "vartype": "string", "context": "user",
                            "source": "default", "boot_val": value, "reset_val": value}
                           for name, value in sorted(settings.items())]
    rows["pg_settings"].append({"name": "max_index_keys", "setting": "32", "vartype": "integer",
                                "context": "internal", "source": "default"})
    rows["pg_settings"].append({"name": "default_table_access_method", "setting": "heap", "vartype": "string",
                                "context": "user", "source": "default"})
    # PostgreSQL 15's built-in types, every row and column as a new database has them (pgtypes.py)
    for table, builtin in builtin_rows().items():
        rows[table] += builtin
    for name, oid in CATALOG_RELATIONS.items():
        rows["pg_class"].append({"oid": oid, "relname": name, "relnamespace": PG_CATALOG_OID, "relowner": OWNER_OID,
                                 "relkind": "r" if not name.endswith(("roles", "settings")) else "v",
                                 "relpersistence": "p", "relreplident": "n", "relispopulated": True,
                                 "relisshared": name in ("pg_database",), "reltuples": -1.0})
    _add_tables(listing, rows, db)
    _add_lookups(rows)
    return rows


def _add_lookups(rows: dict[str, list[dict[str, Any]]]) -> None:
    """The pe_ tables the functions read, derived from the PostgreSQL-shaped rows above."""
    namespaces = {r["oid"]: r["nspname"] for r in rows["pg_namespace"]}
    rows["pe_namespaces"] = [{"pe_oid": oid, "pe_name": name} for oid, name in namespaces.items()]
    rows["pe_roles"] = [{"pe_oid": r["oid"], "pe_name": r["rolname"]} for r in rows["pg_roles"]]
    rows["pe_procs"] = [{"pe_oid": r["oid"], "pe_name": r["proname"]} for r in rows["pg_proc"]]
    relations = {r["oid"] for r in rows["pg_class"] if r["relkind"] == "r"}
    rows["pe_columns"] = [{"pe_oid": r["attrelid"], "pe_number": r["attnum"], "pe_name": r["attname"]}
                          for r in rows["pg_attribute"] if r["attrelid"] in relations]
    rows["pe_keywords"] = [{"pe_word": w, "pe_catcode": c, "pe_barelabel": b, "pe_catdesc": d, "pe_baredesc": e}
                           for w, c, b, d, e in keywords()]
    rows["pe_descriptions"] = [{"pe_oid": r["objoid"], "pe_sub": r["objsubid"], "pe_text": r["description"]}
                               for r in rows["pg_description"]]
    for relation in rows["pg_class"]:
        schema, name = namespaces[relation["relnamespace"]], relation["relname"]
        visible = schema in (DEFAULT_SCHEMA, "pg_catalog")
        spellings = {str(relation["oid"]), f"{schema}.{name}", f'"{schema}"."{name}"', f'{schema}."{name}"',
                     f'"{schema}".{name}'}
        if visible:
            spellings |= {name, f'"{name}"'}
        rows["pe_relations"].append({"pe_oid": relation["oid"], "pe_visible": visible,
                                     "pe_display": name if visible else f"{schema}.{name}",
                                     "pe_names": sorted(spellings)})


def _add_tables(listing: Listing, rows: dict[str, list[dict[str, Any]]], db: str) -> None:
    oids = _assign_oids(listing.tables)
    for table in listing.tables:
        oid, namespace = oids[(table.schema, table.name)], _namespace_oid(table.schema)
        key = table.primary_key
        rows["pg_class"].append({
            "oid": oid, "relname": table.name, "relnamespace": namespace, "relowner": OWNER_OID, "relam": 2,
            "reltype": oid + 2, "relfilenode": oid, "reltuples": -1.0, "relhasindex": bool(key),
            "relpersistence": "p", "relkind": "r",
            "relnatts": len(table.columns), "relreplident": "d", "relispopulated": True,
            # granted: SELECT to the principal, what the policy allows (pgjdbc's getTablePrivileges reads it)
            "relacl": [f"{OWNER}=arwdDxt/{OWNER}", f"{_acl_name(listing.user)}=r/{OWNER}"]})
        # every table has a composite row type (and its array), as in PostgreSQL: pgjdbc's getUDTs lists them
        for type_oid, type_name, element, array in ((oid + 2, table.name, 0, oid + 3),
                                                    (oid + 3, "_" + table.name, oid + 2, 0)):
            rows["pg_type"].append({
                "oid": type_oid, "typname": type_name, "typnamespace": namespace, "typowner": OWNER_OID,
                "typlen": -1, "typtype": "b" if element else "c", "typcategory": "A" if element else "C",
                "typisdefined": True, "typdelim": ",", "typrelid": 0 if element else oid, "typelem": element,
                "typarray": array, "typinput": "array_in" if element else "record_in",
                "typoutput": "array_out" if element else "record_out",
                "typreceive": "array_recv" if element else "record_recv",
                "typsend": "array_send" if element else "record_send", "typmodin": "-", "typmodout": "-",
                "typanalyze": "array_typanalyze" if element else "-",
                "typsubscript": "array_subscript_handler" if element else "-", "typalign": "d", "typstorage": "x",
                "typtypmod": -1})
            rows["pe_type_names"].append({"pe_oid": type_oid, "pe_name": type_name,
                                          "pe_display": table.name + "[]" if element else table.name})
        rows["pg_tables"].append({"schemaname": table.schema, "tablename": table.name, "tableowner": OWNER,
                                  "hasindexes": bool(key)})
        rows["pg_stat_user_tables"].append({"relid": oid, "schemaname": table.schema, "relname": table.name,
                                            "n_live_tup": 0})
        rows["is_tables"].append({"table_catalog": db, "table_schema": table.schema, "table_name": table.name,
                                  "table_type": "BASE TABLE", "is_insertable_into": "NO", "is_typed": "NO"})
        if table.description:
            rows["pg_description"].append({"objoid": oid, "classoid": PG_CLASS_OID, "objsubid": 0,
                                           "description": table.description})
        for number, column in enumerate(table.columns, 1):
            type_oid, typmod = column_type(column.sql_type)
            pg = next(t for t in BUILTIN_TYPES if t.oid == type_oid)
            rows["pg_attribute"].append({
                "attrelid": oid, "attname": column.name, "atttypid": type_oid, "attstattarget": -1,
                "attlen": pg.length, "attnum": number, "attcacheoff": -1, "atttypmod": typmod,
                "attbyval": pg.by_value, "attalign": "i", "attstorage": "x" if pg.length == -1 else "p",
                "attcompression": "", "attnotnull": column.not_null, "attidentity": "", "attgenerated": "",
                "attislocal": True, "attcollation": 100 if pg.category == "S" else 0})
            if column.description:
                rows["pg_description"].append({"objoid": oid, "classoid": PG_CLASS_OID, "objsubid": number,
                                               "description": column.description})
            precision, scale = _numeric_shape(type_oid, typmod)
            rows["is_columns"].append({
                "table_catalog": db, "table_schema": table.schema, "table_name": table.name,
                "column_name": column.name, "ordinal_position": number,
                "is_nullable": "NO" if column.not_null else "YES", "data_type": format_type(type_oid, -1),
                "numeric_precision": precision, "numeric_precision_radix": _radix(type_oid) if precision else None,
                "character_octet_length": 1073741824 if pg.category == "S" else None,
                "datetime_precision": 6 if type_oid in (1083, 1114, 1184, 1186) else 0 if type_oid == 1082 else None,
                "numeric_scale": scale, "udt_catalog": db, "udt_schema": "pg_catalog", "udt_name": pg.name,
                "dtd_identifier": str(number), "is_self_referencing": "NO", "is_identity": "NO",
                "is_generated": "NEVER", "is_updatable": "NO"})
        if key:
            _add_primary_key(table, oid, namespace, key, rows, db)


def _radix(type_oid: int) -> int:
    return 10 if type_oid == 1700 else 2


def _numeric_shape(type_oid: int, typmod: int) -> tuple[int | None, int | None]:
    if type_oid == 1700 and typmod >= 4:
        return (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
    return {21: (16, 0), 23: (32, 0), 20: (64, 0), 700: (24, None), 701: (53, None)}.get(type_oid, (None, None))


def _add_primary_key(table: ListedTable, oid: int, namespace: int, key: tuple[int, ...],
                     rows: dict[str, list[dict[str, Any]]], db: str) -> None:
    index_oid, name = oid + 1, f"{table.name}_pkey"
    names = [table.columns[i - 1].name for i in key]
    quoted = ", ".join(_quote(n) for n in names)
    rows["pg_class"].append({"oid": index_oid, "relname": name, "relnamespace": namespace, "relowner": OWNER_OID,
                             "relam": 403, "relkind": "i", "relnatts": len(key), "relpersistence": "p",
                             "relreplident": "n", "relispopulated": True, "reltuples": 0.0, "relpages": 1})
    rows["pg_index"].append({"indexrelid": index_oid, "indrelid": oid, "indnatts": len(key), "indnkeyatts": len(key),
                             "indisunique": True, "indisprimary": True, "indimmediate": True, "indisvalid": True,
                             "indisready": True, "indislive": True, "indkey": list(key),
                             "indcollation": [0] * len(key), "indclass": [0] * len(key), "indoption": [0] * len(key)})
    rows["pg_constraint"].append({"oid": index_oid, "conname": name, "connamespace": namespace, "contype": "p",
                                  "convalidated": True, "conrelid": oid, "conindid": index_oid, "conislocal": True,
                                  "connoinherit": True, "conkey": list(key)})
    rows["pe_definitions"] += [
        {"pe_oid": index_oid, "pe_definition": f"PRIMARY KEY ({quoted})"},
        {"pe_oid": -index_oid, "pe_definition": f"CREATE UNIQUE INDEX {_quote(name)} ON {_qualified(table)} "
                                                f"USING btree ({quoted})"}]
    rows["pe_index_columns"] += [{"pe_oid": index_oid, "pe_position": i, "pe_name": column}
                                 for i, column in enumerate(names, 1)]
    # an index is a relation with attributes of its own, numbered from 1 (psqlODBC's SQLPrimaryKeys joins them)
    columns = {r["attnum"]: r for r in rows["pg_attribute"] if r["attrelid"] == oid}
    rows["pg_attribute"] += [columns[number] | {"attrelid": index_oid, "attnum": i, "attnotnull": False}
                             for i, number in enumerate(key, 1)]
    rows["is_table_constraints"].append({
        "constraint_catalog": db, "constraint_schema": table.schema, "constraint_name": name, "table_catalog": db,
        "table_schema": table.schema, "table_name": table.name, "constraint_type": "PRIMARY KEY",
        "is_deferrable": "NO", "initially_deferred": "NO", "enforced": "YES"})
    rows["is_key_column_usage"] += [{
        "constraint_catalog": db, "constraint_schema": table.schema, "constraint_name": name, "table_catalog": db,
        "table_schema": table.schema, "table_name": table.name, "column_name": column, "ordinal_position": i}
        for i, column in enumerate(names, 1)]


def _qualified(table: ListedTable) -> str:
    """The table as pg_get_indexdef names it: without its schema when that is on the search path."""
    return _quote(table.name) if table.schema == DEFAULT_SCHEMA else f"{_quote(table.schema)}.{_quote(table.name)}"


def _acl_name(role: str) -> str:
    plain = role.replace("_", "").isalnum()
    return role if plain else '"' + role.replace('"', '""') + '"'


def _quote(name: str) -> str:
    plain = name.islower() and name.replace("_", "").isalnum() and not name[0].isdigit()
    return name if plain else '"' + name.replace('"', '""') + '"'


def _value(value: Any) -> exp.Expression:
    """A literal; the INSERT casts it to its column's type."""
    if value is None:
        return exp.null()
    if isinstance(value, list):
        return exp.Array(expressions=[_value(v) for v in value])
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _insert(name: str, rows: list[tuple[Any, ...]]) -> str:
    """One INSERT for a whole table, built as a tree (names and descriptions from policy files are
    quoted by the generator, never pasted into text); row by row, the 40 tables took seconds."""
    values = exp.values([tuple(_value(v) for v in row) for row in rows])
    return exp.insert(values, exp.table_(name, db=SHADOW)).sql(dialect="duckdb")


_builtin: dict[str, str] = {}  # "path": the file _builtin_file wrote
_builtin_lock = Lock()


def _builtin_file() -> str:
    """A DuckDB file holding the shadow's rows for PostgreSQL's built-in types (about 1,000, the same for every
    principal), written once per process and removed at its exit: a shadow copies them from it in a few
    milliseconds, where inserting them as values took a quarter of a second of every catalog's build."""
    with _builtin_lock:
        path = _builtin.get("path")
        if path is None or not os.path.exists(path):
            folder = tempfile.mkdtemp(prefix="pe-pgtypes-")
            atexit.register(shutil.rmtree, folder, True)
            path = os.path.join(folder, "builtin.duckdb")
            with duckdb.connect(path) as con:
                con.execute(f"CREATE SCHEMA {SHADOW}")
                for name, rows in builtin_rows().items():
                    con.execute(f"CREATE TABLE {SHADOW}.{name} ({TABLES[name]})")
                    con.execute(_insert(name, _fill(TABLES[name], rows)))
            _builtin["path"] = path
        return path


def shadow_database(listing: Listing, settings: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """The sealed in-memory database with this listing's catalog, and the functions clients call."""
    from policyengine.server.catalog.functions import MACROS

    con = duckdb.connect(":memory:")
    con.execute(f"CREATE SCHEMA {SHADOW}")
    content = catalog_rows(listing, settings)
    specs = TABLES | {INFORMATION_PREFIX + name: spec for name, spec in INFORMATION_SCHEMA.items()}
    builtin = builtin_rows()  # the same row objects catalog_rows put first in these tables
    try:
        path = _builtin_file().replace("'", "''")
        con.execute(f"ATTACH '{path}' AS pe_builtin (READ_ONLY)")
    except (OSError, duckdb.Error):  # no temporary folder to write it in: they are inserted as values
        builtin = {}
    for name, spec in specs.items():
        con.execute(f"CREATE TABLE {SHADOW}.{name} ({spec})")
        rows, shared = content.get(name, []), builtin.get(name, [])
        if shared and len(rows) >= len(shared) and all(a is b for a, b in zip(rows, shared)):
            con.execute(f"INSERT INTO {SHADOW}.{name} SELECT * FROM pe_builtin.{SHADOW}.{name}")
            rows = rows[len(shared):]
        filled = _fill(spec, rows, defaults=not name.startswith(INFORMATION_PREFIX))
        if filled:
            con.execute(_insert(name, filled))
    if builtin:
        con.execute("DETACH pe_builtin")
    for macro in MACROS:
        con.execute(macro)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
