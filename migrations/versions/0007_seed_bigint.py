"""seeds as 64-bit integers

A seed is any number below 2**32 (runner.spec), which a Postgres INTEGER
(32 bits, signed) cannot hold from 2**31 on: posting seed 3000000000 was a 500
on Postgres (found by schemathesis, issue 11). SQLite's INTEGER already holds it.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEED_COLUMNS = (("observation_version", "seed"), ("run", "seed"))


def upgrade() -> None:
    for table, column in SEED_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False)


def downgrade() -> None:
    for table, column in SEED_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer(),
                                  existing_nullable=False)
