"""Alembic environment: hfgate passes its own connection (see ``hfgate.storage.db``)."""

from alembic import context

from hfgate.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through hfgate (Database.migrate or `hfgate db upgrade`)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
