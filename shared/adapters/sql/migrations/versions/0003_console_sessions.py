"""console sessions: the web console's sign-in sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_hash')
    )
    op.create_index(op.f('ix_console_sessions_token_hash'), 'console_sessions', ['token_hash'], unique=False)
    op.create_index(op.f('ix_console_sessions_last_seen_at'), 'console_sessions', ['last_seen_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_console_sessions_last_seen_at'), table_name='console_sessions')
    op.drop_index(op.f('ix_console_sessions_token_hash'), table_name='console_sessions')
    op.drop_table('console_sessions')
