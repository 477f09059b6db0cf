"""Base classes of every wire model: strict about unknown fields, bounded strings."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class Request(BaseModel):
    """A body the client sends: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Response(BaseModel):
    # Fields a domain row carries beyond the declared ones are dropped, never sent.
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class ErrorBody(Response):
    code: str
    message: str


class ErrorEnvelope(Response):
    error: ErrorBody


class Ok(Response):
    ok: bool = True


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
