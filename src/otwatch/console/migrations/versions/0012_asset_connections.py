"""asset connections: the conversations sensors see (peer, protocol, port, functions, last seen), the
alert indexes an asset's page reads its alerts by, a sensor's site, and inventory quality (an asset's
behaviour-typing reason, and whether it is a ghost)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:00:00.000000

Chained after 0011 (trust boundary, itself after 0010 advisories) when main was merged into the
analyst-ux branch.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import otwatch.console.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('asset_connections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('server_id', sa.String(length=32), nullable=False),
    sa.Column('protocol', sa.String(length=50), nullable=False),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('first_seen', otwatch.console.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', otwatch.console.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('packets', sa.BigInteger(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('messages', sa.BigInteger(), nullable=False),
    sa.Column('functions', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['assets.id'], name=op.f('fk_asset_connections_client_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['assets.id'], name=op.f('fk_asset_connections_server_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_asset_connections_node_id_nodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_connections')),
    sa.UniqueConstraint('node_id', 'client_id', 'server_id', 'protocol', 'transport', 'port', name=op.f('uq_asset_connections_node_id'))
    )
    with op.batch_alter_table('asset_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_connections_node_id'), ['node_id'], unique=False)
        batch_op.create_index('ix_asset_connections_client_last_seen', ['client_id', 'last_seen'], unique=False)
        batch_op.create_index('ix_asset_connections_server_last_seen', ['server_id', 'last_seen'], unique=False)
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site', sa.String(length=200), server_default='', nullable=False))
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('type_reason', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('ghost', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_source_ip', ['source_ip'], unique=False)
        batch_op.create_index('ix_alerts_destination_ip', ['destination_ip'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('ghost')
        batch_op.drop_column('type_reason')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('site')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_destination_ip')
        batch_op.drop_index('ix_alerts_source_ip')
    with op.batch_alter_table('asset_connections', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_connections_server_last_seen')
        batch_op.drop_index('ix_asset_connections_client_last_seen')
        batch_op.drop_index(batch_op.f('ix_asset_connections_node_id'))
    op.drop_table('asset_connections')
