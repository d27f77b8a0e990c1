"""Hugging Face accounts that manage Inference Endpoints; integrations remember their record,
whether to wake on open, and whether hfgate paused them

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hf_accounts",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("namespaces", sa.JSON(), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("token_mask", sa.String(length=16), nullable=False),
        sa.Column(
            "created_by",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hf_endpoint", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("hf_account_id", sa.String(length=36), nullable=True))
        for flag in ("wake_on_open", "paused_by_hfgate"):
            batch_op.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch_op.create_index("ix_integrations_hf_endpoint", ["hf_endpoint"])
        batch_op.create_foreign_key(
            "fk_integrations_hf_account",
            "hf_accounts",
            ["hf_account_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_integrations_hf_account", type_="foreignkey")
        batch_op.drop_index("ix_integrations_hf_endpoint")
        batch_op.drop_column("paused_by_hfgate")
        batch_op.drop_column("wake_on_open")
        batch_op.drop_column("hf_account_id")
        batch_op.drop_column("hf_endpoint")
    op.drop_table("hf_accounts")
