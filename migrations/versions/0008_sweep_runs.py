"""sweeps run on the registry's workers

`tycho sweep --server` queues one job per cell of a sweep that is not posted
yet: `sweep_run` holds the sweep, `verification_job.sweep_run_id` marks its
jobs (their `version_id` is null), and `sweep_result` keeps each finished run
(gzip-compressed RunResult JSON) until the author's folder collects it.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("recipe_id", sa.Integer(), sa.ForeignKey("recipe.id"), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("sweep", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sweep_run_owner_id", "sweep_run", ["owner_id"])
    op.create_table(
        "sweep_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sweep_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("verification_job.id"), nullable=False),
        sa.Column("cell", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sweep_result_sweep_run_id", "sweep_result", ["sweep_run_id"])
    with op.batch_alter_table("verification_job", schema=None) as batch_op:
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("sweep_run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_verification_job_sweep_run_id", "sweep_run",
                                    ["sweep_run_id"], ["id"])
        batch_op.create_index("ix_verification_job_sweep_run_id", ["sweep_run_id"])


def downgrade() -> None:
    op.execute("DELETE FROM verification_job WHERE version_id IS NULL")
    with op.batch_alter_table("verification_job", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_job_sweep_run_id")
        batch_op.drop_constraint("fk_verification_job_sweep_run_id", type_="foreignkey")
        batch_op.drop_column("sweep_run_id")
        batch_op.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_sweep_result_sweep_run_id", table_name="sweep_result")
    op.drop_table("sweep_result")
    op.drop_index("ix_sweep_run_owner_id", table_name="sweep_run")
    op.drop_table("sweep_run")
