"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 02:29:19.472314
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('recipe',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('builtin', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('entrypoint', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256', 'entrypoint')
    )
    with op.batch_alter_table('recipe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recipe_sha256'), ['sha256'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle', sa.String(length=40), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('orcid', sqlmodel.sql.sqltypes.AutoString(length=19), nullable=True),
    sa.Column('affiliation', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('handle')
    )
    op.create_table('apitoken',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apitoken_user_id'), ['user_id'], unique=False)

    op.create_table('observation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('latest_version_id', sa.Integer(), nullable=True),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('withdrawn_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observation_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_observation_latest_version_id'), ['latest_version_id'], unique=False)

    op.create_table('phenomenon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('x', sa.Float(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('edited_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['observation_id'], ['observation.id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['comment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comment_observation_id'), ['observation_id'], unique=False)

    op.create_table('observation_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('recipe_id', sa.Integer(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('claims', sa.JSON(), nullable=False),
    sa.Column('environment', sa.JSON(), nullable=True),
    sa.Column('change_message', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('verdict_reason', sa.Text(), nullable=False),
    sa.Column('verdict_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('pass_rates', sa.JSON(), nullable=False),
    sa.Column('comparisons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['observation_id'], ['observation.id'], ),
    sa.ForeignKeyConstraint(['recipe_id'], ['recipe.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('observation_id', 'version')
    )
    with op.batch_alter_table('observation_version', schema=None) as batch_op:
        batch_op.create_index('ix_observation_version_verdict', ['verdict'], unique=False)

    op.create_table('comment_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('comment_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_revision_comment_id'), ['comment_id'], unique=False)

    op.create_table('link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_version_id', sa.Integer(), nullable=False),
    sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('target_version_id', sa.Integer(), nullable=True),
    sa.Column('target_phenomenon_id', sa.Integer(), nullable=True),
    sa.Column('target_external', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['source_version_id'], ['observation_version.id'], ),
    sa.ForeignKeyConstraint(['target_phenomenon_id'], ['phenomenon.id'], ),
    sa.ForeignKeyConstraint(['target_version_id'], ['observation_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_version_id', 'relation', 'target_version_id', 'target_phenomenon_id', 'target_external', name='uq_link_edge')
    )
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_source_version_id'), ['source_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_target_version_id'), ['target_version_id'], unique=False)

    op.create_table('observation_phenomenon',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('phenomenon_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['phenomenon_id'], ['phenomenon.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['observation_version.id'], ),
    sa.PrimaryKeyConstraint('version_id', 'phenomenon_id')
    )
    with op.batch_alter_table('observation_phenomenon', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observation_phenomenon_phenomenon_id'), ['phenomenon_id'], unique=False)

    op.create_table('observation_tag',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['observation_version.id'], ),
    sa.PrimaryKeyConstraint('version_id', 'tag')
    )
    with op.batch_alter_table('observation_tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observation_tag_tag'), ['tag'], unique=False)

    op.create_table('verification_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('seeds', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('lease_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('not_before', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('failures', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['observation_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('verification_job', schema=None) as batch_op:
        batch_op.create_index('ix_verification_job_claim', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_job_version_id'), ['version_id'], unique=False)

    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('environment', sa.JSON(), nullable=True),
    sa.Column('wall_time_s', sa.Float(), nullable=True),
    sa.Column('cpu_time_s', sa.Float(), nullable=True),
    sa.Column('peak_memory_mb', sa.Float(), nullable=True),
    sa.Column('network_isolated', sa.Boolean(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('log_tail', sa.Text(), nullable=False),
    sa.Column('claim_results', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['verification_job.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['observation_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_version_id'), ['version_id'], unique=False)

    op.create_table('metric_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('axis', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('n_points', sa.Integer(), nullable=False),
    sa.Column('x', sa.LargeBinary(), nullable=False),
    sa.Column('y', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'name')
    )



def downgrade() -> None:

    op.drop_table('metric_series')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_version_id'))

    op.drop_table('run')
    with op.batch_alter_table('verification_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_job_version_id'))
        batch_op.drop_index('ix_verification_job_claim')

    op.drop_table('verification_job')
    with op.batch_alter_table('observation_tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observation_tag_tag'))

    op.drop_table('observation_tag')
    with op.batch_alter_table('observation_phenomenon', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observation_phenomenon_phenomenon_id'))

    op.drop_table('observation_phenomenon')
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_target_version_id'))
        batch_op.drop_index(batch_op.f('ix_link_source_version_id'))
        batch_op.drop_index(batch_op.f('ix_link_author_id'))

    op.drop_table('link')
    with op.batch_alter_table('comment_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_revision_comment_id'))

    op.drop_table('comment_revision')
    with op.batch_alter_table('observation_version', schema=None) as batch_op:
        batch_op.drop_index('ix_observation_version_verdict')

    op.drop_table('observation_version')
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_observation_id'))
        batch_op.drop_index(batch_op.f('ix_comment_author_id'))

    op.drop_table('comment')
    op.drop_table('phenomenon')
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observation_latest_version_id'))
        batch_op.drop_index(batch_op.f('ix_observation_author_id'))

    op.drop_table('observation')
    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apitoken_user_id'))

    op.drop_table('apitoken')
    op.drop_table('user')
    with op.batch_alter_table('recipe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recipe_sha256'))

    op.drop_table('recipe')

