"""FastAPI dependencies of contacts, declared once as Annotated aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from contacts.bootstrap import Contacts
from contacts.service_layer.unit_of_work import ContactsUnitOfWork
from shared.auth import Principal, authenticated, require_roles


# Dependencies are coroutines because FastAPI runs plain functions in a worker thread, a hop that
# cost more than the work of a create request.


async def _service(request: Request) -> Contacts:
    return request.app.state.service


async def _uow(service: Annotated[Contacts, Depends(_service)]) -> ContactsUnitOfWork:
    return service.uow()


def _roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """Returns the platform's role check as a coroutine (same roles, same error, same `vigie_roles`)."""
    check = require_roles(*roles)

    async def _check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        return check(principal)

    _check.vigie_roles = check.vigie_roles  # type: ignore[attr-defined]
    return _check


UnitOfWorkDep = Annotated[ContactsUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[Contacts, Depends(_service)]
ContactWriter = Annotated[Principal, Depends(_roles("integrator", "admin"))]
ContactReader = Annotated[Principal, Depends(_roles("integrator", "admin"))]
Admin = Annotated[Principal, Depends(_roles("admin"))]
