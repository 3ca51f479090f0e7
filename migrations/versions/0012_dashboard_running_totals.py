"""dashboard running totals

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 10:21:31.405990

Running totals the dashboards add up instead of every case, call, event and payment:
cases and what they owe per tenant, currency and stage; calls and right party contacts,
promises, plans and legal requests, the money that came in, and cases by placement day,
warning signs and delay, per day and per month; cases per debtor. Filled here from the rows already there, by the rules
``portal.services.ledger_check.expected_totals`` checks them with (written out: a
migration runs as it was written, whatever the code becomes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("collector_key", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("right_party", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_call_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_totals")),
        sa.UniqueConstraint("tenant_id", "span", "day", "collector_key", name="uq_call_totals_key"),
    )
    with op.batch_alter_table("call_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_totals_span_day",
            ["span", "day"],
            unique=False,
            postgresql_include=["collector_key", "calls", "right_party"],
        )
        batch_op.create_index(batch_op.f("ix_call_totals_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "case_event_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("collector_key", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_case_event_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event_totals")),
        sa.UniqueConstraint(
            "tenant_id",
            "currency",
            "source",
            "status",
            "span",
            "day",
            "collector_key",
            name="uq_case_event_totals_key",
        ),
    )
    with op.batch_alter_table("case_event_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_event_totals_span_day",
            ["currency", "span", "day"],
            unique=False,
            postgresql_include=[
                "source",
                "status",
                "collector_key",
                "events",
                "amount_minor",
                "outstanding_minor",
            ],
        )
        batch_op.create_index(
            batch_op.f("ix_case_event_totals_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "case_stage_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "placed",
                "early.check",
                "amicable.reminder",
                "amicable.demand",
                "amicable.negotiation",
                "legal.review",
                "legal.litigation",
                "legal.judgment",
                "enforcement",
                "on_hold",
                "closed",
                name="stage",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_case_stage_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_stage_totals")),
        sa.UniqueConstraint("tenant_id", "currency", "stage", name="uq_case_stage_totals_key"),
    )
    with op.batch_alter_table("case_stage_totals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_stage_totals_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "debtor_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("debtor_key", sa.String(length=260), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("placed_minor", sa.BigInteger(), nullable=False),
        sa.Column("claimed_minor", sa.BigInteger(), nullable=False),
        sa.Column("collected_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_debtor_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtor_totals")),
        sa.UniqueConstraint("tenant_id", "currency", "debtor_key", name="uq_debtor_totals_key"),
    )
    with op.batch_alter_table("debtor_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_debtor_totals_most_cases",
            ["tenant_id", "currency", "cases", "placed_minor"],
            unique=False,
            postgresql_include=["debtor_key", "claimed_minor", "collected_minor"],
        )
        batch_op.create_index(batch_op.f("ix_debtor_totals_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "money_in_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("collector_key", sa.Integer(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("collected_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_money_in_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_in_totals")),
        sa.UniqueConstraint(
            "tenant_id", "currency", "span", "day", "collector_key", name="uq_money_in_totals_key"
        ),
    )
    with op.batch_alter_table("money_in_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_money_in_totals_span_day",
            ["currency", "span", "day"],
            unique=False,
            postgresql_include=[
                "tenant_id",
                "collector_key",
                "payments",
                "collected_minor",
                "commission_minor",
            ],
        )
        batch_op.create_index(
            batch_op.f("ix_money_in_totals_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "placement_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("signs", sa.String(length=500), nullable=False),
        sa.Column("delay_bucket", sa.Integer(), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("placed_minor", sa.BigInteger(), nullable=False),
        sa.Column("claimed_minor", sa.BigInteger(), nullable=False),
        sa.Column("collected_minor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_placement_totals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placement_totals")),
        sa.UniqueConstraint(
            "tenant_id",
            "currency",
            "span",
            "day",
            "signs",
            "delay_bucket",
            name="uq_placement_totals_key",
        ),
    )
    with op.batch_alter_table("placement_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_placement_totals_span_day", ["tenant_id", "currency", "span", "day"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_placement_totals_tenant_id"), ["tenant_id"], unique=False
        )
    _fill()


# The summaries of the timeline entries that reached the debtor (as 0012 found them).
RIGHT_PARTY = (
    "'Call: spoke with the debtor', 'Invoice check: Received, not disputed: will pay', "
    "'Invoice check: Disputed'"
)
OWED = "c.claimed_minor - c.collected_minor"  # the case summaries 0008 keeps


def _utc_day(timestamp: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(({timestamp}) AT TIME ZONE 'UTC' AS DATE)"
    return f"date({timestamp})"


def _month(day: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(date_trunc('month', {day}) AS DATE)"
    return f"date({day}, 'start of month')"


def _per_day_and_month(table: str, keys: str, amounts: dict[str, str], rows: str) -> None:
    """Fill ``table`` from source ``rows`` (``keys``, ``day`` and the amounts' columns):
    their sums per day, and per month on the month's first day."""
    names = ", ".join(amounts)
    sums = ", ".join(f"SUM({source})" for source in amounts.values())
    month = _month("s.day")
    op.execute(
        f"INSERT INTO {table} ({keys}, span, day, {names})"  # noqa: S608 (constants)
        f" SELECT {keys}, 'day', s.day, {sums} FROM ({rows}) AS s GROUP BY {keys}, s.day"
        f" UNION ALL SELECT {keys}, 'month', {month}, {sums} FROM ({rows}) AS s"
        f" GROUP BY {keys}, {month}"
    )


def _fill() -> None:
    """Every total from the cases, the ledger, the timeline and the events there."""
    op.execute(
        "INSERT INTO case_stage_totals (tenant_id, currency, stage, cases, outstanding_minor)"  # noqa: S608 (constants)
        f" SELECT c.tenant_id, c.currency, c.stage, COUNT(*), SUM({OWED})"
        " FROM cases c GROUP BY c.tenant_id, c.currency, c.stage"
    )
    _per_day_and_month(
        "call_totals", "tenant_id, collector_key",
        {"calls": "1", "right_party": f"CASE WHEN summary IN ({RIGHT_PARTY}) THEN 1 ELSE 0 END"},
        f"SELECT tenant_id, COALESCE(actor_id, 0) AS collector_key, summary,"  # noqa: S608
        f" {_utc_day('occurred_at')} AS day FROM activities WHERE kind = 'call'",
    )  # fmt: skip
    _per_day_and_month(
        "money_in_totals", "tenant_id, currency, collector_key",
        {"payments": "CASE WHEN kind = 'payment' THEN 1 ELSE 0 END",
         "collected_minor": "-amount_minor",
         "commission_minor": "COALESCE(commission_minor, 0)"},
        "SELECT tenant_id, currency, COALESCE(collector_id, 0) AS collector_key, kind,"
        " amount_minor, commission_minor, value_date AS day FROM ledger_entries"
        " WHERE kind IN ('payment', 'reversal')",
    )  # fmt: skip
    plan_day = _utc_day(
        "CASE WHEN p.status IN ('completed', 'broken') THEN p.ended_at ELSE p.created_at END"
    )
    request_day = _utc_day(
        "CASE WHEN r.status <> 'awaiting_creditor' THEN r.decided_at ELSE r.created_at END"
    )
    _per_day_and_month(
        "case_event_totals", "tenant_id, currency, source, status, collector_key",
        {"events": "1", "amount_minor": "amount", "outstanding_minor": "owed"},
        "SELECT t.tenant_id, c.currency, 'promise' AS source, t.status,"  # noqa: S608
        " COALESCE(t.created_by_id, 0) AS collector_key, t.due_on AS day,"
        " t.amount_minor AS amount, 0 AS owed"
        " FROM promises_to_pay t JOIN cases c ON c.id = t.case_id"
        " WHERE t.status IN ('open', 'kept', 'broken')"
        f" UNION ALL SELECT p.tenant_id, c.currency, 'plan', p.status, 0, {plan_day},"
        f" p.total_minor, {OWED} FROM payment_plans p JOIN cases c ON c.id = p.case_id"
        " WHERE p.status IN ('active', 'completed', 'broken')"
        f" UNION ALL SELECT r.tenant_id, c.currency, 'legal', r.status, 0, {request_day},"
        f" r.court_fees_minor + r.lawyer_fees_minor, {OWED}"
        " FROM legal_requests r JOIN cases c ON c.id = r.case_id",
    )  # fmt: skip
    _per_day_and_month(
        "placement_totals", "tenant_id, currency, signs, delay_bucket",
        {"cases": "1", "placed_minor": "placed_minor", "claimed_minor": "claimed_minor",
         "collected_minor": "collected_minor"},
        f"SELECT tenant_id, currency, COALESCE(CAST(warning_signs AS TEXT), '[]') AS signs,"  # noqa: S608
        f" {_delay_bucket()} AS delay_bucket, {_utc_day('placed_at')} AS day, placed_minor,"
        " claimed_minor, collected_minor FROM cases",
    )  # fmt: skip
    op.execute(
        "INSERT INTO debtor_totals (tenant_id, currency, debtor_key, cases, placed_minor,"
        " claimed_minor, collected_minor) SELECT tenant_id, currency, debtor_key, COUNT(*),"
        " SUM(placed_minor), SUM(claimed_minor), SUM(collected_minor) FROM cases"
        " GROUP BY tenant_id, currency, debtor_key"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ANALYZE case_stage_totals, call_totals, money_in_totals, case_event_totals,"
            " placement_totals, debtor_totals"
        )


def _delay_bucket() -> str:
    """Which of the delays before placement (0-30, 31-90, 91-180, 181-365 days, more) a
    case was placed after; no due date counts in the first."""
    if op.get_bind().dialect.name == "postgresql":
        delay = "(CAST((placed_at) AT TIME ZONE 'UTC' AS DATE) - oldest_due_on)"
    else:
        delay = "CAST(julianday(date(placed_at)) - julianday(oldest_due_on) AS INTEGER)"
    return (
        f"CASE WHEN oldest_due_on IS NULL THEN 0 WHEN {delay} <= 30 THEN 0"
        f" WHEN {delay} <= 90 THEN 1 WHEN {delay} <= 180 THEN 2 WHEN {delay} <= 365 THEN 3"
        " ELSE 4 END"
    )


def downgrade() -> None:
    with op.batch_alter_table("placement_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_placement_totals_tenant_id"))
        batch_op.drop_index("ix_placement_totals_span_day")

    op.drop_table("placement_totals")
    with op.batch_alter_table("money_in_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_money_in_totals_tenant_id"))
        batch_op.drop_index(
            "ix_money_in_totals_span_day",
            postgresql_include=[
                "tenant_id",
                "collector_key",
                "payments",
                "collected_minor",
                "commission_minor",
            ],
        )

    op.drop_table("money_in_totals")
    with op.batch_alter_table("debtor_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debtor_totals_tenant_id"))
        batch_op.drop_index(
            "ix_debtor_totals_most_cases",
            postgresql_include=["debtor_key", "claimed_minor", "collected_minor"],
        )

    op.drop_table("debtor_totals")
    with op.batch_alter_table("case_stage_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_stage_totals_tenant_id"))

    op.drop_table("case_stage_totals")
    with op.batch_alter_table("case_event_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_totals_tenant_id"))
        batch_op.drop_index(
            "ix_case_event_totals_span_day",
            postgresql_include=[
                "source",
                "status",
                "collector_key",
                "events",
                "amount_minor",
                "outstanding_minor",
            ],
        )

    op.drop_table("case_event_totals")
    with op.batch_alter_table("call_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_totals_tenant_id"))
        batch_op.drop_index(
            "ix_call_totals_span_day", postgresql_include=["collector_key", "calls", "right_party"]
        )

    op.drop_table("call_totals")
