"""alert technique: the MITRE ATT&CK for ICS technique each alert maps onto

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('technique', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('technique_name', sa.String(length=100), nullable=True))
        batch.create_index('ix_alerts_technique', ['technique'])


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index('ix_alerts_technique')
        batch.drop_column('technique_name')
        batch.drop_column('technique')
