"""The SQL store's seam: driver errors that mean "the database is away" become the port's
:class:`~leadrelay.shared.ports.StoreUnavailable`; everything else (a constraint, a type, the
SQL itself) is the caller's problem and propagates unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

from leadrelay.shared.ports import StoreUnavailable


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when the database (not the event) is the problem: wait for it, never dead-letter.

    Driver errors that are about the statement or the data (constraint, type, SQL) are the
    event's problem; every other driver error (e.g. asyncpg's "the database system is shutting
    down", which SQLAlchemy raises as a bare DBAPIError) is about the connection."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or not isinstance(
            exc, IntegrityError | DataError | ProgrammingError | NotSupportedError)
    return False


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Re-raises an outage of the database as StoreUnavailable; other errors pass unchanged."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise StoreUnavailable(f"database unavailable ({type(exc).__name__})") from exc
        raise
