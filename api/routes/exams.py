"""Exams over REST: the item bank, exams, attempts and results."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.exams import attempts, bank, exams, recalibrate, results
from schema.models.exams import (
    AnswerAck,
    AnswerBody,
    AttemptOut,
    DriftReview,
    ExamCreate,
    ExamList,
    ExamListQuery,
    ExamOut,
    ExamResults,
    ExamSubmit,
    ExamUpdate,
    ItemCreate,
    ItemList,
    ItemListQuery,
    ItemOut,
    ItemUpdate,
    ParameterHistory,
    Queued,
    RecalibrateRequest,
    ResultsQuery,
)


@endpoint(
    "POST",
    "/items",
    summary="Write an item",
    body=ItemCreate,
    response=ItemOut,
    status=201,
    tag="items",
)
async def create_item(call: Call) -> dict[str, Any]:
    return await bank.create_item(call.ctx, call.user, call.body)


@endpoint(
    "GET",
    "/items",
    summary="Items of an organization",
    query=ItemListQuery,
    response=ItemList,
    tag="items",
)
async def list_items(call: Call) -> dict[str, Any]:
    return {"items": await bank.list_items(call.ctx, call.user, call.query)}


@endpoint(
    "GET",
    "/items/{item_id}",
    summary="One item, with key and parameters",
    response=ItemOut,
    tag="items",
)
async def get_item(call: Call) -> dict[str, Any]:
    return await bank.get_item(call.ctx, call.user, call.path_uuid("item_id"))


@endpoint(
    "PUT",
    "/items/{item_id}",
    summary="Change an item",
    body=ItemUpdate,
    response=ItemOut,
    tag="items",
)
async def update_item(call: Call) -> dict[str, Any]:
    return await bank.update_item(call.ctx, call.user, call.path_uuid("item_id"), call.body)


@endpoint("DELETE", "/items/{item_id}", summary="Retire an item", tag="items")
async def retire_item(call: Call) -> None:
    await bank.retire_item(call.ctx, call.user, call.path_uuid("item_id"))


@endpoint(
    "GET",
    "/items/{item_id}/parameters",
    summary="An item's parameter versions",
    response=ParameterHistory,
    tag="items",
)
async def parameter_history(call: Call) -> dict[str, Any]:
    return await bank.parameter_history(call.ctx, call.user, call.path_uuid("item_id"))


@endpoint(
    "POST",
    "/items/{item_id}/parameters/review",
    summary="Accept or reject drifted parameters",
    body=DriftReview,
    response=ItemOut,
    tag="items",
)
async def review_drift(call: Call) -> dict[str, Any]:
    body: DriftReview = call.body
    return await bank.review_drift(
        call.ctx, call.user, call.path_uuid("item_id"), body.version, body.accept
    )


@endpoint(
    "POST",
    "/items/recalibrate",
    summary="Re-estimate the organization's item parameters in the background",
    body=RecalibrateRequest,
    response=Queued,
    status=202,
    tag="items",
)
async def request_recalibration(call: Call) -> dict[str, Any]:
    body: RecalibrateRequest = call.body
    return {"queued": await recalibrate.request_recalibration(call.ctx, call.user, body.org_id)}


@endpoint(
    "POST",
    "/exams",
    summary="Create an exam",
    body=ExamCreate,
    response=ExamOut,
    status=201,
    tag="exams",
)
async def create_exam(call: Call) -> dict[str, Any]:
    return await exams.create_exam(call.ctx, call.user, call.body)


@endpoint(
    "GET",
    "/exams",
    summary="Exams of my organizations",
    query=ExamListQuery,
    response=ExamList,
    tag="exams",
)
async def list_exams(call: Call) -> dict[str, Any]:
    return {"items": await exams.list_exams(call.ctx, call.user, call.query)}


@endpoint("GET", "/exams/{exam_id}", summary="One exam", response=ExamOut, tag="exams")
async def get_exam(call: Call) -> dict[str, Any]:
    return await exams.get_exam(call.ctx, call.user, call.path_uuid("exam_id"))


@endpoint(
    "PATCH",
    "/exams/{exam_id}",
    summary="Rename, move the window, allow attempts, release the review",
    body=ExamUpdate,
    response=ExamOut,
    tag="exams",
)
async def update_exam(call: Call) -> dict[str, Any]:
    return await exams.update_exam(call.ctx, call.user, call.path_uuid("exam_id"), call.body)


@endpoint("DELETE", "/exams/{exam_id}", summary="Delete an exam nobody has sat", tag="exams")
async def delete_exam(call: Call) -> None:
    await exams.delete_exam(call.ctx, call.user, call.path_uuid("exam_id"))


@endpoint(
    "POST",
    "/exams/{exam_id}/attempts",
    summary="Start an attempt",
    response=AttemptOut,
    status=201,
    tag="exams",
)
async def start_attempt(call: Call) -> dict[str, Any]:
    return await attempts.start_attempt(call.ctx, call.user, call.path_uuid("exam_id"))


@endpoint(
    "GET",
    "/exams/{exam_id}/attempts/current",
    summary="My latest attempt at this exam",
    response=AttemptOut,
    tag="exams",
)
async def current_attempt(call: Call) -> dict[str, Any]:
    return await attempts.current_attempt(call.ctx, call.user, call.path_uuid("exam_id"))


@endpoint(
    "GET",
    "/attempts/{attempt_id}",
    summary="My attempt: time left, next question",
    response=AttemptOut,
    tag="exams",
)
async def get_attempt(call: Call) -> dict[str, Any]:
    return await attempts.get_attempt(call.ctx, call.user, call.path_uuid("attempt_id"))


@endpoint(
    "POST",
    "/attempts/{attempt_id}/answers",
    summary="Answer a question",
    body=AnswerBody,
    response=AnswerAck,
    status=201,
    tag="exams",
)
async def answer(call: Call) -> dict[str, Any]:
    return await attempts.answer(call.ctx, call.user, call.path_uuid("attempt_id"), call.body)


@endpoint(
    "POST",
    "/exams/{exam_id}/submit",
    summary="Hand in my attempt",
    query=ExamSubmit,
    response=AttemptOut,
    tag="exams",
)
async def submit(call: Call) -> dict[str, Any]:
    query: ExamSubmit = call.query
    return await attempts.submit(call.ctx, call.user, call.path_uuid("exam_id"), query.attempt_id)


@endpoint(
    "GET",
    "/exams/{exam_id}/results",
    summary="Results: all (staff), mine, my children's",
    query=ResultsQuery,
    response=ExamResults,
    tag="exams",
)
async def exam_results(call: Call) -> dict[str, Any]:
    return await results.exam_results(call.ctx, call.user, call.path_uuid("exam_id"), call.query)


ENDPOINTS = [
    create_item,
    list_items,
    get_item,
    update_item,
    retire_item,
    parameter_history,
    review_drift,
    request_recalibration,
    create_exam,
    list_exams,
    get_exam,
    update_exam,
    delete_exam,
    start_attempt,
    current_attempt,
    get_attempt,
    answer,
    submit,
    exam_results,
]
