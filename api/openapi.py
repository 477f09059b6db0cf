"""Builds the OpenAPI document from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.endpoint import Endpoint
from schema.models.common import ErrorEnvelope

_PATH_PARAM = re.compile(r"{(\w+)}")
_REF = "#/components/schemas/{model}"
# Path parameters are UUIDs, except these (the document must say what the route accepts).
_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "report_id": {"type": "string", "pattern": "^[0-9]{1,18}$"},
    "token": {"type": "string", "minLength": 20, "maxLength": 4096, "pattern": r"^[\w:.\-]+$"},
}
_UUID = {"type": "string", "format": "uuid"}


def build_openapi(endpoints: list[Endpoint], prefix: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for ep in endpoints:
        models.update(m for m in (ep.body, ep.response) if m is not None)
    keyed = [
        (m, "validation" if _is_request(m, endpoints) else "serialization")
        for m in sorted(models, key=lambda m: m.__name__)
    ]
    _, schema = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(prefix + ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": "DreamSeed Hub API", "version": version},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _is_request(model: type[BaseModel], endpoints: list[Endpoint]) -> bool:
    return any(ep.body is model for ep in endpoints)


def _operation(ep: Endpoint) -> dict[str, Any]:
    error = {
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorEnvelope")}}}
    }
    op: dict[str, Any] = {
        "operationId": f"{ep.handler.__module__.rsplit('.', 1)[-1]}_{ep.handler.__name__}",
        "summary": ep.summary,
        "tags": ep.tags,
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _PARAM_SCHEMAS.get(name, _UUID),
            }
            for name in _PATH_PARAM.findall(ep.path)
        ],
        "responses": {
            "4XX": {"description": "Refused", **error},
            # Any route, while PostgreSQL or Redis is down (and the tutor, when not configured).
            "503": {"description": "Unavailable: retry after Retry-After", **error},
        },
    }
    if ep.query is not None:
        props = ep.query.model_json_schema()["properties"]
        required = set(ep.query.model_json_schema().get("required", []))
        op["parameters"] += [
            {"name": n, "in": "query", "required": n in required, "schema": s}
            for n, s in props.items()
        ]
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=ep.body.__name__)}}
            },
        }
    if ep.response is not None:
        op["responses"][str(ep.status)] = {
            "description": "OK",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=ep.response.__name__)}}
            },
        }
    elif ep.raw:
        for status, media_type in ep.raw.items():
            reply: dict[str, Any] = {"description": "OK"}
            if media_type:
                reply["content"] = {media_type: {"schema": {}}}
            op["responses"][str(status)] = reply
    else:
        op["responses"]["204"] = {"description": "Done"}
    if ep.auth:
        op["security"] = [{"bearer": []}]
    return op
