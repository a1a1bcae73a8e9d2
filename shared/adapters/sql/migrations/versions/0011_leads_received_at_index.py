"""index leads by received_at (the funnel report's window); idempotency keys: when answered

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_leads_received_at', 'leads', ['received_at'], unique=False)
    op.add_column('idempotency_keys', sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
    # Keys recorded before this revision were recorded once their event was in the log.
    op.execute(sa.text("UPDATE idempotency_keys SET answered_at = created_at"))


def downgrade() -> None:
    op.drop_column('idempotency_keys', 'answered_at')
    op.drop_index('ix_leads_received_at', table_name='leads')
