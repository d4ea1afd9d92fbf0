"""Encoded image files: checked once when a dataset is prepared, decoded to RGB when it is read.

Preparation keeps a file's bytes when they are a JPEG that any decoder reads as RGB or
grayscale, and re-encodes everything else (CMYK JPEGs, PNGs named .JPEG, palette or alpha
images) as an RGB JPEG, so that the stored dataset decodes the same with Pillow, OpenCV or
TensorFlow. A file that does not decode completely is an error the caller counts and skips.

EXIF orientation is ignored by default: the boxes of ILSVRC, VOC and COCO refer to the stored
pixel grid, which is what every decoder returns when it does not rotate. Folders of one's own
images (``overfeat data prepare coco-folder`` ...) ask for it to be applied instead
(``apply_exif_orientation``): annotation tools show, and annotate, the displayed image.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

# Quality of the JPEGs we re-encode (TFDS's own CMYK fix for imagenet2012 uses 95 as well).
REENCODE_QUALITY = 95

# Modes that every decoder turns into correct RGB (grayscale is replicated to 3 channels).
_PORTABLE_MODES = ("RGB", "L")

# Pillow's modes for 16-bit grayscale (PNG, TIFF): Pillow's own conversion to 8 bits clips at
# 255, which would turn most of such an image white; we keep the high byte (as OpenCV does).
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")

EXIF_ORIENTATION_TAG = 0x0112

# EXIF orientation -> the transposition that turns the stored pixels into the displayed image
# (the table of PIL.ImageOps.exif_transpose; box_formats.xyxy_after_exif_orientation is its
# counterpart for boxes).
EXIF_TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class BadImageError(ValueError):
    """An image file that cannot be used; ``kind`` is a short phrase for the problem report."""

    def __init__(self, kind: str, name: str, detail: str):
        super().__init__(f"{name}: {kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class CheckedImage:
    """An image file that decodes completely, as bytes to store (JPEG, or PNG when lossless).

    ``height``/``width`` are those of the stored pixels: after the EXIF orientation when it was
    applied (``orientation`` != 1), the file's own otherwise.
    """

    data: bytes          # the original bytes, or the re-encoded image when ``corrections``
    height: int
    width: int
    corrections: tuple[str, ...] = ()   # what was changed, e.g. "CMYK JPEG converted to RGB"
    orientation: int = 1                # the EXIF orientation applied to the pixels (1: none)


def check_encoded_image(data: bytes, name: str, *, apply_exif_orientation: bool = False,
                        lossless: bool = False) -> CheckedImage:
    """Decodes ``data`` completely and returns it as portable image bytes.

    - ``apply_exif_orientation``: pixels are turned upright as the EXIF orientation says (and
      the tag is not kept); ``CheckedImage.orientation`` tells which one was applied.
    - ``lossless``: a PNG in RGB or grayscale is kept as it is, and other non-JPEG files are
      re-encoded as PNG instead of JPEG (JPEGs that must change are still re-encoded as JPEG).

    Raises ``BadImageError`` (kind "empty image file", "truncated image", "unreadable image" or
    "unsupported pixel format") for files that cannot be used; ``name`` is used in the message.
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
            orientation = _exif_orientation(image) if apply_exif_orientation else 1
            stored_as_is = (file_format == "JPEG" or (lossless and file_format == "PNG"))
            if stored_as_is and mode in _PORTABLE_MODES and orientation == 1:
                return CheckedImage(data, height, width)
            pixels = _portable_pixels(image, name)
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError("unreadable image", name, "not an image format Pillow knows") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        kind = "truncated image" if "runcated" in str(error) else "unreadable image"
        raise BadImageError(kind, name, str(error)) from None
    target = "JPEG" if file_format == "JPEG" or not lossless else "PNG"
    corrections = []
    if mode in _SIXTEEN_BIT_MODES:
        corrections.append(f"{file_format} 16-bit grayscale scaled to 8 bits")
    elif file_format == "JPEG" and mode not in _PORTABLE_MODES:
        corrections.append(f"{mode} JPEG converted to RGB")
    elif not stored_as_is:
        corrections.append(f"{file_format} {mode} image re-encoded as {pixels.mode} {target}")
    elif mode not in _PORTABLE_MODES:
        corrections.append(f"{file_format} {mode} image converted to RGB")
    if orientation != 1:
        pixels = pixels.transpose(EXIF_TRANSPOSITIONS[orientation])
        corrections.append(f"EXIF orientation {orientation} applied to the pixels")
    buffer = io.BytesIO()
    if target == "JPEG":
        pixels.save(buffer, format="JPEG", quality=REENCODE_QUALITY)
    else:
        pixels.save(buffer, format="PNG")
    return CheckedImage(buffer.getvalue(), pixels.height, pixels.width, tuple(corrections),
                        orientation)


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1..8); 1 when there is none or it is not a valid value."""
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError):   # a damaged EXIF block: the pixels are fine
        return 1
    return orientation if orientation in EXIF_TRANSPOSITIONS else 1


def _portable_pixels(image: Image.Image, name: str) -> Image.Image:
    """``image`` in mode RGB or L (grayscale stays grayscale)."""
    if image.mode in _PORTABLE_MODES:
        return image.copy()
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise BadImageError("unsupported pixel format", name,
                                f"mode {image.mode} with values outside 16 bits")
        return Image.fromarray((values.astype(np.uint32) >> 8).astype(np.uint8), mode="L")
    if image.mode == "F":
        raise BadImageError("unsupported pixel format", name, "floating-point pixels")
    return image.convert("RGB")


def decode_rgb(data: bytes) -> np.ndarray:
    """Decodes an encoded image to a writable uint8 array [H, W, 3] in RGB (no EXIF rotation)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.array(image, dtype=np.uint8)   # [H, W, 3]
