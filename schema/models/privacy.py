"""Wire models of the data-protection rights: erasure proofs, export requests, job payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints

from schema.models.common import Request, Response


class ErasureOut(Response):
    id: UUID
    status: Literal["requested", "running", "done"]
    requested_role: Literal["self", "org_admin", "zone_admin", "sys_admin"]
    subject_hash: str
    counts: dict[str, int]
    requested_at: datetime
    finished_at: datetime | None


class ExportRequest(Request):
    """Whose data: the caller's (default) or a linked child's (a parent of a minor)."""

    user_id: UUID | None = None


class ExportOut(Response):
    id: UUID
    status: Literal["queued", "ready", "failed"]
    requested_at: datetime


class JobIds(BaseModel):
    """A privacy job's payload: the id of the erasure or export it works on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: UUID


class ExportDownload(Request):
    token: Annotated[str, StringConstraints(min_length=20, max_length=100)]
