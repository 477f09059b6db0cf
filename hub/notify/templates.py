"""E-mail templates in Korean and English: each renders a subject, a plain text and an HTML body.

Every value reaches the HTML through `_fill`, which escapes it unless it is `_Html` built
here from escaped parts, so user text can never become markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Literal
from urllib.parse import urlsplit

Language = Literal["ko", "en"]
LinkStatus = Literal["approved", "rejected", "expired"]

EXCERPT_CHARS = 200
DIGEST_MAX_CONVERSATIONS = 10
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    language: Language


@dataclass(frozen=True, slots=True)
class DigestConversation:
    title: str
    unread_count: int
    last_message: str
    last_sender: str | None = None


class _Html(str):
    """Markup built here from escaped parts; `_fill` inserts it as is."""


def language_of(value: str | None) -> Language:
    """The user's language if we write it ('en', 'en-US'), else Korean."""
    return "en" if (value or "").lower().split("-")[0] == "en" else "ko"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One line of at most `limit` characters, cut with an ellipsis."""
    line = _SPACES.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def announcement(
    language: str | None,
    *,
    school_name: str,
    teacher_name: str,
    title: str,
    body: str,
    link: str,
    settings_url: str,
) -> RenderedEmail:
    lang = language_of(language)
    values = {
        "school": excerpt(school_name, 80),
        "teacher": excerpt(teacher_name, 80),
        "title": excerpt(title, 120),
    }
    subject = _ANNOUNCEMENT_SUBJECT[lang].substitute(values)
    intro = _ANNOUNCEMENT_INTRO[lang].substitute(values)
    return _render(
        lang,
        subject,
        heading=values["title"],
        paragraphs=[intro, excerpt(body)],
        action=(_VIEW_ANNOUNCEMENT[lang], link),
        settings_url=settings_url,
    )


def new_messages_digest(
    language: str | None,
    *,
    conversations: Sequence[DigestConversation],
    link: str,
    settings_url: str,
) -> RenderedEmail:
    lang = language_of(language)
    total = sum(c.unread_count for c in conversations)
    subject = f"[DreamSeed] {unread_messages(lang, total)}"
    if lang == "ko":
        intro = f"대화 {len(conversations):,}개에 읽지 않은 메시지가 {total:,}개 있습니다."
    else:
        intro = (
            f"You have {unread_messages(lang, total)} "
            f"in {_plural(len(conversations), 'conversation')}."
        )
    shown = conversations[:DIGEST_MAX_CONVERSATIONS]
    hidden = len(conversations) - len(shown)
    lines = [_digest_line(lang, c) for c in shown]
    if hidden:
        more = f"그 밖의 대화 {hidden:,}개" if lang == "ko" else f"and {hidden:,} more"
        lines.append((more, ""))
    text_items = [f"- {head}\n  {tail}" if tail else f"- {head}" for head, tail in lines]
    html_items = _Html(
        "".join(
            _fill(_DIGEST_ITEM_HTML, head=head, tail=tail) if tail else _fill(_LI, item=head)
            for head, tail in lines
        )
    )
    return _render(
        lang,
        subject,
        paragraphs=[intro],
        action=(_OPEN_MESSENGER[lang], link),
        settings_url=settings_url,
        text_block="\n".join(text_items),
        html_block=_fill(_UL, items=html_items),
    )


def unread_messages(language: Language, count: int) -> str:
    """'읽지 않은 메시지 5개' / '5 unread messages' / '1 unread message'."""
    if language == "ko":
        return f"읽지 않은 메시지 {count:,}개"
    return _plural(count, "unread message")


def exam_result(
    language: str | None,
    *,
    child_name: str,
    exam_title: str,
    score: float,
    max_score: float | None = None,
    link: str,
    settings_url: str,
) -> RenderedEmail:
    lang = language_of(language)
    child, exam = excerpt(child_name, 80), excerpt(exam_title, 120)
    points, out_of = _number(score), None if max_score is None else _number(max_score)
    if lang == "ko":
        subject = f"[DreamSeed] 시험 결과: {exam} ({child})"
        result = f"{points}점" if out_of is None else f"{points}점 / {out_of}점"
        line = f"{child} 학생의 ‘{exam}’ 결과는 {result}입니다."
    else:
        subject = f"[DreamSeed] Exam result: {exam} ({child})"
        result = points if out_of is None else f"{points} out of {out_of}"
        line = f"{child} scored {result} on “{exam}”."
    return _render(
        lang,
        subject,
        paragraphs=[line],
        action=(_VIEW_RESULT[lang], link),
        settings_url=settings_url,
    )


def link_request(
    language: str | None,
    *,
    parent_name: str,
    parent_email: str,
    student_name: str,
    valid_days: int,
    link: str,
    settings_url: str,
) -> RenderedEmail:
    """To the student: a parent asks to be linked."""
    lang = language_of(language)
    parent, student = excerpt(parent_name, 80), excerpt(student_name, 80)
    if lang == "ko":
        subject = f"[DreamSeed] {parent} 님의 보호자 연결 요청"
        paragraphs = [
            f"{student} 학생, {parent} 님({parent_email})이 보호자로 연결을 요청했습니다.",
            "아는 보호자인 경우에만 수락하세요. 수락하면 보호자가 학교 소식과 시험 결과를 "
            "함께 받아 봅니다.",
            f"{valid_days:,}일 안에 답하지 않으면 요청은 만료됩니다.",
        ]
    else:
        subject = f"[DreamSeed] {parent} asked to be linked to you as a parent"
        paragraphs = [
            f"Hello {student}, {parent} ({parent_email}) asked to be linked to you as a parent "
            "or guardian.",
            "Accept only if you know this person. Once linked, they also receive school news "
            "and your exam results.",
            f"The request expires if you do not answer within {_plural(valid_days, 'day')}.",
        ]
    return _render(
        lang,
        subject,
        paragraphs=paragraphs,
        action=(_REVIEW_REQUEST[lang], link),
        settings_url=settings_url,
    )


def link_answer(
    language: str | None,
    *,
    student_name: str,
    status: LinkStatus,
    link: str,
    settings_url: str,
) -> RenderedEmail:
    """To the parent: the student approved or rejected the link, or let it expire."""
    lang = language_of(language)
    student = excerpt(student_name, 80)
    subject, line = _LINK_ANSWER[lang][status]
    return _render(
        lang,
        "[DreamSeed] " + subject.substitute(student=student),
        paragraphs=[line.substitute(student=student)],
        action=(_OPEN_DREAMSEED[lang], link),
        settings_url=settings_url,
    )


def link_expired_for_student(
    language: str | None,
    *,
    parent_name: str,
    link: str,
    settings_url: str,
) -> RenderedEmail:
    """To the student: a parent's link request expired unanswered."""
    lang = language_of(language)
    parent = excerpt(parent_name, 80)
    if lang == "ko":
        subject = f"[DreamSeed] {parent} 님의 보호자 연결 요청이 만료되었습니다"
        line = (
            "기한 안에 답하지 않아 요청이 만료되었습니다. "
            "필요하면 보호자가 다시 요청할 수 있습니다."
        )
    else:
        subject = f"[DreamSeed] The link request from {parent} expired"
        line = "You did not answer in time. The parent can send a new request if needed."
    return _render(
        lang,
        subject,
        paragraphs=[line],
        action=(_OPEN_DREAMSEED[lang], link),
        settings_url=settings_url,
    )


def signup_attempt(language: str | None, *, link: str, settings_url: str) -> RenderedEmail:
    """To an account's owner: someone tried to register a new account with its e-mail."""
    lang = language_of(language)
    if lang == "ko":
        subject = "[DreamSeed] 이 이메일로 새 계정 가입 시도가 있었습니다"
        lines = [
            "누군가 이 이메일 주소로 DreamSeed 계정을 새로 만들려고 했습니다. "
            "이미 계정이 있으므로 새 계정은 만들어지지 않았습니다.",
            "본인이라면 기존 계정으로 로그인하세요. 본인이 아니라면 이 메일은 무시해도 됩니다.",
        ]
    else:
        subject = "[DreamSeed] Someone tried to sign up with your e-mail"
        lines = [
            "Someone tried to create a new DreamSeed account with this e-mail address. "
            "It already has an account, so no new one was made.",
            "If this was you, sign in to your account. If not, you can ignore this e-mail.",
        ]
    return _render(
        lang,
        subject,
        paragraphs=lines,
        action=(_OPEN_DREAMSEED[lang], link),
        settings_url=settings_url,
    )


def push_text(email: RenderedEmail) -> tuple[str, str]:
    """A notice's push form: the subject (without the product tag) and its first paragraph."""
    title = email.subject.removeprefix("[DreamSeed] ")
    return title, email.text.split("\n\n", 1)[0]


def _digest_line(lang: Language, conversation: DigestConversation) -> tuple[str, str]:
    head = f"{excerpt(conversation.title, 80)} · {unread_messages(lang, conversation.unread_count)}"
    last = excerpt(conversation.last_message, 120)
    if conversation.last_sender and last:
        last = f"{excerpt(conversation.last_sender, 40)}: {last}"
    return head, last


def _render(
    lang: Language,
    subject: str,
    *,
    paragraphs: Sequence[str],
    action: tuple[str, str],
    settings_url: str,
    heading: str = "",
    text_block: str = "",
    html_block: _Html | None = None,
) -> RenderedEmail:
    label, link = action
    _check_url(link)
    _check_url(settings_url)
    subject = excerpt(subject, 150)
    footer = _FOOTER[lang]
    text_parts = [
        heading,
        *paragraphs,
        text_block,
        f"{label}: {link}",
        f"-- \n{footer}\n{settings_url}",
    ]
    text = "\n\n".join(part for part in text_parts if part) + "\n"
    content = _Html(
        (_fill(_H, text=heading) if heading else "")
        + "".join(_fill(_P, text=p) for p in paragraphs if p)
        + (html_block or "")
    )
    page = _fill(
        _PAGE,
        lang=lang,
        title=subject,
        content=content,
        label=label,
        link=link,
        footer=footer,
        settings_label=_SETTINGS_LABEL[lang],
        settings_url=settings_url,
    )
    return RenderedEmail(subject, text, page, lang)


def _fill(template: Template, **values: str) -> _Html:
    escaped = {
        key: value if isinstance(value, _Html) else html.escape(value, quote=True)
        for key, value in values.items()
    }
    return _Html(template.substitute(escaped))


def _check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("https", "http"):
        raise ValueError(f"Link '{url}' must be an http or https URL.")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


_ANNOUNCEMENT_SUBJECT: Mapping[Language, Template] = {
    "ko": Template("[$school] 새 공지: $title"),
    "en": Template("[$school] New announcement: $title"),
}
_ANNOUNCEMENT_INTRO: Mapping[Language, Template] = {
    "ko": Template("$school $teacher 선생님이 새 공지를 올렸습니다."),
    "en": Template("$teacher at $school posted a new announcement."),
}
_LINK_ANSWER: Mapping[Language, Mapping[LinkStatus, tuple[Template, Template]]] = {
    "ko": {
        "approved": (
            Template("$student 학생이 보호자 연결을 수락했습니다"),
            Template("이제 $student 학생의 학교 소식과 시험 결과를 함께 받아 볼 수 있습니다."),
        ),
        "rejected": (
            Template("$student 학생이 보호자 연결을 거절했습니다"),
            Template(
                "연결 요청이 거절되었습니다. $student 학생과 확인한 뒤 다시 요청할 수 있습니다."
            ),
        ),
        "expired": (
            Template("$student 학생에게 보낸 보호자 연결 요청이 만료되었습니다"),
            Template("$student 학생이 기한 안에 답하지 않았습니다. 다시 요청할 수 있습니다."),
        ),
    },
    "en": {
        "approved": (
            Template("$student accepted your link request"),
            Template("You now receive school news and exam results for $student."),
        ),
        "rejected": (
            Template("$student declined your link request"),
            Template("Your link request was declined. Check with $student and ask again."),
        ),
        "expired": (
            Template("Your link request to $student expired"),
            Template("$student did not answer in time. You can send a new request."),
        ),
    },
}
_VIEW_ANNOUNCEMENT: Mapping[Language, str] = {"ko": "공지 보기", "en": "View announcement"}
_OPEN_MESSENGER: Mapping[Language, str] = {"ko": "메시지 확인하기", "en": "Read your messages"}
_VIEW_RESULT: Mapping[Language, str] = {"ko": "결과 보기", "en": "View result"}
_REVIEW_REQUEST: Mapping[Language, str] = {"ko": "요청 확인하기", "en": "Review request"}
_OPEN_DREAMSEED: Mapping[Language, str] = {"ko": "DreamSeed 열기", "en": "Open DreamSeed"}
_SETTINGS_LABEL: Mapping[Language, str] = {"ko": "알림 설정", "en": "Notification settings"}
_FOOTER: Mapping[Language, str] = {
    "ko": "DreamSeed 알림 메일입니다. 메일을 그만 받으려면 알림 설정을 바꾸세요.",
    "en": "You get this e-mail from DreamSeed. To stop these e-mails, change your "
    "notification settings.",
}

_H = Template('<h2 style="margin:0 0 16px;font-size:18px">$text</h2>')
_P = Template('<p style="margin:0 0 16px">$text</p>')
_UL = Template('<ul style="margin:0 0 16px;padding-left:20px">$items</ul>')
_LI = Template('<li style="margin:0 0 8px">$item</li>')
_DIGEST_ITEM_HTML = Template(
    '<li style="margin:0 0 8px"><strong>$head</strong><br>'
    '<span style="color:#555">$tail</span></li>'
)
_PAGE = Template(
    """<!DOCTYPE html>
<html lang="$lang">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>$title</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;color:#222;
font-family:'Apple SD Gothic Neo','Malgun Gothic',Arial,sans-serif;font-size:15px;line-height:1.6">
<div style="max-width:560px;margin:0 auto;background:#fff;border-radius:8px;padding:24px">
$content
<p style="margin:24px 0"><a href="$link" style="background:#2f6fed;color:#fff;padding:10px 18px;
border-radius:6px;text-decoration:none">$label</a></p>
<p style="margin:24px 0 0;color:#777;font-size:12px">$footer
<a href="$settings_url" style="color:#777">$settings_label</a></p>
</div>
</body>
</html>
"""
)
