"""FastAPI dependencies of campaign-gate, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from shared.auth import Principal, require_roles

from campaign_gate.bootstrap import CampaignGate
from campaign_gate.service_layer.unit_of_work import AbstractGateUnitOfWork


def _service(request: Request) -> CampaignGate:
    return request.app.state.service


def _uow(service: Annotated[CampaignGate, Depends(_service)]) -> AbstractGateUnitOfWork:
    return service.uow()


UnitOfWorkDep = Annotated[AbstractGateUnitOfWork, Depends(_uow)]
ServiceDep = Annotated[CampaignGate, Depends(_service)]
#: Marketers draft, submit and check campaigns.
Marketer = Annotated[Principal, Depends(require_roles("marketer"))]
#: Only reviewers approve or reject.
Reviewer = Annotated[Principal, Depends(require_roles("reviewer"))]
#: Suppression lists are the administrators'.
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Reader = Annotated[Principal, Depends(require_roles("marketer", "reviewer", "admin", "auditor"))]
#: Receipts are read by whoever checks campaigns and by auditors (who verify them against the audit log).
ReceiptReader = Annotated[Principal, Depends(require_roles("marketer", "auditor"))]
