"""FastAPI dependencies of contacts, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from contacts.bootstrap import Contacts
from contacts.service_layer.unit_of_work import ContactsUnitOfWork
from shared.auth import Principal, require_roles


# Dependencies are coroutines because FastAPI runs plain functions in a worker thread, a hop that
# cost more than the work of a create request.


async def _service(request: Request) -> Contacts:
    return request.app.state.service


async def _uow(service: Annotated[Contacts, Depends(_service)]) -> ContactsUnitOfWork:
    return service.uow()


UnitOfWorkDep = Annotated[ContactsUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[Contacts, Depends(_service)]
ContactWriter = Annotated[Principal, Depends(require_roles("integrator", "admin"))]
ContactReader = Annotated[Principal, Depends(require_roles("integrator", "admin"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
