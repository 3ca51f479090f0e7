"""reporting indexes and the debtor identity key

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same key as ``portal.models.debtor.identity_key`` computes at placement.
_IDENTITY_SQL = """
CASE
  WHEN upper(replace(replace(coalesce(registration_number, ''), ' ', ''), '-', '')) != ''
    THEN 'reg:' || upper(replace(replace(coalesce(registration_number, ''), ' ', ''), '-', ''))
  WHEN kind = 'person' AND lower(trim(coalesce(email, ''))) != ''
    THEN 'email:' || lower(trim(coalesce(email, '')))
  ELSE 'name:' || lower(trim(name))
END
"""


def upgrade() -> None:
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_key", sa.String(length=260), nullable=False, server_default="")
        )
    # One set-based statement: a million debtors take seconds, not a loop over rows.
    op.execute(f"UPDATE debtors SET identity_key = {_IDENTITY_SQL}")  # noqa: S608 (constant)
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_debtors_identity",
            ["tenant_id", "identity_key"],
            unique=False,
            postgresql_include=["id", "name"],
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("debtor_key", sa.String(length=260), nullable=False, server_default="")
        )
    _copy_debtor_keys()
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_debtor_key",
            ["tenant_id", "currency", "debtor_key"],
            unique=False,
            postgresql_include=[
                "placed_at", "placed_minor", "claimed_minor", "collected_minor", "oldest_due_on",
                "warning_signs",
            ],
        )  # fmt: skip
        batch_op.create_index(
            "ix_cases_tenant_next_action",
            ["tenant_id", "next_action_on", sa.column("priority").desc(), "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_next_action",
            ["next_action_on", sa.column("priority").desc(), "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_id_currency",
            ["id"],
            unique=False,
            postgresql_include=["tenant_id", "currency", "placed_at"],
        )
        batch_op.create_index(
            "ix_cases_priority",
            [sa.column("priority").desc(), "next_action_on", "id"],
            unique=False,
        )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_disputes_waiting", ["tenant_id", "status", "created_at", "id"], unique=False
        )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_money_in",
            ["tenant_id", "currency", "value_date"],
            unique=False,
            postgresql_include=[
                "kind", "amount_minor", "commission_minor", "reverses_entry_id", "event_key", "id"
            ],
            postgresql_where=sa.text("kind IN ('payment', 'reversal')"),
        )  # fmt: skip


def _copy_debtor_keys() -> None:
    """Each case gets its debtor's key: one statement (a join on PostgreSQL, where a million
    cases take minutes rather than hours; a correlated look-up on SQLite)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE cases SET debtor_key = debtors.identity_key"
            " FROM debtors WHERE debtors.id = cases.debtor_id"
        )
    else:
        op.execute(
            "UPDATE cases SET debtor_key ="
            " (SELECT identity_key FROM debtors WHERE debtors.id = cases.debtor_id)"
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_ledger_money_in", postgresql_where=sa.text("kind IN ('payment', 'reversal')")
        )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_waiting")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_priority")
        batch_op.drop_index("ix_cases_id_currency")
        batch_op.drop_index("ix_cases_debtor_key")
        batch_op.drop_column("debtor_key")
        batch_op.drop_index("ix_cases_next_action")
        batch_op.drop_index("ix_cases_tenant_next_action")
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_index("ix_debtors_identity")
        batch_op.drop_column("identity_key")
