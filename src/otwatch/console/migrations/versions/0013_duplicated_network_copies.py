"""duplicated networks: each copy's site, one copy per site and per agent of a range, and the copy an
asset lives in (part of its identity)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op



revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('duplicated_networks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site', sa.String(length=200), server_default='', nullable=False))
        batch_op.create_unique_constraint('uq_duplicated_networks_cidr_node_id', ['cidr', 'node_id'])
        batch_op.create_unique_constraint('uq_duplicated_networks_cidr_site', ['cidr', 'site'])
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_copy_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_assets_network_copy_id'), ['network_copy_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_assets_network_copy_id_duplicated_networks'), 'duplicated_networks',
            ['network_copy_id'], ['id'], ondelete='SET NULL',
        )


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_assets_network_copy_id_duplicated_networks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_assets_network_copy_id'))
        batch_op.drop_column('network_copy_id')
    with op.batch_alter_table('duplicated_networks', schema=None) as batch_op:
        batch_op.drop_constraint('uq_duplicated_networks_cidr_site', type_='unique')
        batch_op.drop_constraint('uq_duplicated_networks_cidr_node_id', type_='unique')
        batch_op.drop_column('site')
