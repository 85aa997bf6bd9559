"""seeds as 64-bit integers

A seed is any number below 2**32 (runner.spec), which a Postgres INTEGER
(32 bits, signed) cannot hold from 2**31 on: posting seed 3000000000 was a 500
on Postgres (found by schemathesis, issue 11). SQLite's INTEGER already holds
64 bits, and there the columns are left as they are (a batch rebuild would drop a
table that others reference).

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


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # INTEGER is 64 bits in SQLite, whatever the declared type
    for table, column in SEED_COLUMNS:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
