"""E-mail: templates in Korean and English, and delivery to a local aiosmtpd server."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from hub.notify import templates
from hub.notify.email import EmailDeliveryError, EmailSender, Outcome
from hub.notify.templates import DigestConversation, RenderedEmail

LINK = "https://app.dreamseed.kr/c/42"
SETTINGS_URL = "https://app.dreamseed.kr/settings/notifications"
HOSTILE = '<script>alert("x")</script> & <b>'


@dataclass(frozen=True)
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


class Recorder:
    """An aiosmtpd handler that keeps what arrives and refuses the addresses it is told to."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.peers: list[Any] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}

    @property
    def connections(self) -> int:
        return len(set(self.peers))

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.peers.append(session.peer)
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.data_replies:
                return self.data_replies[address]
        assert envelope.mail_from is not None
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(session.peer, envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller on a port the OS picks (it would otherwise probe port 0)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@pytest.fixture
def smtpd() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = _Controller(recorder, hostname="127.0.0.1", port=0, server_hostname="localhost")
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


def _sender(port: int) -> EmailSender:
    return EmailSender("127.0.0.1", port, timeout=5)


def _announcement(language: str, body: str = "준비물은 도시락과 물입니다.") -> RenderedEmail:
    return templates.announcement(
        language,
        school_name="서울꿈씨초등학교",
        teacher_name="김민수",
        title="내일 현장 체험 학습 안내",
        body=body,
        link=LINK,
        settings_url=SETTINGS_URL,
    )


def _note(sender: EmailSender, to: str) -> EmailMessage:
    rendered = templates.link_answer(
        "ko", student_name="이서연", status="approved", link=LINK, settings_url=SETTINGS_URL
    )
    return sender.compose(rendered, to=to, unsubscribe_url=SETTINGS_URL)


def _parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): cast(EmailMessage, part).get_content()
        for part in message.iter_parts()
    }


async def test_korean_announcement_arrives_encoded(smtpd: tuple[Recorder, int]) -> None:
    """A Korean announcement reaches its recipient with an RFC 2047 subject, text and HTML."""
    recorder, port = smtpd
    sender = _sender(port)
    sent = sender.compose(
        _announcement("ko"), to="parent@example.com", to_name="박지은", unsubscribe_url=SETTINGS_URL
    )
    await sender.send(sent)

    (received,) = recorder.received
    assert received.rcpt_tos == ["parent@example.com"]
    assert received.mail_from == "no-reply@dreamseed.kr"
    subject_line = next(line for line in received.raw.splitlines() if line.startswith(b"Subject:"))
    assert subject_line.isascii() and b"=?utf-8?" in subject_line
    message = received.message
    assert message["Subject"] == "[서울꿈씨초등학교] 새 공지: 내일 현장 체험 학습 안내"
    assert message["To"].addresses[0].display_name == "박지은"
    assert message["To"].addresses[0].addr_spec == "parent@example.com"
    assert message["From"].addresses[0].display_name == "DreamSeed"
    assert message["Message-ID"] == sent["Message-ID"]
    assert message["Message-ID"].endswith("@dreamseed.kr>")
    assert message["List-Unsubscribe"] == f"<{SETTINGS_URL}>"
    assert message["Content-Language"] == "ko"
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert list(parts) == ["text/plain", "text/html"]
    assert "김민수 선생님이 새 공지를 올렸습니다." in parts["text/plain"]
    assert f"공지 보기: {LINK}" in parts["text/plain"]
    assert '<html lang="ko">' in parts["text/html"]
    assert "준비물은 도시락과 물입니다." in parts["text/html"]


async def test_english_user_gets_english_email(smtpd: tuple[Recorder, int]) -> None:
    """Language 'en' gives the English subject, bodies and Content-Language."""
    recorder, port = smtpd
    sender = _sender(port)
    await sender.send(
        sender.compose(_announcement("en"), to="mom@example.com", unsubscribe_url=SETTINGS_URL)
    )

    message = recorder.received[0].message
    assert message["Subject"] == "[서울꿈씨초등학교] New announcement: 내일 현장 체험 학습 안내"
    assert message["Content-Language"] == "en"
    parts = _parts(message)
    assert "김민수 at 서울꿈씨초등학교 posted a new announcement." in parts["text/plain"]
    assert '<html lang="en">' in parts["text/html"]
    assert "View announcement" in parts["text/html"]


async def test_script_in_message_is_escaped_in_html(smtpd: tuple[Recorder, int]) -> None:
    """A `<script>` in an announcement reaches the HTML part escaped, the text part verbatim."""
    recorder, port = smtpd
    sender = _sender(port)
    rendered = _announcement("ko", body=HOSTILE)
    await sender.send(sender.compose(rendered, to="p@example.com", unsubscribe_url=SETTINGS_URL))

    parts = _parts(recorder.received[0].message)
    assert "<script" not in parts["text/html"] and "<b>" not in parts["text/html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in parts["text/html"]
    assert HOSTILE in parts["text/plain"]


async def test_send_many_uses_one_connection(smtpd: tuple[Recorder, int]) -> None:
    """A batch of three goes over a single SMTP connection, each to its own recipient."""
    recorder, port = smtpd
    sender = _sender(port)
    addresses = ["a@example.com", "b@example.com", "c@example.com"]

    results = await sender.send_many([_note(sender, to) for to in addresses])

    assert [r.outcome for r in results] == [Outcome.OK] * 3
    assert [r.rcpt_tos for r in recorder.received] == [[to] for to in addresses]
    assert recorder.connections == 1
    assert len({r.message["Message-ID"] for r in recorder.received}) == 3


async def test_refusals_become_retry_or_failed(smtpd: tuple[Recorder, int]) -> None:
    """4xx refusals come back as retry, 5xx as failed, and the batch goes on on one connection."""
    recorder, port = smtpd
    recorder.rcpt_replies["busy@example.com"] = "451 4.7.1 Greylisted, try again later"
    recorder.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    recorder.data_replies["full@example.com"] = "452 4.2.2 Mailbox full"
    recorder.data_replies["spam@example.com"] = "554 5.7.1 Rejected as spam"
    sender = _sender(port)
    addresses = ["ok@example.com", "busy@example.com", "gone@example.com"]
    addresses += ["full@example.com", "spam@example.com", "last@example.com"]
    messages = [_note(sender, to) for to in addresses]

    results = await sender.send_many(messages)

    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.OK, 250),
        (Outcome.RETRY, 451),
        (Outcome.FAILED, 550),
        (Outcome.RETRY, 452),
        (Outcome.FAILED, 554),
        (Outcome.OK, 250),
    ]
    assert [r.message_id for r in results] == [m["Message-ID"] for m in messages]
    assert [r.rcpt_tos for r in recorder.received] == [["ok@example.com"], ["last@example.com"]]
    assert recorder.connections == 1


async def test_send_raises_with_temporary_flag(smtpd: tuple[Recorder, int]) -> None:
    """send() raises EmailDeliveryError, temporary for 451 and permanent for 550."""
    recorder, port = smtpd
    recorder.rcpt_replies["busy@example.com"] = "451 4.3.0 Try again later"
    recorder.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    sender = _sender(port)

    with pytest.raises(EmailDeliveryError) as busy:
        await sender.send(_note(sender, "busy@example.com"))
    with pytest.raises(EmailDeliveryError) as gone:
        await sender.send(_note(sender, "gone@example.com"))

    assert busy.value.temporary and busy.value.result.code == 451
    assert not gone.value.temporary and gone.value.result.code == 550
    assert recorder.received == []


async def test_server_closing_connection_is_reopened(smtpd: tuple[Recorder, int]) -> None:
    """After a 421 the server's connection is gone: that message retries, the rest go on anew."""
    recorder, port = smtpd
    recorder.data_replies["first@example.com"] = "421 4.3.2 Service shutting down"
    sender = _sender(port)

    results = await sender.send_many(
        [_note(sender, "first@example.com"), _note(sender, "second@example.com")]
    )

    assert [(r.outcome, r.code) for r in results] == [(Outcome.RETRY, 421), (Outcome.OK, 250)]
    assert [r.rcpt_tos for r in recorder.received] == [["second@example.com"]]
    assert recorder.connections == 2


async def test_unreachable_server_means_retry_for_all() -> None:
    """When nothing listens on the SMTP port every message of the batch comes back as retry."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = _sender(port)

    results = await sender.send_many([_note(sender, "a@example.com"), _note(sender, "b@x.kr")])

    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.RETRY]
    with pytest.raises(EmailDeliveryError) as error:
        await sender.send(_note(sender, "a@example.com"))
    assert error.value.temporary


async def test_disabled_sender_sends_nothing(
    smtpd: tuple[Recorder, int], caplog: pytest.LogCaptureFixture
) -> None:
    """With no host the sender is off: nothing is sent, results are skipped, it logs once."""
    recorder, port = smtpd
    sender = EmailSender("", port)
    caplog.set_level(logging.WARNING, logger="dreamseed.email")

    await sender.send(_note(sender, "a@example.com"))
    results = await sender.send_many([_note(sender, "b@example.com")])

    assert not sender.enabled
    assert [r.outcome for r in results] == [Outcome.SKIPPED]
    assert recorder.received == [] and recorder.peers == []
    assert [r.getMessage() for r in caplog.records].count(
        "E-mail is off: no SMTP host is configured, nothing will be sent"
    ) == 1


def test_sender_address_is_checked() -> None:
    """A From that is not one address with a domain is refused when the sender is built."""
    with pytest.raises(ValueError, match="not one e-mail address"):
        EmailSender("127.0.0.1", 25, sender="a@example.com, b@example.com")
    with pytest.raises(ValueError, match="has no domain"):
        EmailSender("127.0.0.1", 25, sender="DreamSeed")


# Templates


def test_language_falls_back_to_korean() -> None:
    """Only English is chosen explicitly; anything else, or nothing, is Korean."""
    assert templates.language_of("en") == "en"
    assert templates.language_of("en-US") == "en"
    assert templates.language_of("ko") == "ko"
    assert templates.language_of("fr") == "ko"
    assert templates.language_of(None) == "ko"
    assert _announcement("fr").language == "ko"


def test_announcement_in_both_languages() -> None:
    """The announcement names school, teacher and title, and links to it, in each language."""
    ko, en = _announcement("ko"), _announcement("en")
    assert ko.subject == "[서울꿈씨초등학교] 새 공지: 내일 현장 체험 학습 안내"
    assert en.subject == "[서울꿈씨초등학교] New announcement: 내일 현장 체험 학습 안내"
    assert "서울꿈씨초등학교 김민수 선생님이 새 공지를 올렸습니다." in ko.text
    assert f"View announcement: {LINK}" in en.text
    assert f'href="{LINK}"' in ko.html and f'href="{SETTINGS_URL}"' in en.html
    assert ko.text.endswith(f"{SETTINGS_URL}\n")


def test_announcement_body_is_an_excerpt() -> None:
    """A long body is cut with an ellipsis; a newline in a title cannot split the subject."""
    long = templates.announcement(
        "ko",
        school_name="학교",
        teacher_name="교사",
        title="첫 줄\nBcc: victim@example.com",
        body="가나다라 " * 100,
        link=LINK,
        settings_url=SETTINGS_URL,
    )
    assert "\n" not in long.subject and "\r" not in long.subject
    excerpt = next(line for line in long.text.splitlines() if line.startswith("가나다라"))
    assert len(excerpt) == templates.EXCERPT_CHARS and excerpt.endswith("…")


def _digest(language: str, counts: list[int]) -> RenderedEmail:
    conversations = [
        DigestConversation(f"대화 {i}", count, f"마지막 메시지 {i}", "김선생")
        for i, count in enumerate(counts)
    ]
    return templates.new_messages_digest(
        language, conversations=conversations, link=LINK, settings_url=SETTINGS_URL
    )


def test_digest_counts_in_korean() -> None:
    """The Korean digest totals unread messages and lists each conversation with its count."""
    digest = _digest("ko", [3, 2])
    assert digest.subject == "[DreamSeed] 읽지 않은 메시지 5개"
    assert "대화 2개에 읽지 않은 메시지가 5개 있습니다." in digest.text
    assert "- 대화 0 · 읽지 않은 메시지 3개\n  김선생: 마지막 메시지 0" in digest.text
    assert "읽지 않은 메시지 2개" in digest.html


def test_digest_pluralizes_in_english() -> None:
    """English says '1 unread message' and '5 unread messages', and counts conversations."""
    assert _digest("en", [5]).subject == "[DreamSeed] 5 unread messages"
    one = _digest("en", [1])
    assert one.subject == "[DreamSeed] 1 unread message"
    assert "You have 1 unread message in 1 conversation." in one.text
    many = _digest("en", [1, 1233])
    assert "You have 1,234 unread messages in 2 conversations." in many.text
    assert "- 대화 0 · 1 unread message\n" in many.text


def test_digest_lists_at_most_ten_conversations() -> None:
    """Past ten conversations the rest are summed up as 'and N more'."""
    ko, en = _digest("ko", [1] * 12), _digest("en", [1] * 12)
    assert ko.subject == "[DreamSeed] 읽지 않은 메시지 12개"
    assert "대화 9 ·" in ko.text and "대화 10 ·" not in ko.text
    assert "- 그 밖의 대화 2개" in ko.text
    assert "- and 2 more" in en.text and "and 2 more" in en.html


@pytest.mark.parametrize(
    ("language", "score", "max_score", "line"),
    [
        ("ko", 87.5, 100, "이서연 학생의 ‘중간고사 수학’ 결과는 87.5점 / 100점입니다."),
        ("ko", 92, None, "이서연 학생의 ‘중간고사 수학’ 결과는 92점입니다."),
        ("en", 87.5, 100, "이서연 scored 87.5 out of 100 on “중간고사 수학”."),
        ("en", 92.0, None, "이서연 scored 92 on “중간고사 수학”."),
    ],
)
def test_exam_result(language: str, score: float, max_score: float | None, line: str) -> None:
    """The exam result names the child, the exam and the score, with the maximum when known."""
    result = templates.exam_result(
        language,
        child_name="이서연",
        exam_title="중간고사 수학",
        score=score,
        max_score=max_score,
        link=LINK,
        settings_url=SETTINGS_URL,
    )
    assert line in result.text
    assert result.subject.endswith("중간고사 수학 (이서연)")


def test_link_request_in_both_languages() -> None:
    """The student learns who asks (with e-mail), to accept only known people, and the deadline."""
    ko, en = (
        templates.link_request(
            language,
            parent_name="박지은",
            parent_email="mom@example.com",
            student_name="이서연",
            valid_days=7,
            link=LINK,
            settings_url=SETTINGS_URL,
        )
        for language in ("ko", "en")
    )
    assert ko.subject == "[DreamSeed] 박지은 님의 보호자 연결 요청"
    assert "박지은 님(mom@example.com)이 보호자로 연결을 요청했습니다." in ko.text
    assert "7일 안에 답하지 않으면 요청은 만료됩니다." in ko.text
    assert en.subject == "[DreamSeed] 박지은 asked to be linked to you as a parent"
    assert "박지은 (mom@example.com)" in en.text
    assert "within 7 days." in en.text


@pytest.mark.parametrize(
    ("language", "status", "subject"),
    [
        ("ko", "approved", "[DreamSeed] 이서연 학생이 보호자 연결을 수락했습니다"),
        ("ko", "rejected", "[DreamSeed] 이서연 학생이 보호자 연결을 거절했습니다"),
        ("ko", "expired", "[DreamSeed] 이서연 학생에게 보낸 보호자 연결 요청이 만료되었습니다"),
        ("en", "approved", "[DreamSeed] 이서연 accepted your link request"),
        ("en", "rejected", "[DreamSeed] 이서연 declined your link request"),
        ("en", "expired", "[DreamSeed] Your link request to 이서연 expired"),
    ],
)
def test_link_answer(language: str, status: templates.LinkStatus, subject: str) -> None:
    """The parent hears whether the student approved, rejected or let the request expire."""
    answer = templates.link_answer(
        language, student_name="이서연", status=status, link=LINK, settings_url=SETTINGS_URL
    )
    assert answer.subject == subject
    assert "이서연" in answer.text and "이서연" in answer.html


def _every_template(value: str, language: str) -> list[RenderedEmail]:
    return [
        templates.announcement(
            language,
            school_name=value,
            teacher_name=value,
            title=value,
            body=value,
            link=LINK,
            settings_url=SETTINGS_URL,
        ),
        templates.new_messages_digest(
            language,
            conversations=[DigestConversation(value, 2, value, value)],
            link=LINK,
            settings_url=SETTINGS_URL,
        ),
        templates.exam_result(
            language,
            child_name=value,
            exam_title=value,
            score=1,
            link=LINK,
            settings_url=SETTINGS_URL,
        ),
        templates.link_request(
            language,
            parent_name=value,
            parent_email=value,
            student_name=value,
            valid_days=1,
            link=LINK,
            settings_url=SETTINGS_URL,
        ),
        templates.link_answer(
            language, student_name=value, status="approved", link=LINK, settings_url=SETTINGS_URL
        ),
    ]


@pytest.mark.parametrize("language", ["ko", "en"])
def test_user_text_is_escaped_everywhere(language: str) -> None:
    """In every template user text is escaped in HTML and kept readable in the text part."""
    for rendered in _every_template(HOSTILE, language):
        assert "<script" not in rendered.html and "<b>" not in rendered.html
        assert "&lt;script&gt;" in rendered.html
        assert HOSTILE in rendered.text


def test_links_must_be_http() -> None:
    """A javascript: link is refused rather than rendered into an href."""
    with pytest.raises(ValueError, match="must be an http or https URL"):
        templates.link_answer(
            "ko",
            student_name="이서연",
            status="approved",
            link="javascript:alert(1)",
            settings_url=SETTINGS_URL,
        )
