"""File names shown to people: one safe component, the real type's extension, bounded."""

from __future__ import annotations

import pytest

from hub.files.names import MAX_NAME_CHARS, safe_name


@pytest.mark.parametrize(
    ("raw", "extension", "expected"),
    [
        ("../../etc/passwd", "pdf", "passwd.pdf"),
        ("..\\..\\Windows\\win.ini", "png", "win.png"),
        ("report\x00.exe.pdf", "pdf", "report.exe.pdf"),
        ("photo.JPG", "png", "photo.png"),
        (".htaccess", "pdf", "htaccess.pdf"),
        ("", "jpg", "file.jpg"),
        (None, "jpg", "file.jpg"),
        ("...", "jpg", "file.jpg"),
        ('a<b>:c"d|e?f*.docx', "docx", "a_b__c_d_e_f_.docx"),
        ("line\nbreak\ttab.pdf", "pdf", "line_break_tab.pdf"),
        ("시험 범위 (2학기).pdf", "pdf", "시험 범위 (2학기).pdf"),
    ],
)
def test_names_are_reduced_to_one_safe_component(
    raw: str | None, extension: str, expected: str
) -> None:
    """Directories, control characters, leading dots and the claimed extension go."""
    assert safe_name(raw, extension) == expected


def test_a_300_character_name_is_cut_keeping_the_extension() -> None:
    """300 characters become at most MAX_NAME_CHARS, still ending in the real extension."""
    name = safe_name("가" * 300 + ".txt", "pdf")
    assert len(name) == MAX_NAME_CHARS and name.endswith(".pdf")
    assert name.removesuffix(".pdf") == "가" * (MAX_NAME_CHARS - 4)
