"""messages.updated_at: when an answer being streamed was last checkpointed

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Before checkpoints an answer was stored only once whole: one left streaming was cut short.
    op.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
