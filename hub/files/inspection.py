"""What an upload really is, from its bytes: the built-in checks every file goes through.

In order: the EICAR test signature anywhere in the file; the type from the content
(puremagic names the family, then the structure is confirmed: Pillow for images, PyAV for
audio, pypdf for PDFs, the ZIP directory for Office documents, with the bomb and macro
checks); anything else is refused with what it looks like (SVG, HTML, an executable ...).
Blocking: run it in a thread.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import puremagic

from hub.files import archives, audio, images, pdfs, types
from hub.files.refusals import FileRefusedError, infected

# The standard antivirus test file (eicar.org), in two halves so this module is not flagged.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_FAMILIES = {
    ".png": types.PNG,
    ".jpg": types.JPEG,
    ".jpeg": types.JPEG,
    ".jfif": types.JPEG,
    ".jpe": types.JPEG,
    ".webp": types.WEBP,
    ".heic": types.HEIC,
    ".heif": types.HEIC,
    ".pdf": types.PDF,
    ".docx": types.DOCX,
    ".xlsx": types.DOCX,
    ".pptx": types.DOCX,
    ".mp3": types.MP3,
    ".mpga": types.MP3,
    ".wav": types.WAV,
    ".m4a": types.M4A,
    ".f4a": types.M4A,
    ".mp4": types.M4A,
    ".aac": types.AAC,
    ".ogg": types.OGG,
    ".oga": types.OGG,
    ".opus": types.OGG,
    ".webm": types.WEBM,
    ".mkv": types.WEBM,
}
_HEAD_BYTES = 8192
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# Named plainly, whatever a sniffing library calls them.
_EXECUTABLES = {
    b"MZ": "Windows programs",
    b"\x7fELF": "Linux programs",
    b"\xcf\xfa\xed\xfe": "macOS programs",
    b"\xca\xfe\xba\xbe": "macOS programs",
    b"#!": "Scripts",
}


@dataclass(frozen=True)
class Inspection:
    type: types.FileType
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


def inspect_file(path: Path, *, max_pixels: int) -> Inspection:
    """The file's real type and facts, or FileRefusedError saying why it may not be shared."""
    _refuse_eicar(path)
    family = _family(path)
    if family.kind is types.Kind.IMAGE:
        facts = images.check_image(path, family, max_pixels)
        return Inspection(facts.type, width=facts.width, height=facts.height)
    if family.kind is types.Kind.AUDIO:
        sound = audio.check_audio(path, family)
        return Inspection(sound.type, duration_s=sound.duration_s)
    with path.open("rb") as f:
        if family == types.PDF:
            pdfs.check_pdf(f)
            return Inspection(types.PDF)
        return Inspection(archives.office_type(f))


def _refuse_eicar(path: Path) -> None:
    if path.stat().st_size == 0:
        raise FileRefusedError("The file is empty")
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(EICAR) != -1:
            raise infected("EICAR-Test-File", check="eicar")


def _family(path: Path) -> types.FileType:
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
    for magic, what in _EXECUTABLES.items():
        if head.startswith(magic):
            raise FileRefusedError(f"{what} are not allowed", check="executable")
    if head[4:8] == b"ftyp":
        # ISO media files share one signature; the major brand tells HEIC photos from audio.
        return types.HEIC if head[8:12] in _HEIF_BRANDS else types.M4A
    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        matches = []
    for match in matches:
        family = _FAMILIES.get(match.extension.lower())
        if family is not None:
            return family
    if matches:
        raise FileRefusedError(f"{matches[0].name.strip()} files are not allowed")
    raise FileRefusedError(
        "The file's content is not an allowed type (images, PDF, Office documents, audio)"
    )
