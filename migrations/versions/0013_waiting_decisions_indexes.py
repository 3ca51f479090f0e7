"""waiting decisions indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 13:40:00.000000

The legal proposals and settlements waiting for a creditor's decision, per tenant and
oldest first (as the disputes already had): the creditor's home page counts them and
shows the oldest ten off the index instead of reading every one the tenant ever had.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "legal_requests": "ix_legal_requests_waiting",
    "settlements": "ix_settlements_waiting",
}


def upgrade() -> None:
    for table, name in _INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, ["tenant_id", "status", "created_at", "id"], unique=False)


def downgrade() -> None:
    for table, name in _INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
