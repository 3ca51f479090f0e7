"""The one mechanism that keeps each tenant's data to itself.

Every ORM ``select`` that touches a tenant-owned model gets a
``with_loader_criteria`` filter for the tenants the session may see; a session that
has no scope set refuses to read or write tenant data at all (it fails closed) unless
the caller says so explicitly with ``unscoped(session)`` (CLI commands, jobs, the
debtor look-up that resolves a token to its case). Writes are checked in
``before_flush``, because loader criteria only cover reads.

``session.get()`` may return an object already in the identity map without any SQL,
so views load tenant data through ``scoped_get`` (a real SELECT), never ``get``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ForeignKey, event, inspect, select
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

from tenants.models import Tenant

SCOPE_KEY = "tenant_scope"
UNSCOPED_KEY = "tenant_unscoped_depth"


class TenantScopeMissing(RuntimeError):
    """Tenant data was touched by a session that was given no tenant scope."""


class TenantIsolationError(PermissionError):
    """A write would put data in, or move it to, a tenant outside the session's scope."""


@dataclass(frozen=True)
class TenantScope:
    """The tenants a session may see: ``tenant_ids=None`` means every tenant."""

    tenant_ids: frozenset[int] | None

    @classmethod
    def every_tenant(cls) -> TenantScope:
        return cls(None)

    @classmethod
    def only(cls, *tenant_ids: int) -> TenantScope:
        return cls(frozenset(tenant_ids))

    def allows(self, tenant_id: int | None) -> bool:
        if self.tenant_ids is None:
            return True
        return tenant_id is not None and tenant_id in self.tenant_ids

    @property
    def single_tenant_id(self) -> int | None:
        if self.tenant_ids is not None and len(self.tenant_ids) == 1:
            return next(iter(self.tenant_ids))
        return None


class TenantOwned:
    """Mixin for every model whose rows belong to exactly one tenant."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.id"), index=True)


def set_scope(session: Session, scope: TenantScope | None) -> None:
    if scope is None:
        session.info.pop(SCOPE_KEY, None)
    else:
        session.info[SCOPE_KEY] = scope


def current_scope(session: Session) -> TenantScope | None:
    scope: TenantScope | None = session.info.get(SCOPE_KEY)
    return scope


@contextmanager
def unscoped(session: Session) -> Iterator[Session]:
    """Read and write across tenants inside this block only (say why at each use)."""
    session.info[UNSCOPED_KEY] = session.info.get(UNSCOPED_KEY, 0) + 1
    try:
        yield session
    finally:
        session.info[UNSCOPED_KEY] -= 1


def _is_unscoped(session: Session) -> bool:
    return bool(session.info.get(UNSCOPED_KEY, 0))


def _is_tenant_data(cls: type) -> bool:
    return issubclass(cls, TenantOwned | Tenant)


@event.listens_for(Session, "do_orm_execute")
def _scope_reads(state: ORMExecuteState) -> None:
    if not state.is_select or state.is_column_load:
        return
    if state.execution_options.get("unscoped") or _is_unscoped(state.session):
        return
    scope = current_scope(state.session)
    if scope is None:
        if any(_is_tenant_data(mapper.class_) for mapper in state.all_mappers):
            raise TenantScopeMissing("tenant data read with no tenant scope set")
        return
    if scope.tenant_ids is None:
        return
    allowed = tuple(sorted(scope.tenant_ids))
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id.in_(allowed),
            include_aliases=True,
        ),
        with_loader_criteria(Tenant, lambda cls: cls.id.in_(allowed), include_aliases=True),
    )


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    if _is_unscoped(session):
        return
    scope = current_scope(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if scope is None:
            raise TenantScopeMissing("tenant data written with no tenant scope set")
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = scope.single_tenant_id
        if not scope.allows(obj.tenant_id):
            raise TenantIsolationError(f"{type(obj).__name__} outside this session's tenants")
        if obj in session.dirty and _tenant_changed(obj):
            raise TenantIsolationError("an object cannot move to another tenant")


def _tenant_changed(obj: TenantOwned) -> bool:
    state = inspect(obj)
    return state is not None and bool(state.attrs.tenant_id.history.deleted)


ModelT = TypeVar("ModelT")


def scoped_get(session: Session, model: type[ModelT], object_id: int) -> ModelT | None:
    """Load by primary key through a SELECT, so the tenant filter always applies."""
    statement = select(model).where(model.id == object_id)  # type: ignore[attr-defined]
    return session.execute(statement).scalar_one_or_none()
