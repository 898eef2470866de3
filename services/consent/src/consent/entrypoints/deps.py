"""FastAPI dependencies of consent, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from shared.auth import Principal, require_roles

from consent.bootstrap import ConsentService
from consent.service_layer.unit_of_work import ConsentUnitOfWork


def _service(request: Request) -> ConsentService:
    return request.app.state.service


def _uow(service: Annotated[ConsentService, Depends(_service)]) -> ConsentUnitOfWork:
    return service.uow()


UnitOfWorkDep = Annotated[ConsentUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[ConsentService, Depends(_service)]
#: CRM and forms record consents, notice deliveries and objections.
IntegratorWriter = Annotated[Principal, Depends(require_roles("integrator"))]
#: Purposes, notices and processors are the DPO's and administrators' to change.
AdminWriter = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("integrator", "admin", "reviewer", "marketer"))]
#: Auditors read the register, the parties and their contracts too (exports for the CNIL or a DPO).
AuditReader = Annotated[
    Principal, Depends(require_roles("integrator", "admin", "reviewer", "marketer", "auditor"))
]
#: The breach register is the DPO's: the `reviewer` role (DPO / legal, SPEC §8) records and completes it,
#: administrators too; there is no separate DPO role.
DpoWriter = Annotated[Principal, Depends(require_roles("reviewer", "admin"))]
#: The DPO, administrators and auditors read the breach register.
DpoReader = Annotated[Principal, Depends(require_roles("reviewer", "admin", "auditor"))]
