"""Who may open what: the fixed checks every view goes through.

Each blueprint declares its audience once (``require_audience``), so no view in it can
be reached by another kind of user; finer checks use ``roles_required``. Tenant data is
loaded with ``load_or_404``, which goes through the tenancy filter: another tenant's
object is simply not found.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, stream_with_context
from flask_login import current_user

from portal import db
from portal.extensions import login_manager
from portal.models import Role
from tenants.scoping import scoped_get, set_scope

ModelT = TypeVar("ModelT")
View = Callable[..., Any]


def _refuse_unless(roles: Collection[Role]) -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in roles:
        abort(403)
    return None


def require_audience(blueprint: Blueprint, roles: Collection[Role]) -> None:
    """Every request to this blueprint needs a signed-in user with one of these roles."""
    blueprint.before_request(lambda: _refuse_unless(roles))


def roles_required(*roles: Role) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            return _refuse_unless(roles) or view(*args, **kwargs)

        return checked

    return decorator


def apply_tenant_scope() -> None:
    """Limit the session to the signed-in user's tenants (anonymous: none at all)."""
    scope = current_user.tenant_scope() if current_user.is_authenticated else None
    set_scope(db.session, scope)


def stream_in_scope(chunks: Iterator[str]) -> Iterator[str]:
    """Stream a response body that reads tenant data while it is sent.

    The request's session is gone by then (its teardown has run); the body is read in a
    new session that needs the user's scope again.
    """

    def scoped() -> Iterator[str]:
        apply_tenant_scope()
        yield from chunks

    return stream_with_context(scoped())


def load_or_404(model: type[ModelT], object_id: int) -> ModelT:
    found = scoped_get(db.session, model, object_id)
    if found is None:
        abort(404)
    return found


def load_on_case(model: type[ModelT], object_id: int, case_id: int) -> ModelT:
    """Something of a case (a document, a dispute, a plan...) named under that case's URL:
    404 when it belongs to another case, as when it does not exist."""
    found = load_or_404(model, object_id)
    if getattr(found, "case_id", None) != case_id:
        abort(404)
    return found
