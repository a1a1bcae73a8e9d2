"""One open SQL transaction, shared by the repositories of a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from leadrelay.shared.clock import Clock, as_utc

Record = TypeVar("Record")
Dialect = Literal["sqlite", "postgresql"]


class SqlTransaction:
    """The connection, the dialect and the clock the repositories write with, and what happens
    after the commit (outbox wake-ups, metrics)."""

    def __init__(self, conn: AsyncConnection, dialect: Dialect, clock: Clock, *, read_only: bool = False) -> None:
        self.conn = conn
        self.read_only = read_only  # a read() sees only committed rows and commits nothing
        self.dialect = dialect
        self.clock = clock
        self.emitted: set[str] = set()  # topics this transaction wrote to the outbox
        self.on_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.on_commit.append(callback)

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def insert_ignore(self, table: Any) -> Any:
        return self.insert(table).on_conflict_do_nothing()

    @property
    def skips_locked(self) -> bool:
        """PostgreSQL row locks let replicas share work; SQLite has one writer, so nothing to skip."""
        return self.dialect == "postgresql"


def record(cls: type[Record], row: Any) -> Record:
    """A typed record from a row: times as aware UTC (SQLite hands them back naive), bytes as bytes."""
    values = {}
    for field in fields(cls):  # type: ignore[arg-type]
        value = getattr(row, field.name)
        if isinstance(value, datetime):
            value = as_utc(value)
        elif isinstance(value, memoryview):
            value = bytes(value)
        values[field.name] = value
    return cls(**values)


def record_or_none(cls: type[Record], row: Any) -> Record | None:
    return None if row is None else record(cls, row)
