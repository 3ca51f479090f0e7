"""SQLAlchemy models, one module per aggregate. Importing this package maps them all."""

from portal.models.activity import Activity, ActivityKind
from portal.models.api import ApiKey, IdempotentResponse
from portal.models.append_only import AppendOnlyError
from portal.models.audit import AuditEntry
from portal.models.case import Case, Closure, HoldReason, Invoice, Stage
from portal.models.collection import (
    Dispute,
    DisputeEvidence,
    DisputeStatus,
    LetterTemplate,
    Party,
    PromiseStatus,
    PromiseToPay,
    Settlement,
    SettlementStatus,
)
from portal.models.debtor import Debtor, DebtorContact, DebtorKind
from portal.models.document import Document, DocumentKind, DocumentStatus
from portal.models.early import CheckStatus, InvoiceCheck
from portal.models.imports import ImportBatch, ImportRowError, ImportStatus
from portal.models.interest import LatePaymentRule
from portal.models.invitation import Invitation
from portal.models.ledger import EntryKind, LedgerEntry
from portal.models.legal import (
    CostBearer,
    DeclineOutcome,
    EnforcementAction,
    EnforcementKind,
    EnforcementStatus,
    Hearing,
    Judgment,
    Lawyer,
    LegalCost,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
)
from portal.models.message import CaseMessage
from portal.models.notification import (
    Delivery,
    Notification,
    NotificationDigest,
    NotificationKind,
    NotificationPreference,
)
from portal.models.outbox import OutboxMessage
from portal.models.payment import (
    Checkout,
    CheckoutPurpose,
    CheckoutStatus,
    ClaimPart,
    Frequency,
    Instalment,
    InstalmentStatus,
    PaymentAllocation,
    PaymentPlan,
    PlanStatus,
    ProviderEvent,
)
from portal.models.rollup import (
    DAY,
    MONTH,
    NO_COLLECTOR,
    CallTotal,
    CaseEventTotal,
    CaseStageTotal,
    DebtorTotal,
    MoneyInTotal,
    PlacementTotal,
)
from portal.models.security import PasswordReset, RecoveryCode
from portal.models.statement import RemittanceStatement, StatementLine, StatementLineKind
from portal.models.user import CREDITOR_ROLES, STAFF_ROLES, Role, StaffTenantAccess, User
from tenants.models import Tenant, TenantStatus

__all__ = [
    "CREDITOR_ROLES",
    "DAY",
    "MONTH",
    "NO_COLLECTOR",
    "STAFF_ROLES",
    "Activity",
    "ActivityKind",
    "ApiKey",
    "AppendOnlyError",
    "AuditEntry",
    "CallTotal",
    "Case",
    "CaseEventTotal",
    "CaseMessage",
    "CaseStageTotal",
    "CheckStatus",
    "Checkout",
    "CheckoutPurpose",
    "CheckoutStatus",
    "ClaimPart",
    "Closure",
    "CostBearer",
    "Debtor",
    "DebtorContact",
    "DebtorKind",
    "DebtorTotal",
    "DeclineOutcome",
    "Delivery",
    "Dispute",
    "DisputeEvidence",
    "DisputeStatus",
    "Document",
    "DocumentKind",
    "DocumentStatus",
    "EnforcementAction",
    "EnforcementKind",
    "EnforcementStatus",
    "EntryKind",
    "Frequency",
    "Hearing",
    "HoldReason",
    "IdempotentResponse",
    "ImportBatch",
    "ImportRowError",
    "ImportStatus",
    "Instalment",
    "InstalmentStatus",
    "Invitation",
    "Invoice",
    "InvoiceCheck",
    "Judgment",
    "LatePaymentRule",
    "Lawyer",
    "LedgerEntry",
    "LegalCost",
    "LegalProceeding",
    "LegalRequest",
    "LegalRequestStatus",
    "LetterTemplate",
    "MoneyInTotal",
    "Notification",
    "NotificationDigest",
    "NotificationKind",
    "NotificationPreference",
    "OutboxMessage",
    "Party",
    "PasswordReset",
    "PaymentAllocation",
    "PaymentPlan",
    "PlacementTotal",
    "PlanStatus",
    "PromiseStatus",
    "PromiseToPay",
    "ProviderEvent",
    "RecoveryCode",
    "RemittanceStatement",
    "Role",
    "Settlement",
    "SettlementStatus",
    "StaffTenantAccess",
    "Stage",
    "StatementLine",
    "StatementLineKind",
    "Tenant",
    "TenantStatus",
    "User",
]
