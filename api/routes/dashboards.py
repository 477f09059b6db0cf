"""Dashboards over REST: teachers, students, parents."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.exams import dashboards
from schema.models.dashboards import (
    ParentDashboard,
    StudentDashboard,
    TeacherDashboard,
    TeacherDashboardQuery,
)


@endpoint(
    "GET",
    "/dashboard/teacher",
    summary="Statistics of my organizations' exams",
    query=TeacherDashboardQuery,
    response=TeacherDashboard,
    tag="dashboards",
)
async def teacher(call: Call) -> dict[str, Any]:
    return await dashboards.teacher_dashboard(call.ctx, call.user, call.query)


@endpoint(
    "GET",
    "/dashboard/student",
    summary="My results and θ over time",
    response=StudentDashboard,
    tag="dashboards",
)
async def student(call: Call) -> dict[str, Any]:
    return await dashboards.student_dashboard(call.ctx, call.user)


@endpoint(
    "GET",
    "/dashboard/parent",
    summary="My linked children's results",
    response=ParentDashboard,
    tag="dashboards",
)
async def parent(call: Call) -> dict[str, Any]:
    return await dashboards.parent_dashboard(call.ctx, call.user)


ENDPOINTS = [teacher, student, parent]
