"""crm links: which lead a CRM record stands for

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_links',
    sa.Column('crm', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=100), nullable=False),
    sa.Column('lead_id', sa.String(length=64), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('crm', 'record_id')
    )


def downgrade() -> None:
    op.drop_table('crm_links')
