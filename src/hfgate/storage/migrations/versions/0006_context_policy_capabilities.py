"""API keys and models choose how a too-long request is handled (trim or strict); models
carry an admin's overrides of what they can take (tools, images, JSON schemas)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_policy", sa.String(length=8), nullable=True))
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_policy", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("capabilities", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_column("capabilities")
        batch_op.drop_column("context_policy")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("context_policy")
