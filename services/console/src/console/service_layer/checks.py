"""Checks the console runs for marketers: each streams its receipts from the gate in the background, so
the page can show how far it has come while the gate decides batch after batch."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.adapters.apis import AbstractApis, ApiError
from console.domain.views import CheckTally, Problem

log = logging.getLogger(__name__)

#: Jobs kept per person (the oldest finished ones are forgotten first).
KEPT_PER_OWNER = 20


@dataclass
class CheckJob:
    """One check the console started: whose, on which campaign, how far, and its gate header at the end."""

    id: str
    owner: str
    campaign_id: str
    tally: CheckTally
    started_at: datetime
    state: str = "running"  # running | finished | failed
    header: dict[str, Any] = field(default_factory=dict)
    problem: Problem | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def check_id(self) -> str | None:
        """Returns the gate's check id once the gate sent its header."""
        value = self.header.get("check_id")
        return str(value) if value else None


class CheckJobs:
    """The checks this console process runs or ran, by job id; a job is visible to its owner only."""

    def __init__(self, apis: AbstractApis) -> None:
        self._apis = apis
        self._jobs: dict[str, CheckJob] = {}

    def start(self, *, token: str, owner: str, campaign_id: str, ids: Sequence[str]) -> CheckJob:
        """Starts streaming a check and returns its job at once."""
        job = CheckJob(
            id=uuid.uuid4().hex,
            owner=owner,
            campaign_id=campaign_id,
            tally=CheckTally(total=len(ids)),
            started_at=datetime.now(UTC),
        )
        self._forget_old(owner)
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job, token, ids))
        return job

    def get(self, job_id: str, owner: str) -> CheckJob | None:
        """Returns the owner's job, or None (unknown, or someone else's)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    async def _run(self, job: CheckJob, token: str, ids: Sequence[str]) -> None:
        try:
            async for line in self._apis.check_stream(token, job.campaign_id, ids):
                if "check_id" in line and "decision" not in line:
                    job.header = line
                else:
                    job.tally.add(line)
            job.state = "finished" if job.header else "failed"
            if not job.header:
                job.problem = Problem(
                    502, "The check ended early", "the gate's answer stopped before its end"
                )
        except ApiError as exc:
            job.state, job.problem = "failed", exc.problem
        except Exception as exc:  # noqa: BLE001 - the page shows the failure; the log names its class only.
            log.warning("check stream failed", extra={"error_class": type(exc).__name__})
            job.state = "failed"
            job.problem = Problem(
                502, "The check failed", f"{type(exc).__name__} while reading the gate's answer"
            )

    def _forget_old(self, owner: str) -> None:
        mine = sorted((j for j in self._jobs.values() if j.owner == owner), key=lambda j: j.started_at)
        for job in mine[: max(0, len(mine) - KEPT_PER_OWNER + 1)]:
            if job.state != "running":
                del self._jobs[job.id]

    async def aclose(self) -> None:
        """Cancels the checks still streaming (the gate keeps what it stored)."""
        for job in self._jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
