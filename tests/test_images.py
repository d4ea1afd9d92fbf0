"""Image files into uint8 [H, W, 3] RGB: modes, orientation, and files that cannot be read."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from overfeat.images import (
    ImageError,
    as_rgb_array,
    center_crop,
    load_image,
    resize_shorter_side,
)


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)


def test_rgb_png_and_ppm_are_exact(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    (tmp_path / "a.ppm").write_bytes(b"P6\n9 6\n255\n" + rgb.tobytes())
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    np.testing.assert_array_equal(load_image(str(tmp_path / "a.ppm")), rgb)


def test_grayscale_repeats_its_channel(tmp_path, rgb):
    gray = rgb[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    assert loaded.shape == (6, 9, 3) and loaded.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], gray)


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.array([[[200, 10, 50, 255], [200, 10, 50, 0], [200, 10, 50, 128]]], np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png").astype(int)
    assert loaded[0, 0].tolist() == [200, 10, 50]  # opaque: the colour
    assert loaded[0, 1].tolist() == [255, 255, 255]  # transparent: white
    half = np.array([200, 10, 50]) * 128 / 255 + 255 * (1 - 128 / 255)  # by hand: ~[228, 132, 152]
    np.testing.assert_allclose(loaded[0, 2], half, atol=1)
    Image.fromarray(np.array([[[90, 0]]], np.uint8), mode="LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png")[0, 0].tolist() == [255, 255, 255]


def test_palette_images_expand_through_their_palette(tmp_path):
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putdata([2, 0, 1])
    image.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png")[0].tolist() == [[0, 0, 255], [255, 0, 0], [0, 255, 0]]
    image.info["transparency"] = 0  # index 0 (red) transparent -> white
    image.save(tmp_path / "pt.png", transparency=0)
    loaded = load_image(tmp_path / "pt.png")
    assert loaded[0].tolist() == [[0, 0, 255], [255, 255, 255], [0, 255, 0]]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as stored:
        assert stored.mode == "CMYK"
    loaded = load_image(tmp_path / "c.jpg").astype(int)
    np.testing.assert_allclose(loaded[8, 8], [255, 0, 255], atol=3)  # pure magenta ink


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535, 1000]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as stored:
        assert stored.mode.startswith("I")
    loaded = load_image(tmp_path / "g16.png")
    assert loaded[0, :, 0].tolist() == [0, 1, 128, 255, 4]  # round(v * 255 / 65535)
    pgm = b"P5\n5 1\n65535\n" + values.astype(">u2").tobytes()
    (tmp_path / "g16.pgm").write_bytes(pgm)
    assert load_image(tmp_path / "g16.pgm")[0, :, 1].tolist() == [0, 1, 128, 255, 4]


def png_16_bit_rgb(pixels: np.ndarray) -> bytes:
    """A minimal 16-bit RGB PNG (Pillow writes none)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_16_bit_rgb_png(tmp_path):
    pixels = np.array([[[65535, 32768, 0], [257 * 10, 65535, 1000]]], np.uint16)
    (tmp_path / "c16.png").write_bytes(png_16_bit_rgb(pixels))
    loaded = load_image(tmp_path / "c16.png").astype(int)
    np.testing.assert_allclose(loaded, pixels / 257.0, atol=1)


def test_exif_orientation_is_applied(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(rgb).save(tmp_path / "o.png", exif=exif.tobytes())
    loaded = load_image(tmp_path / "o.png")
    np.testing.assert_array_equal(loaded, np.rot90(rgb, k=-1))


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_truncated_files_name_themselves(tmp_path, rgb, kind):
    big = np.repeat(np.repeat(rgb, 20, axis=0), 20, axis=1)
    Image.fromarray(big).save(tmp_path / f"full.{kind}")
    data = (tmp_path / f"full.{kind}").read_bytes()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=str(path)):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    with pytest.raises(ImageError, match=f"{path}: not an image"):
        load_image(path)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


@pytest.mark.parametrize("side", [12, 20])  # 144 px: Pillow would warn; 400 px: it raises
def test_decompression_bombs_are_refused(tmp_path, monkeypatch, side):
    Image.new("RGB", (side, side)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match=f"{tmp_path / 'bomb.png'}: refused .* decompression bomb"):
        load_image(tmp_path / "bomb.png")


def test_float_images_are_refused_with_a_reason(tmp_path):
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(ImageError, match="f.tiff: 32-bit floating-point"):
        load_image(tmp_path / "f.tiff")


def test_as_rgb_array_accepts_paths_pil_and_arrays(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    for item in (tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(rgb), rgb):
        np.testing.assert_array_equal(as_rgb_array(item), rgb)
    assert as_rgb_array(rgb.astype(np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        as_rgb_array(rgb[..., 0])
    with pytest.raises(ValueError, match="numeric"):
        as_rgb_array(rgb.astype(bool))


def test_resize_shorter_side_and_center_crop():
    image = np.zeros((100, 250, 3), np.uint8)
    image[:, 100:150] = 255  # a white band in the middle
    resized = resize_shorter_side(image, 40)
    assert resized.shape == (40, 100, 3) and resized.dtype == np.uint8
    assert resize_shorter_side(image.transpose(1, 0, 2), 40).shape == (100, 40, 3)
    floats = resize_shorter_side(image.astype(np.float32), 40)
    assert floats.dtype == np.float32
    # The same filter: uint8 output is the float output (which rings past 0..255) clipped.
    np.testing.assert_allclose(np.clip(floats, 0, 255), resized, atol=1.0)
    crop = center_crop(resized, 40)
    assert crop.shape == (40, 40, 3)
    np.testing.assert_array_equal(crop, resized[:, 30:70])  # (100 - 40) // 2 = 30
    assert crop[:, 20].min() == 255  # the band's centre column stays white
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(resized, 41)
