"""Files of every allowed type, and every kind of bad one, made here (nothing is downloaded)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from fractions import Fraction

import av
import numpy as np
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from hub.files.inspection import EICAR


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps(width: int = 80, height: int = 40, orientation: int = 6) -> bytes:
    """A landscape-stored photo that EXIF says to rotate (6: 90° clockwise), with a GPS tag."""
    img = Image.new("RGB", (width, height), (10, 120, 200))
    img.paste((250, 250, 0), (0, 0, width // 4, height // 4))  # a corner to check rotation
    exif = Image.Exif()
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (37.0, 33.0, 59.0)  # Seoul
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def big_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    """A 12-megapixel photo with texture (so it does not compress to nothing)."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).resize((width, height))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(out, format="WEBP")
    return out.getvalue()


def heic() -> bytes:
    """An iPhone-style HEIC photo (pillow-heif's encoder)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 60, 90)).save(out, format="HEIF")
    return out.getvalue()


def png_bomb(side: int = 50_000) -> bytes:
    """A real side x side 1-bit PNG of zeros: ~300 KB that decodes to ~2.5 G pixels."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(1)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def pdf(javascript: str | None = None, subject: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if subject is not None:
        writer.add_metadata({"/Subject": subject})
    if javascript is not None:
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject(javascript),
            }
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_escaped_js() -> bytes:
    """The same JavaScript action with its names #-escaped (/J#61vaScript), as evasions do."""
    return pdf("app.alert(1)").replace(b"/JavaScript", b"/J#61vaScript").replace(b"/JS ", b"/J#53 ")


def _office(main: str, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        z.writestr(main, '<?xml version="1.0"?><document>숙제 안내</document>')
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def docx(extra: dict[str, bytes] | None = None) -> bytes:
    return _office("word/document.xml", extra)


def xlsx() -> bytes:
    return _office("xl/workbook.xml")


def pptx() -> bytes:
    return _office("ppt/presentation.xml")


def docx_with_macro() -> bytes:
    return docx({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 512})


def nested_zip_bomb() -> bytes:
    """~A few KB that inflates to 10+ GB: a DOCX carrying zips of zips of 100 MB of zeros."""
    zeros = zipfile.ZipInfo("zeros.bin")
    zeros.compress_type = zipfile.ZIP_DEFLATED
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z, z.open(zeros, "w") as f:
        for _ in range(100):
            f.write(b"\0" * 1_048_576)
    layer = inner.getvalue()
    for _ in range(2):  # 10 x 10 x 100 MB
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for i in range(10):
                z.writestr(f"part{i}.zip", layer)
        layer = out.getvalue()
    return docx({"word/embeddings/package.zip": layer})


def png_header_on_zip() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + docx()


def eicar() -> bytes:
    return EICAR


def tone(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


_AUDIO = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "m4a": ("ipod", "aac", "fltp"),
    "ogg": ("ogg", "libopus", "flt"),
    "webm": ("webm", "libopus", "flt"),
}


def audio(kind: str, seconds: float = 1.0, samples: np.ndarray | None = None) -> bytes:
    """A mono sound (a 440 Hz tone unless `samples` are given) encoded as `kind` with PyAV."""
    fmt, codec, sample_fmt = _AUDIO[kind]
    rate = 48000 if codec == "libopus" else 16000
    pcm = samples if samples is not None else tone(seconds, 16000)
    if rate != 16000:
        pcm = np.interp(np.arange(len(pcm) * 3) / 3, np.arange(len(pcm)), pcm).astype(np.float32)
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.AudioStream)
        stream.layout = "mono"
        frame_size = 960 if codec == "libopus" else 1024
        for start in range(0, len(pcm), frame_size):
            block = pcm[start : start + frame_size]
            data = (block * 32767).astype(np.int16) if sample_fmt == "s16" else block
            frame = av.AudioFrame.from_ndarray(
                data.reshape(1, -1), format=sample_fmt, layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def html() -> bytes:
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50 + b"PE\x00\x00" + b"\x00" * 200
