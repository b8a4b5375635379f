"""trust boundary: pairing keys get a use limit and a node kind; alerts a count offset; ended sessions;
API keys an expiry and revocation on password change

Keys made before this revision allowed any number of nodes; they now allow one enrolment each (a key
already used is used up): generate a new key with the number of nodes it should pair.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:15:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa

import otwatch.console.db
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pairing_keys') as batch:
        batch.add_column(sa.Column('max_uses', sa.Integer(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
    # an alert for occurrences after a closed one counts from the closed one's cumulative count
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('count_offset', sa.Integer(), nullable=False, server_default='0'))


    # browser sessions signed out before their cookie expired (a copied cookie is refused)
    op.create_table(
        'ended_sessions',
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('ended_at', otwatch.console.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', otwatch.console.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sid'),
    )
    op.create_index('ix_ended_sessions_expires_at', 'ended_sessions', ['expires_at'])
    # keys made before: no expiry, and they survive a password change (as they were made to)
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('expires_at', otwatch.console.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column('keep_on_password_change', sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('keep_on_password_change')
        batch.drop_column('expires_at')
    op.drop_index('ix_ended_sessions_expires_at', table_name='ended_sessions')
    op.drop_table('ended_sessions')
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('count_offset')
    with op.batch_alter_table('pairing_keys') as batch:
        batch.drop_column('kind')
        batch.drop_column('max_uses')
