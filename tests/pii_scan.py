"""Where personal values still are: every column of every table a database has (read from the
database itself, so a table added tomorrow is scanned too), and every field of the in-memory fake.

A value is found however it was stored: JSON escapes (``\\u738b``), bytes, any letter case.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine


def as_text(value: Any) -> str:
    """Every way ``value`` can hold text, joined: as stored, and with JSON unescaped."""
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return value + "\n" + json.dumps(parsed, ensure_ascii=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "\n".join(as_text(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return "\n".join(as_text(k) + "\n" + as_text(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(as_text(item) for item in value)
    return "" if value is None else str(value)


def found_in(text: str, needles: Iterable[str]) -> list[str]:
    lowered = text.casefold()
    return [needle for needle in needles if needle.casefold() in lowered]


async def scan_database(engine: AsyncEngine, needles: Iterable[str]) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(table, column, needle) for each personal value a column of any table still holds, and the
    names of the tables scanned."""
    needles = list(needles)
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        hits = []
        for table in metadata.sorted_tables:
            assert table.columns, table.name
            for row in await conn.execute(select(table)):
                for column, value in row._mapping.items():
                    hits += [(table.name, str(column), needle) for needle in found_in(as_text(value), needles)]
    return hits, {table.name for table in metadata.sorted_tables}


def scan_memory(tables: Any, needles: Iterable[str]) -> list[tuple[str, str]]:
    """(field of ``Tables``, needle) for each personal value the in-memory store still holds."""
    needles = list(needles)
    return [(f.name, needle) for f in dataclasses.fields(tables)
            for needle in found_in(as_text(getattr(tables, f.name)), needles)]

