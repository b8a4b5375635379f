"""asset field sources: where each identity value came from, for the one merge rule

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assets') as batch:
        batch.add_column(sa.Column('field_sources', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('assets') as batch:
        batch.drop_column('field_sources')
