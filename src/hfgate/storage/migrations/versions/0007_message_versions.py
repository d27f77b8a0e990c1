"""answer versions (regenerated answers share a position; one is selected) and content parts

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("selected", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("parts", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Only the selected version of each answer was ever shown before versions: keep those.
    op.execute("DELETE FROM messages WHERE selected = false")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("parts")
        batch_op.drop_column("selected")
