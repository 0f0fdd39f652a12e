"""Connecting to Snowflake the way its own tools do: a named connection from ``connections.toml``.

snowflake-connector-python reads ``~/.snowflake/connections.toml`` (or ``$SNOWFLAKE_HOME``), the
``SNOWFLAKE_*`` environment variables, and key-pair settings (``private_key_file``) itself; we only
name the connection. The connector is optional: ``pip install 'policyengine[snowflake]'``.
"""

from __future__ import annotations

from typing import Any


class SnowflakeUnavailable(RuntimeError):
    pass


def connect(connection_name: str | None) -> Any:
    try:
        import snowflake.connector  # type: ignore[import-not-found]
    except ImportError:
        raise SnowflakeUnavailable("the Snowflake connector is not installed: pip install 'policyengine[snowflake]'") \
            from None
    options = {"connection_name": connection_name} if connection_name else {}
    try:
        return snowflake.connector.connect(**options)
    except Exception as error:  # noqa: BLE001 - the connector's errors vary; say which connection failed
        raise SnowflakeUnavailable(f"cannot connect to Snowflake ({connection_name or 'default connection'}): "
                                   f"{type(error).__name__}: {str(error).splitlines()[0][:200]}") from None
