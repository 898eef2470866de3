"""FastAPI dependencies of contacts, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from shared.auth import Principal, require_roles

from contacts.bootstrap import Contacts
from contacts.entrypoints.import_pool import RowPreparer
from contacts.service_layer.rights_desk import RightsDesk
from contacts.service_layer.unit_of_work import ContactsUnitOfWork

# Dependencies are coroutines because FastAPI runs plain functions in a worker thread, a hop that
# cost more than the work of a create request.


async def _service(request: Request) -> Contacts:
    return request.app.state.service


async def _uow(request: Request) -> ContactsUnitOfWork:
    # From the request, not from the `_service` dependency: one dependency fewer to solve per request.
    service: Contacts = request.app.state.service
    return service.uow()


async def _preparer(request: Request) -> RowPreparer:
    return request.app.state.import_preparer


async def _desk(service: Annotated[Contacts, Depends(_service)]) -> RightsDesk:
    return service.desk


UnitOfWorkDep = Annotated[ContactsUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[Contacts, Depends(_service)]
DeskDep = Annotated[RightsDesk, Depends(_desk)]
PreparerDep = Annotated[RowPreparer, Depends(_preparer)]
ContactWriter = Annotated[Principal, Depends(require_roles("integrator", "admin"))]
ContactReader = Annotated[Principal, Depends(require_roles("integrator", "admin"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
#: The DPO's tools, which file and follow data-subject requests.
DpoTools = Annotated[Principal, Depends(require_roles("integrator", "admin"))]
#: A human who reviews contested automated decisions (Art. 22(3)): the DPO or legal reviewer.
HumanReviewer = Annotated[Principal, Depends(require_roles("reviewer", "admin"))]
