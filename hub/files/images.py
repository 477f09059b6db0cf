"""Images: checked at upload (header only: type, pixel count, hidden archives), then in the
worker turned upright, stripped of EXIF (children's photos carry GPS) and thumbnailed.

Everything here is CPU-bound and blocking: callers run it in a thread, never on the loop.
"""

from __future__ import annotations

import io
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from hub.files import types
from hub.files.refusals import FileRefusedError

THUMBNAIL_PX = 320
_PIL_FORMATS = {"PNG": types.PNG, "JPEG": types.JPEG, "WEBP": types.WEBP, "HEIF": types.HEIC}
# An archive's end-of-central-directory record: an image that carries one is a polyglot.
_ZIP_END = b"PK\x05\x06"

try:  # HEIC (iPhone photos) when pillow-heif's libheif is usable on this platform.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - the wheel ships libheif on our platforms
    HEIC_SUPPORTED = False


@dataclass(frozen=True)
class ImageFacts:
    type: types.FileType
    width: int
    height: int


def check_image(path: Path, expected: types.FileType, max_pixels: int) -> ImageFacts:
    """Read the header: the real format, its size against `max_pixels`, no archive inside."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                fmt = img.format or ""
                if width * height > max_pixels:
                    raise _too_many(width, height, max_pixels)
                if fmt == "PNG":
                    img.verify()  # chunk CRCs, without decoding the pixels
    except FileRefusedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileRefusedError(f"The image is too large to open: {exc}", check="pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FileRefusedError(
            f"The file says it is {expected.extension.upper()} but is not a valid image: {exc}"
        ) from None
    found = _PIL_FORMATS.get(fmt)
    if found is None or found != expected:
        raise FileRefusedError(f"The image format {fmt or 'unknown'} is not allowed")
    _refuse_polyglot(path)
    return ImageFacts(found, width, height)


def _refuse_polyglot(path: Path) -> None:
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find(_ZIP_END) != -1:
            raise FileRefusedError("The image hides an archive inside it", check="polyglot")


def _too_many(width: int, height: int, limit: int) -> FileRefusedError:
    return FileRefusedError(
        f"The image is {width} x {height} pixels; at most {limit // 1_000_000} megapixels "
        "are allowed (a decompression bomb?)",
        check="pixels",
    )


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    type: types.FileType
    thumbnail: bytes
    width: int
    height: int


def clean_image(path: Path, max_pixels: int) -> CleanImage:
    """Upright, EXIF-free bytes and a ~320 px WebP thumbnail. The format stays, except HEIC,
    which becomes JPEG (browsers cannot show HEIC)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(path) as img:
        fmt = img.format or "PNG"
        upright = ImageOps.exif_transpose(img)
        upright.load()
    out = io.BytesIO()
    save_format = "JPEG" if fmt == "HEIF" else fmt
    params: dict[str, object] = {"exif": b""}
    if save_format == "JPEG":
        params.update(quality=90, optimize=False)
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
    upright.save(out, format=save_format, **params)
    # reduce() averages whole blocks (cheap) and returns a new image, so no copy is needed;
    # LANCZOS then works on at most twice the thumbnail's size.
    factor = max(1, max(upright.size) // (THUMBNAIL_PX * 2))
    thumb = upright.reduce(factor) if factor > 1 else upright.copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    if thumb.mode not in ("RGB", "RGBA", "L"):
        thumb = thumb.convert("RGBA")
    small = io.BytesIO()
    thumb.save(small, format="WEBP", quality=80)
    kept = _PIL_FORMATS[save_format]
    return CleanImage(out.getvalue(), kept, small.getvalue(), upright.width, upright.height)
