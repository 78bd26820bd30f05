"""The migrations build the schema from nothing, on both engines, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from api.db.base import Base
from api.db.migrate import current_revision, head_revision, upgrade
from api.db.session import Database
from tests.conftest import create_database


async def test_upgrade_from_empty_reaches_head_and_matches_the_models():
    url, cleanup = await create_database()
    db = Database(url)
    try:
        await upgrade(db.engine)
        assert await current_revision(db.engine) == head_revision()

        def diff(connection):
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)

        def tables(connection):
            return set(inspect(connection).get_table_names())

        async with db.engine.connect() as connection:
            assert await connection.run_sync(diff) == []
            assert await connection.run_sync(tables) >= {t.name for t in Base.metadata.sorted_tables}
        await upgrade(db.engine)  # running it again changes nothing
        assert await current_revision(db.engine) == head_revision()
    finally:
        await db.dispose()
        await cleanup()
