"""Registers every subcommand on the app; each lives in a module of its own."""

from policyengine.cli import (  # noqa: F401
    apply,
    audit,
    ddl,
    demo,
    explain,
    fuzz,
    import_,
    keys,
    lineage,
    policytests,
    query,
    report,
    scan,
    schema,
    serve,
    user,
    validate,
    verify,
)
