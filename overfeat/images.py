"""Reading image files into the package's image contract: ``uint8 [H, W, 3]`` RGB.

Pillow decodes JPEG, PNG and PPM/PGM (and whatever else it reads). Every image becomes 8-bit
RGB the same way, whatever its file stores:

* EXIF orientation is applied first, so the array is the picture as a viewer shows it.
* Grayscale (``L``, ``1``) repeats its one channel three times.
* Transparency (``RGBA``, ``LA``, ``PA``, palettes with a transparent index) is composited
  over WHITE: what the picture looks like on a page. Dropping alpha instead would expose
  whatever colour the encoder left under transparent pixels (often black or noise).
* Palette (``P``) images are expanded through their palette.
* CMYK (JPEG from print workflows) uses Pillow's plain CMYK -> RGB conversion; embedded ICC
  profiles are not applied.
* 16-bit images (``I;16`` PNG, ``I`` from 16-bit PGM, which Pillow scales to 0..65535) are
  scaled by 255/65535 and rounded, never clipped; 16-bit RGB files are reduced to 8 bits by
  Pillow's own decoder.

What cannot be read (missing, truncated, not an image, or larger than Pillow's
decompression-bomb limit ``PIL.Image.MAX_IMAGE_PIXELS``) raises ``ImageError`` naming the
file. Images over the limit are refused outright, even those Pillow would only warn about.
"""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow modes holding 16-bit samples on a 0..65535 scale (PNG I;16*, PGM/PPM as I).
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


class ImageError(ValueError):
    """An image file that cannot be turned into an RGB array; the message names the file."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``uint8 [H, W, 3]`` RGB (see the module docstring for modes)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {path}")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()  # decode now: truncation surfaces here, not later
                return to_rgb_array(image, source=path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageError(
            f"{path}: refused as a possible decompression bomb ({error}); if the file is "
            f"trusted, raise PIL.Image.MAX_IMAGE_PIXELS (now {Image.MAX_IMAGE_PIXELS})"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{path}: cannot decode image ({error})") from None


def as_rgb_array(image) -> np.ndarray:
    """One image as ``[H, W, 3]``: a file path is loaded, a PIL image converted, an array
    checked (``uint8`` kept as is; other numeric arrays become float32, 0..255 scale)."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return to_rgb_array(image)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got an array of shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"expected a numeric image array, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def to_rgb_array(image: Image.Image, *, source: str = "<image>") -> np.ndarray:
    """A Pillow image as ``uint8 [H, W, 3]`` RGB: orientation applied, alpha over white,
    16-bit scaled to 8 bits. ``source`` names the image in errors."""
    image = _apply_exif_orientation(image)
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        samples = np.asarray(image, dtype=np.float64)  # [H, W]
        gray = np.rint(np.clip(samples, 0, 65535) * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        raise ImageError(
            f"{source}: 32-bit floating-point images (mode F) have no agreed pixel scale; "
            "convert the file to 8 or 16 bits"
        )
    if _has_transparency(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8).copy()  # [H, W, 3], writable


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says. Corrupt EXIF leaves the image as stored:
    orientation is a hint, not worth refusing a readable picture over."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about malformed EXIF blocks
        try:
            return ImageOps.exif_transpose(image) or image
        except (OSError, SyntaxError, ValueError, TypeError, KeyError):
            return image


def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize ``[H, W, 3]`` so that its shorter side is ``size`` pixels, keeping the aspect
    ratio (the longer side rounded half up). Lanczos filtering (antialiased when
    shrinking, like ImageMagick's default, which the original release used). ``uint8`` stays
    ``uint8``; float images (0..255 scale) are resized per channel in float32."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    height, width = image.shape[:2]
    if height <= width:  # the longer side rounded half up
        new_height, new_width = size, max(1, int(width * size / height + 0.5))
    else:
        new_height, new_width = max(1, int(height * size / width + 0.5)), size
    return resize_image(image, new_height, new_width, Image.Resampling.LANCZOS)


def resize_image(
    image: np.ndarray,
    height: int,
    width: int,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> np.ndarray:
    """Resize ``[H, W, 3]`` to ``[height, width, 3]`` with Pillow (antialiased when
    shrinking: the filter widens with the factor). Pillow samples at pixel centres, so a point
    ``(x, y)`` of the continuous pixel grid moves to ``(x * width / W, y * height / H)``.
    ``uint8`` stays ``uint8``; float images (0..255 scale) are resized per channel in float32.
    The default, bilinear, is what the training inputs use."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {height}x{width}")
    if image.shape[:2] == (height, width):
        return image
    target = (width, height)
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(target, resample))
    planes = [Image.fromarray(np.ascontiguousarray(image[..., c], np.float32)) for c in range(3)]
    channels = [np.asarray(plane.resize(target, resample)) for plane in planes]
    return np.stack(channels, axis=-1)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window of ``[H, W, C]`` (offsets rounded down, as in the
    original release's classifier)."""
    height, width = image.shape[:2]
    if height < size or width < size:
        raise ValueError(f"cannot crop {size}x{size} from an image of {height}x{width}")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]
