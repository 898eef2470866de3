"""FastAPI dependencies of audit-log, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from shared.auth import Principal, require_roles

from audit_log.bootstrap import AuditLog
from audit_log.service_layer.unit_of_work import SqlAlchemyAuditUnitOfWork


def _service(request: Request) -> AuditLog:
    return request.app.state.service


def _uow(service: Annotated[AuditLog, Depends(_service)]) -> SqlAlchemyAuditUnitOfWork:
    return service.uow()


UnitOfWorkDep = Annotated[SqlAlchemyAuditUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[AuditLog, Depends(_service)]
# Because the log is the evidence auditors check against us: the operators (admin) do not read it.
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]
