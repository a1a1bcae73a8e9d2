"""fuzzy matching: person match keys, merges (undoable), duplicate pairs for review

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_match_keys',
    sa.Column('match_key', sa.String(length=40), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('match_key', 'person_id')
    )
    op.create_index('ix_person_match_keys_person', 'person_match_keys', ['person_id'], unique=False)
    op.create_table('person_merges',
    sa.Column('merge_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('from_person_id', sa.String(length=64), nullable=True),
    sa.Column('lead_ids', sa.JSON(), nullable=False),
    sa.Column('identity_keys', sa.JSON(), nullable=False),
    sa.Column('person_before', sa.JSON(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('score', sa.JSON(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_by', sa.String(length=100), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('merge_id')
    )
    op.create_index(op.f('ix_person_merges_person_id'), 'person_merges', ['person_id'], unique=False)
    op.create_table('duplicate_pairs',
    sa.Column('pair_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('other_person_id', sa.String(length=64), nullable=False),
    sa.Column('lead_id', sa.String(length=64), nullable=False),
    sa.Column('score', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('pair_id')
    )
    op.create_index(op.f('ix_duplicate_pairs_person_id'), 'duplicate_pairs', ['person_id'], unique=False)
    op.create_index(op.f('ix_duplicate_pairs_other_person_id'), 'duplicate_pairs', ['other_person_id'], unique=False)
    op.create_index('ix_duplicate_pairs_state', 'duplicate_pairs', ['state', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('duplicate_pairs')
    op.drop_table('person_merges')
    op.drop_table('person_match_keys')
