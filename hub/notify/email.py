"""E-mail over SMTP: compose a text + HTML message, send a batch over one connection.

Each message of a batch gets its own outcome: `ok`; `retry` for a temporary refusal (4xx) or a
lost connection; `failed` for a permanent refusal (5xx). A connection closed by the server
(421) is reopened for the rest of the batch. Addresses are personal data: logs name messages
by Message-ID only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponseException,
)

from hub.clock import utc_now
from hub.notify.templates import RenderedEmail

logger = logging.getLogger("dreamseed.email")

DEFAULT_SENDER = "DreamSeed <no-reply@dreamseed.kr>"
SERVICE_CLOSING = 421


class Outcome(StrEnum):
    OK = "ok"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # e-mail is off: no SMTP host configured


@dataclass(frozen=True, slots=True)
class EmailResult:
    message_id: str
    outcome: Outcome
    code: int | None = None
    detail: str = ""


class EmailDeliveryError(Exception):
    """A message was not accepted; `temporary` says whether sending it again may work."""

    def __init__(self, result: EmailResult) -> None:
        super().__init__(
            f"E-mail {result.message_id} was not sent ({result.outcome}, "
            f"code {result.code}): {result.detail}"
        )
        self.result = result

    @property
    def temporary(self) -> bool:
        return self.result.outcome is Outcome.RETRY


def compose_email(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: str,
    to_name: str | None = None,
    unsubscribe_url: str,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML); headers are encoded when sent."""
    from_address = _parse_address(sender)
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = from_address
    message["To"] = Address(display_name=to_name or "", addr_spec=to)
    message["Date"] = format_datetime(sent_at or utc_now())
    message["Message-ID"] = make_msgid(domain=from_address.domain)
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    # RFC 3834: tells vacation responders not to answer a no-reply address.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the content: setting content drops every Content-* header.
    message["Content-Language"] = rendered.language
    return message


class EmailSender:
    """Sends over SMTP; with no host configured it is off and sends nothing."""

    def __init__(
        self,
        host: str | None,
        port: int,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        sender: str = DEFAULT_SENDER,
        timeout: float = 10,
    ) -> None:
        _parse_address(sender)
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.sender = sender
        self.timeout = timeout
        self._told_disabled = False

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def compose(
        self,
        rendered: RenderedEmail,
        *,
        to: str,
        to_name: str | None = None,
        unsubscribe_url: str,
        sent_at: datetime | None = None,
    ) -> EmailMessage:
        return compose_email(
            rendered,
            sender=self.sender,
            to=to,
            to_name=to_name,
            unsubscribe_url=unsubscribe_url,
            sent_at=sent_at,
        )

    async def send(self, message: EmailMessage) -> None:
        """Send one message; raise `EmailDeliveryError` if the server did not take it."""
        (result,) = await self.send_many([message])
        if result.outcome in (Outcome.RETRY, Outcome.FAILED):
            raise EmailDeliveryError(result)

    async def send_many(self, messages: Sequence[EmailMessage]) -> list[EmailResult]:
        """Send over one connection; one result per message, in order."""
        if not self.enabled:
            self._tell_disabled()
            return [_result(m, Outcome.SKIPPED, detail="no SMTP host") for m in messages]
        results: list[EmailResult] = []
        client = SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )
        try:
            for index, message in enumerate(messages):
                if not client.is_connected:
                    try:
                        await client.connect()
                    except (SMTPException, OSError) as exc:
                        # Our server or our configuration, not the messages: all may retry.
                        logger.warning("SMTP %s:%s unreachable: %r", self.host, self.port, exc)
                        code = exc.code if isinstance(exc, SMTPResponseException) else None
                        results.extend(
                            _result(m, Outcome.RETRY, code, str(exc)) for m in messages[index:]
                        )
                        break
                result = await _deliver(client, message)
                if result.code == SERVICE_CLOSING:
                    client.close()  # the server hangs up after a 421; open a new connection
                results.append(result)
        finally:
            await _close(client)
        return results

    def _tell_disabled(self) -> None:
        if not self._told_disabled:
            self._told_disabled = True
            logger.warning("E-mail is off: no SMTP host is configured, nothing will be sent")


async def _deliver(client: SMTP, message: EmailMessage) -> EmailResult:
    try:
        refused, reply = await client.send_message(message)
    except SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        code = min(codes)  # a temporary refusal (4xx) makes the message worth retrying
        detail = "; ".join(r.message for r in exc.recipients)
        result = _result(message, _outcome_of(code), code, detail)
    except SMTPResponseException as exc:
        result = _result(message, _outcome_of(exc.code), exc.code, exc.message)
    except OSError as exc:  # lost connection or timeout, aiosmtplib's included
        result = _result(message, Outcome.RETRY, None, repr(exc))
    except (SMTPException, ValueError) as exc:  # e.g. SMTPUTF8 needed, no recipient header
        result = _result(message, Outcome.FAILED, None, repr(exc))
    else:
        detail = f"{reply}; {len(refused)} recipient(s) refused" if refused else reply
        return _result(message, Outcome.OK, 250, detail)
    logger.warning(
        "e-mail %s %s: %s %s", result.message_id, result.outcome, result.code, result.detail
    )
    return result


async def _close(client: SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (SMTPException, OSError):
            client.close()


def _outcome_of(code: int) -> Outcome:
    return Outcome.FAILED if 500 <= code < 600 else Outcome.RETRY


def _result(
    message: EmailMessage, outcome: Outcome, code: int | None = None, detail: str = ""
) -> EmailResult:
    return EmailResult(str(message.get("Message-ID", "")), outcome, code, detail)


def _parse_address(value: str) -> Address:
    probe = EmailMessage()
    try:
        probe["From"] = value
        (address,) = probe["From"].addresses
    except ValueError as exc:
        raise ValueError(f"Sender '{value}' is not one e-mail address.") from exc
    if not isinstance(address, Address) or not address.domain:
        raise ValueError(f"Sender '{value}' has no domain.")
    return address
