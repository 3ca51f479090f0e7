"""collection work

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "letter_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_letter_templates_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_templates")),
    )
    with op.batch_alter_table("letter_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letter_templates_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "raised_by",
            sa.Enum("debtor", "creditor", "agency", name="party", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "upheld", "rejected", name="disputestatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_disputes_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_disputes_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_disputes_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disputes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "promises_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "kept",
                "broken",
                "cancelled",
                name="promisestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("paid_before_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_promises_to_pay_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_promises_to_pay_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_promises_to_pay_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises_to_pay")),
    )
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.create_index("ix_promises_due", ["status", "due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_promises_to_pay_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_promises_to_pay_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "awaiting_creditor",
                "accepted",
                "declined",
                "paid",
                name="settlementstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_comment", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_settlements_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_settlements_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["users.id"], name=op.f("fk_settlements_proposed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_settlements_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column(
            "party",
            sa.Enum("debtor", "creditor", "agency", name="party", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_dispute_evidence_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_evidence_dispute_id_disputes")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_dispute_evidence_document_id_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_evidence_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_evidence")),
    )
    with op.batch_alter_table("dispute_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dispute_evidence_dispute_id"), ["dispute_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dispute_evidence_tenant_id"), ["tenant_id"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dunning_step", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_dunning_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("interest_posted_until", sa.Date(), nullable=True))

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone", sa.String(length=40), nullable=False, server_default="Europe/Berlin"
            )
        )
        batch_op.add_column(
            sa.Column("no_calls", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("no_emails", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("no_letters", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("cease_contact", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_max_calls", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column("contact_window_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column("contact_hours_start", sa.Integer(), nullable=False, server_default="8")
        )
        batch_op.add_column(
            sa.Column("contact_hours_end", sa.Integer(), nullable=False, server_default="20")
        )
        batch_op.add_column(
            sa.Column(
                "settlement_authority_bp", sa.Integer(), nullable=False, server_default="8000"
            )
        )
        batch_op.add_column(
            sa.Column("dispute_days", sa.Integer(), nullable=False, server_default="14")
        )


def downgrade() -> None:

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("dispute_days")
        batch_op.drop_column("settlement_authority_bp")
        batch_op.drop_column("contact_hours_end")
        batch_op.drop_column("contact_hours_start")
        batch_op.drop_column("contact_window_days")
        batch_op.drop_column("contact_max_calls")

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_column("cease_contact")
        batch_op.drop_column("no_letters")
        batch_op.drop_column("no_emails")
        batch_op.drop_column("no_calls")
        batch_op.drop_column("timezone")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("interest_posted_until")
        batch_op.drop_column("last_dunning_on")
        batch_op.drop_column("dunning_step")

    with op.batch_alter_table("dispute_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_evidence_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_dispute_evidence_dispute_id"))

    op.drop_table("dispute_evidence")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_settlements_case_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_case_id"))
        batch_op.drop_index("ix_promises_due")

    op.drop_table("promises_to_pay")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_case_id"))

    op.drop_table("disputes")
    with op.batch_alter_table("letter_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_templates_tenant_id"))

    op.drop_table("letter_templates")
