"""The alembic migrations build exactly the schema the code declares (on real PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from leadrelay.shared.adapters.sql.schema import metadata
from tests.conftest import scratch_database


async def test_migrating_to_head_leaves_nothing_for_autogenerate_to_add():
    async with scratch_database() as url:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata))
        await engine.dispose()
    assert diff == []
