"""stored observation records

GET /api/v1/observations/{ref} answered each read with sixteen queries (issue
10: 3.5x its floor on SQLite, 7.1x on Postgres). A version's record is now
stored as it was rendered (`stored_record`), and `observation.revision`, bumped
by every write that changes a record, says whether a stored one is current.
Existing records are rendered on their first read.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("observation", sa.Column("revision", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.create_table(
        "stored_record",
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("observation_version.id"),
                  primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("public_url", sa.String(length=2000), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stored_record")
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_column("revision")
