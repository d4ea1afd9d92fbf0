"""Encoded image files: checked once when a dataset is prepared, decoded to RGB when it is read.

Preparation keeps a file's bytes when they are a JPEG that any decoder reads as RGB or
grayscale, and re-encodes everything else (CMYK JPEGs, PNGs named .JPEG, palette or alpha
images) as an RGB JPEG, so that the stored dataset decodes the same with Pillow, OpenCV or
TensorFlow. A file that does not decode completely is an error the caller counts and skips.

EXIF orientation is deliberately ignored: the boxes of ILSVRC, VOC and COCO refer to the stored
pixel grid, which is what every decoder returns when it does not rotate.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

# Quality of the JPEGs we re-encode (TFDS's own CMYK fix for imagenet2012 uses 95 as well).
REENCODE_QUALITY = 95

# JPEG modes that every decoder turns into correct RGB (grayscale is replicated to 3 channels).
_PORTABLE_JPEG_MODES = ("RGB", "L")


class BadImageError(ValueError):
    """An image file that cannot be used; ``kind`` is a short phrase for the problem report."""

    def __init__(self, kind: str, name: str, detail: str):
        super().__init__(f"{name}: {kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class CheckedImage:
    """An image file that decodes completely, as JPEG bytes to store."""

    data: bytes          # the original bytes, or the re-encoded RGB JPEG when ``correction``
    height: int
    width: int
    correction: str | None = None   # what was changed, e.g. "CMYK JPEG converted to RGB"


def check_encoded_image(data: bytes, name: str) -> CheckedImage:
    """Decodes ``data`` completely and returns it as portable JPEG bytes.

    Raises ``BadImageError`` (kind "empty image file", "truncated image" or "unreadable image")
    for files that do not decode; ``name`` is used in the message.
    """
    if not data:
        raise BadImageError("empty image file", name, "0 bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()   # decodes every scan: truncated files fail here, not at training time
            file_format, mode = image.format, image.mode
            width, height = image.size
            if width < 1 or height < 1:
                raise BadImageError("unreadable image", name, f"size {width}x{height}")
            if file_format == "JPEG" and mode in _PORTABLE_JPEG_MODES:
                return CheckedImage(data, height, width)
            rgb = image.convert("RGB")
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError("unreadable image", name, "not an image format Pillow knows") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        kind = "truncated image" if "runcated" in str(error) else "unreadable image"
        raise BadImageError(kind, name, str(error)) from None
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=REENCODE_QUALITY)
    if file_format == "JPEG":
        correction = f"{mode} JPEG converted to RGB"
    else:
        correction = f"{file_format} {mode} image re-encoded as RGB JPEG"
    return CheckedImage(buffer.getvalue(), height, width, correction)


def decode_rgb(data: bytes) -> np.ndarray:
    """Decodes an encoded image to a writable uint8 array [H, W, 3] in RGB (no EXIF rotation)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.array(image, dtype=np.uint8)   # [H, W, 3]
