"""sweeps stored whole; series a reader sees together

A sweep observation (issue 13) keeps its grid, seeds and measures on its version
(`sweep`), its grid series a second coordinate (`metric_series.x2`, `axis2`),
each cell's run the knobs it set (`run.cell`), and a sweep's verification
job the cells it re-runs (`verification_job.cells`: one job per cell). `groups` lists the series
drawn in one panel (`train_acc` with `test_acc`).

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observation_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("groups", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("sweep", sa.JSON(), nullable=True))
    with op.batch_alter_table("metric_series", schema=None) as batch_op:
        batch_op.add_column(sa.Column("axis2", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("x2", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell", sa.JSON(), nullable=True))
    with op.batch_alter_table("verification_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cells", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verification_job", schema=None) as batch_op:
        batch_op.drop_column("cells")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("cell")
    with op.batch_alter_table("metric_series", schema=None) as batch_op:
        batch_op.drop_column("x2")
        batch_op.drop_column("axis2")
    with op.batch_alter_table("observation_version", schema=None) as batch_op:
        batch_op.drop_column("sweep")
        batch_op.drop_column("groups")
