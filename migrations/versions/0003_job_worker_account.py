"""job worker account

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:15:59.992953
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_verification_job_worker_user_id', 'user', ['worker_user_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('verification_job', schema=None) as batch_op:
        batch_op.drop_constraint('fk_verification_job_worker_user_id', type_='foreignkey')
        batch_op.drop_column('worker_user_id')


