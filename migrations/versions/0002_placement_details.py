"""placement details, messages, imports, late payment rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "late_payment_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("reference_rate_bp", sa.Integer(), nullable=False),
        sa.Column("margin_bp", sa.Integer(), nullable=False),
        sa.Column("compensation_minor", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_late_payment_rules")),
        sa.UniqueConstraint(
            "currency", "valid_from", name=op.f("uq_late_payment_rules_currency_valid_from")
        ),
    )
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "uploaded",
                "validating",
                "validated",
                "placing",
                "placed",
                "failed",
                name="importstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("encoding", sa.String(length=32), nullable=True),
        sa.Column("delimiter", sa.String(length=1), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("valid_cases", sa.Integer(), nullable=False),
        sa.Column("rejected_rows", sa.Integer(), nullable=False),
        sa.Column("placed_cases", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_import_batches_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_batches_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_batches_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "import_row_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_import_row_errors_batch_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_row_errors_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_row_errors")),
    )
    with op.batch_alter_table("import_row_errors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_row_errors_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_import_row_errors_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("requests_information", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_case_messages_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_messages_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_case_messages_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_messages")),
    )
    with op.batch_alter_table("case_messages", schema=None) as batch_op:
        batch_op.create_index("ix_case_messages_case_time", ["case_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_messages_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mandate_ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("payment_term_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("contract_interest_bp", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_reminder_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "disputed_at_placement", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("contract_reviewed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("warning_signs", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("withdrawal_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("withdrawal_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("import_batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_import_batch_id_import_batches"),
            "import_batches",
            ["import_batch_id"],
            ["id"],
        )

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum("pending", "stored", name="documentstatus", native_enum=False, length=32),
                nullable=False,
                server_default="stored",
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_documents_message_id_case_messages"),
            "case_messages",
            ["message_id"],
            ["id"],
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commission_bp", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("commission_minor", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("commission_grid", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column(
                "commission_minimum_fee_minor", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch_op.add_column(
            sa.Column("mandate_months", sa.Integer(), nullable=False, server_default="12")
        )
        batch_op.add_column(
            sa.Column("csv_date_format", sa.String(length=3), nullable=False, server_default="dmy")
        )
        batch_op.add_column(
            sa.Column("csv_column_mapping", sa.JSON(), nullable=False, server_default="{}")
        )

    rules = sa.table(
        "late_payment_rules",
        sa.column("currency", sa.String),
        sa.column("valid_from", sa.Date),
        sa.column("reference_rate_bp", sa.Integer),
        sa.column("margin_bp", sa.Integer),
        sa.column("compensation_minor", sa.BigInteger),
        sa.column("source", sa.String),
    )
    ecb = "ECB main refinancing rate + 8 points; EUR 40 per invoice (Directive 2011/7/EU)"
    boe = "Bank of England base rate + 8 points; GBP 40 per invoice (Late Payment Act 1998)"
    op.bulk_insert(
        rules,
        [
            {
                "currency": currency,
                "valid_from": date.fromisoformat(day),
                "reference_rate_bp": rate,
                "margin_bp": 800,
                "compensation_minor": 4000,
                "source": source,
            }
            for currency, source, periods in (
                (
                    "EUR",
                    ecb,
                    (
                        ("2024-01-01", 450),
                        ("2024-07-01", 425),
                        ("2025-01-01", 315),
                        ("2025-07-01", 215),
                        ("2026-01-01", 215),
                    ),
                ),
                (
                    "GBP",
                    boe,
                    (
                        ("2024-01-01", 525),
                        ("2024-07-01", 525),
                        ("2025-01-01", 475),
                        ("2025-07-01", 425),
                        ("2026-01-01", 400),
                    ),
                ),
            )
            for day, rate in periods
        ],
    )


def downgrade() -> None:

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("csv_column_mapping")
        batch_op.drop_column("csv_date_format")
        batch_op.drop_column("mandate_months")
        batch_op.drop_column("commission_minimum_fee_minor")
        batch_op.drop_column("commission_grid")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("commission_minor")
        batch_op.drop_column("commission_bp")

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_documents_message_id_case_messages"), type_="foreignkey"
        )
        batch_op.drop_column("status")
        batch_op.drop_column("message_id")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_cases_import_batch_id_import_batches"), type_="foreignkey"
        )
        batch_op.drop_column("import_batch_id")
        batch_op.drop_column("withdrawal_reason")
        batch_op.drop_column("withdrawal_requested_at")
        batch_op.drop_column("warning_signs")
        batch_op.drop_column("contract_reviewed")
        batch_op.drop_column("disputed_at_placement")
        batch_op.drop_column("reminders_sent")
        batch_op.drop_column("last_reminder_on")
        batch_op.drop_column("contract_interest_bp")
        batch_op.drop_column("payment_term_days")
        batch_op.drop_column("mandate_ends_on")

    with op.batch_alter_table("case_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_messages_tenant_id"))
        batch_op.drop_index("ix_case_messages_case_time")

    op.drop_table("case_messages")
    with op.batch_alter_table("import_row_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_row_errors_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_import_row_errors_batch_id"))

    op.drop_table("import_row_errors")
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batches_tenant_id"))

    op.drop_table("import_batches")
    op.drop_table("late_payment_rules")
