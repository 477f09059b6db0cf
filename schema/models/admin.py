"""Wire models of platform administration: zone administrators."""

from __future__ import annotations

from uuid import UUID

from schema.models.common import Response


class ZoneAdminOut(Response):
    zone_id: UUID
    user_id: UUID


class ZoneAdminList(Response):
    items: list[ZoneAdminOut]
