"""money summaries and remittance statements

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:07:56.034078
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "remittance_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("collected_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.Column("costs_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["users.id"], name=op.f("fk_remittance_statements_issued_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_remittance_statements_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_statements")),
        sa.UniqueConstraint(
            "tenant_id",
            "currency",
            "period_end",
            name=op.f("uq_remittance_statements_tenant_id_currency_period_end"),
        ),
        sa.UniqueConstraint(
            "tenant_id", "sequence", name=op.f("uq_remittance_statements_tenant_id_sequence")
        ),
    )
    op.create_index(
        op.f("ix_remittance_statements_tenant_id"),
        "remittance_statements",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "payment",
                "reversal",
                "legal_cost",
                "check_fee",
                name="statementlinekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=True),
        sa.Column("legal_cost_id", sa.Integer(), nullable=True),
        sa.Column("invoice_check_id", sa.Integer(), nullable=True),
        sa.Column("collected_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.Column("costs_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_statement_lines_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_check_id"],
            ["invoice_checks.id"],
            name=op.f("fk_statement_lines_invoice_check_id_invoice_checks"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_statement_lines_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["legal_cost_id"],
            ["legal_costs.id"],
            name=op.f("fk_statement_lines_legal_cost_id_legal_costs"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["remittance_statements.id"],
            name=op.f("fk_statement_lines_statement_id_remittance_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_statement_lines_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint("invoice_check_id", name=op.f("uq_statement_lines_invoice_check_id")),
        sa.UniqueConstraint("ledger_entry_id", name=op.f("uq_statement_lines_ledger_entry_id")),
        sa.UniqueConstraint("legal_cost_id", name=op.f("uq_statement_lines_legal_cost_id")),
    )
    op.create_index(
        op.f("ix_statement_lines_case_id"), "statement_lines", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_statement_lines_statement_id"), "statement_lines", ["statement_id"], unique=False
    )
    op.create_index(
        op.f("ix_statement_lines_tenant_id"), "statement_lines", ["tenant_id"], unique=False
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for column in ("placed_minor", "claimed_minor", "collected_minor"):
            batch_op.add_column(
                sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
            )
        batch_op.add_column(sa.Column("oldest_due_on", sa.Date(), nullable=True))
        batch_op.create_index(
            "ix_cases_portfolio",
            ["tenant_id", "currency", "stage", "oldest_due_on"],
            unique=False,
            postgresql_include=["placed_at", "placed_minor", "claimed_minor", "collected_minor"],
        )
    with op.batch_alter_table("invoice_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_charged_on", sa.Date(), nullable=True))
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collector_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_ledger_kind_value_date",
            ["kind", "value_date"],
            unique=False,
            postgresql_include=[
                "tenant_id", "currency", "amount_minor", "commission_minor", "collector_id"
            ],
        )  # fmt: skip
        batch_op.create_foreign_key(
            op.f("fk_ledger_entries_collector_id_users"), "users", ["collector_id"], ["id"]
        )
    _fill_summaries()


def _fill_summaries() -> None:
    """Cases placed before the summaries existed get them from their ledger and invoices."""
    op.execute(
        """
        UPDATE cases SET
          placed_minor = COALESCE((SELECT SUM(amount_minor) FROM ledger_entries e
                                   WHERE e.case_id = cases.id AND e.kind = 'principal'), 0),
          claimed_minor = COALESCE((SELECT SUM(amount_minor) FROM ledger_entries e
                                    WHERE e.case_id = cases.id
                                      AND e.kind IN ('principal', 'interest', 'fee',
                                                     'adjustment')), 0),
          collected_minor = -COALESCE((SELECT SUM(amount_minor) FROM ledger_entries e
                                       WHERE e.case_id = cases.id
                                         AND e.kind IN ('payment', 'reversal')), 0),
          oldest_due_on = (SELECT MIN(due_date) FROM invoices i WHERE i.case_id = cases.id)
        """
    )
    op.execute(
        """
        UPDATE invoice_checks SET fee_charged_on = (
          SELECT MAX(e.value_date) FROM ledger_entries e
          WHERE e.case_id = invoice_checks.case_id AND e.kind = 'payment')
        WHERE fee_minor IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_ledger_entries_collector_id_users"), type_="foreignkey")
        batch_op.drop_index("ix_ledger_kind_value_date")
        batch_op.drop_column("collector_id")
    with op.batch_alter_table("invoice_checks", schema=None) as batch_op:
        batch_op.drop_column("fee_charged_on")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_portfolio")
        for column in ("oldest_due_on", "collected_minor", "claimed_minor", "placed_minor"):
            batch_op.drop_column(column)
    op.drop_table("statement_lines")
    op.drop_table("remittance_statements")
