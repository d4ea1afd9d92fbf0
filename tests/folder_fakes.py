"""Folders of one's own data, made by the tests: a COCO-format folder, a PASCAL-VOC-style folder
and class folders, with real JPEG/PNG files and real JSON/XML, and every messy case of real
annotation exports. Each ``make_*`` writes the folder and returns what reading the prepared
dataset must give back, worked out by hand from the format's convention:

    {"splits": {split: {filename: example}}, "skipped": {(split, kind): [names]},
     "corrected": {(split, kind): [names]}, "classes": (...)}

where an example is ``{"label", "labels", "boxes" (xyxy pixels), "ignore", "shape",
"colors"}``; ``colors`` maps a pixel ``(row, column)`` to its RGB (within JPEG's error), which
is how the EXIF-rotation cases check that the pixels were turned.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tfds_fakes import BLUE, GRAY, GREEN, RED, jpeg, truncated_jpeg, voc_xml

from overfeat.data.builders.folder_dataset import UNASSIGNED, hashed_split

EXIF_ORIENTATION = 0x0112
COCO_VAL_FRACTION = 0.3


def two_colour_image(width: int, height: int, left=RED, right=BLUE, fmt: str = "JPEG",
                     orientation: int | None = None) -> bytes:
    """Left half ``left``, right half ``right`` (as stored), with an EXIF orientation tag."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = left
    pixels[:, width // 2:] = right
    options = {"quality": 95} if fmt == "JPEG" else {}
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(width: int, height: int, color, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    if mode == "RGBA":
        Image.new("RGBA", (width, height), (*color, 128)).save(buffer, format="PNG")
    elif mode == "I;16":   # 16-bit grayscale: ``color`` is one 16-bit value
        Image.fromarray(np.full((height, width), color, np.uint16)).save(buffer, format="PNG")
    else:
        Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def example(label=None, boxes=(), labels=(), ignore=None, shape=None, colors=None) -> dict:
    return {"label": label, "boxes": [list(map(float, box)) for box in boxes],
            "labels": list(labels),
            "ignore": list(ignore) if ignore is not None else [False] * len(boxes),
            "shape": list(shape) if shape else None, "colors": colors or {}}


def _split_of(name: str, fraction: float) -> str:
    return hashed_split(name, fraction)


# ------------------------------------------------------------------------------------ COCO

def make_coco_folder(root: Path) -> dict:
    """``root/images/...`` and ``root/annotations.json``. Categories with ids 7, 2 and 40 (out
    of order, with gaps): labels dog 0 (id 2), cat 1 (id 7), bird 2 (id 40, no box)."""
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    files = {
        "a_plain.jpg": jpeg(64, 48, RED),
        "b_messy.jpg": jpeg(64, 48, GREEN),
        "c_negative.jpg": jpeg(40, 30, BLUE),
        "d_gray.jpg": jpeg(32, 24, GRAY, mode="L"),
        "e_cmyk.jpg": jpeg(32, 24, RED, mode="CMYK"),
        # Stored 40x20 (red left, blue right); orientation 6 shows it turned 90 degrees
        # clockwise: 20 wide, 40 tall, red on top.
        "f_exif6.jpg": two_colour_image(40, 20, orientation=6),
        "g_exif6_raw.jpg": two_colour_image(40, 20, orientation=6),
        "i_truncated.jpg": truncated_jpeg(40, 30),
        "j_only_bad.jpg": jpeg(30, 30, GREEN),
        "sub/k_nested.jpg": jpeg(30, 20, BLUE),
        "l_prefixed.jpg": jpeg(30, 20, GREEN),
        "m_alpha.png": png(24, 16, GREEN, mode="RGBA"),
        "n_16bit.png": png(20, 10, 0x8000 + 0x40, mode="I;16"),   # high byte 128
        "o_resized.jpg": jpeg(32, 24, RED),
        "z_unlisted.jpg": jpeg(16, 16, RED),
        ".hidden.jpg": jpeg(16, 16, RED),   # dot files are never read
    }
    for name, data in files.items():
        (images / name).write_bytes(data)

    entries = [   # (id, file_name, width, height as the JSON says)
        (1, "a_plain.jpg", 64, 48), (2, "b_messy.jpg", 64, 48), (3, "c_negative.jpg", 40, 30),
        (4, "d_gray.jpg", 32, 24), (5, "e_cmyk.jpg", 32, 24),
        (6, "f_exif6.jpg", 20, 40),      # the displayed size: boxes drawn on the upright image
        (7, "g_exif6_raw.jpg", 40, 20),  # the stored size: boxes drawn on the unrotated pixels
        (8, "h_missing.jpg", 50, 50), (9, "i_truncated.jpg", 40, 30),
        (10, "j_only_bad.jpg", 30, 30), (11, "sub/k_nested.jpg", 30, 20),
        (12, "exports/images/l_prefixed.jpg", 30, 20), (13, "m_alpha.png", 24, 16),
        (14, "n_16bit.png", 20, 10), (15, "o_resized.jpg", 64, 48),
        (16, "a_plain.jpg", 64, 48),     # a second entry for the same file
    ]
    DOG, CAT = 2, 7
    annotations = [   # (image id, category id, bbox, iscrowd)
        (1, CAT, [10.5, 5.25, 20, 30.5], 0),
        (1, DOG, [0, 0, 64, 48], 1),                # crowd region: kept, ignored
        (2, DOG, [5, 5, 0, 10], 0),                 # zero width: dropped
        (2, CAT, [50, 40, 30, 20], 0),              # partly outside: clipped
        (2, CAT, [100, 100, 5, 5], 0),              # outside: dropped
        (2, 99, [1, 1, 5, 5], 0),                   # unknown category: dropped
        (2, DOG, [1, 2, 3, 4], 0),
        (4, CAT, [4, 4, 8, 8], 0),
        (5, DOG, [0.5, 0.5, 31.5, 23.5], 0),
        (6, CAT, [2, 3, 10, 20], 0),
        (7, CAT, [2, 3, 8, 12], 0),                 # on the stored (unrotated) grid
        (8, DOG, [1, 1, 5, 5], 0),
        (9, DOG, [1, 1, 5, 5], 0),
        (10, DOG, [3, 3, 0, 0], 0),                 # the image's only box is empty
        (11, CAT, [1, 1, 28, 18], 0),
        (12, DOG, [2, 2, 4, 4], 0),
        (13, CAT, [0, 0, 24, 16], 0),
        (14, DOG, [5, 2, 10, 6], 0),
        (15, CAT, [8, 8, 32, 16], 0),               # drawn on a 64x48 image, now 32x24
        (999, CAT, [1, 1, 2, 2], 0),                # an image id that does not exist
    ]
    coco = {
        "info": {"description": "made by tests/folder_fakes.py"},
        "categories": [{"id": 7, "name": "cat", "supercategory": "animal"},
                       {"id": 2, "name": "dog", "supercategory": "animal"},
                       {"id": 40, "name": "bird", "supercategory": "animal"}],
        "images": [{"id": i, "file_name": name, "width": w, "height": h}
                   for i, name, w, h in entries],
        "annotations": [{"id": 100 + index, "image_id": image_id, "category_id": category,
                         "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": crowd}
                        for index, (image_id, category, bbox, crowd) in enumerate(annotations)],
    }
    (root / "annotations.json").write_text(json.dumps(coco))

    def split(name):
        return _split_of(name, COCO_VAL_FRACTION)

    dog, cat = 0, 1
    kept = {
        "a_plain.jpg": example(boxes=[(10.5, 5.25, 30.5, 35.75), (0, 0, 64, 48)],
                               labels=[cat, dog], ignore=[False, True], shape=(48, 64, 3),
                               colors={(24, 32): RED}),
        "b_messy.jpg": example(boxes=[(50, 40, 64, 48), (1, 2, 4, 6)], labels=[cat, dog],
                               shape=(48, 64, 3)),
        "c_negative.jpg": example(shape=(30, 40, 3), colors={(15, 20): BLUE}),
        "d_gray.jpg": example(boxes=[(4, 4, 12, 12)], labels=[cat], shape=(24, 32, 3),
                              colors={(12, 16): (sum(GRAY) // 3,) * 3}),
        "e_cmyk.jpg": example(boxes=[(0.5, 0.5, 32, 24)], labels=[dog], shape=(24, 32, 3),
                              colors={(12, 16): RED}),
        "f_exif6.jpg": example(boxes=[(2, 3, 12, 23)], labels=[cat], shape=(40, 20, 3),
                               colors={(5, 10): RED, (35, 10): BLUE}),
        # Stored box x 2..10, y 3..15 of a 40x20 grid, turned 90 degrees clockwise (a point
        # (x, y) goes to (20 - y, x)): x 5..17, y 2..10 of the 20-wide upright image.
        "g_exif6_raw.jpg": example(boxes=[(5, 2, 17, 10)], labels=[cat], shape=(40, 20, 3),
                                   colors={(5, 10): RED, (35, 10): BLUE}),
        "sub/k_nested.jpg": example(boxes=[(1, 1, 29, 19)], labels=[cat], shape=(20, 30, 3)),
        "exports/images/l_prefixed.jpg": example(boxes=[(2, 2, 6, 6)], labels=[dog],
                                                 shape=(20, 30, 3)),
        "m_alpha.png": example(boxes=[(0, 0, 24, 16)], labels=[cat], shape=(16, 24, 3),
                               colors={(8, 12): GREEN}),
        "n_16bit.png": example(boxes=[(5, 2, 15, 8)], labels=[dog], shape=(10, 20, 3),
                               colors={(5, 10): (128, 128, 128)}),
        "o_resized.jpg": example(boxes=[(4, 4, 20, 12)], labels=[cat], shape=(24, 32, 3)),
    }
    splits: dict[str, dict] = {}
    for name, want in kept.items():
        splits.setdefault(split(name), {})[name] = want

    oriented = "boxes turned with the EXIF orientation (annotated on the stored pixels)"
    empty = "box dropped: empty (zero width or height)"
    skipped = [   # ((split, kind), [where])
        ((split("h_missing.jpg"), "missing image file"), ["h_missing.jpg"]),
        ((split("i_truncated.jpg"), "truncated image"), ["i_truncated.jpg"]),
        ((split("j_only_bad.jpg"), "no valid box"), ["j_only_bad.jpg"]),
        ((split("z_unlisted.jpg"), "image file not in the annotations"), ["z_unlisted.jpg"]),
        ((split("a_plain.jpg"), "duplicate image entry"), ["a_plain.jpg"]),
        ((UNASSIGNED, "annotation of an unknown image id"),
         ["annotations.json: annotation 119"]),
    ]
    corrected = [
        ((split("b_messy.jpg"), empty), ["b_messy.jpg"]),
        ((split("b_messy.jpg"), "box clipped to the image"), ["b_messy.jpg"]),
        ((split("b_messy.jpg"), "box dropped: outside the image"), ["b_messy.jpg"]),
        ((split("b_messy.jpg"), "box dropped: unknown category id"), ["b_messy.jpg"]),
        ((split("j_only_bad.jpg"), empty), ["j_only_bad.jpg"]),
        ((split("e_cmyk.jpg"), "CMYK JPEG converted to RGB"), ["e_cmyk.jpg"]),
        ((split("f_exif6.jpg"), "EXIF orientation 6 applied to the pixels"), ["f_exif6.jpg"]),
        ((split("g_exif6_raw.jpg"), "EXIF orientation 6 applied to the pixels"),
         ["g_exif6_raw.jpg"]),
        ((split("g_exif6_raw.jpg"), oriented), ["g_exif6_raw.jpg"]),
        ((split("m_alpha.png"), "PNG RGBA image converted to RGB"), ["m_alpha.png"]),
        ((split("n_16bit.png"), "PNG 16-bit grayscale scaled to 8 bits"), ["n_16bit.png"]),
        ((split("o_resized.jpg"), "boxes scaled from the annotation's image size"),
         ["o_resized.jpg"]),
    ]
    return {"splits": splits, "skipped": _merge(skipped), "corrected": _merge(corrected),
            "classes": ("dog", "cat", "bird"), "category_ids": [2, 7, 40],
            "images": images, "annotations": root / "annotations.json"}


def _merge(problems: list[tuple[tuple[str, str], list[str]]]) -> dict:
    """``{(split, kind): names}``, joining entries whose split and kind coincide (two images
    hashed to the same split)."""
    merged: dict = {}
    for key, names in problems:
        merged.setdefault(key, []).extend(names)
    return merged


# ------------------------------------------------------------------------------------- VOC

def make_voc_folder(root: Path) -> dict:
    """JPEGImages/, Annotations/ and ImageSets/Main/{train,val}.txt. VOC coordinates are 1-based
    pixel indices: xmin 1 is the left edge, so xyxy = (xmin - 1, ymin - 1, xmax, ymax)."""
    images, annotations, lists = (root / "JPEGImages", root / "Annotations",
                                  root / "ImageSets" / "Main")
    for folder in (images, annotations, lists):
        folder.mkdir(parents=True)

    def objects_xml(image_id, width, height, objects, filename=None):
        data = voc_xml(filename or f"{image_id}.jpg", width, height,
                       [obj[:6] for obj in objects], folder="mine", database="mine")
        for obj in objects:   # (name, xmin, ymin, xmax, ymax, difficult, truncated)
            if len(obj) > 6 and obj[6]:
                data = data.replace(
                    f"<name>{obj[0]}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0"
                    .encode(),
                    f"<name>{obj[0]}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>1"
                    .encode(), 1)
        (annotations / f"{image_id}.xml").write_bytes(data)

    (images / "000001.jpg").write_bytes(jpeg(48, 32, RED))
    objects_xml("000001", 48, 32, [("car", 1, 1, 48, 32), ("person", 10, 10, 20, 20, 1),
                                   ("bike", 5, 6, 5, 6, 0, 1)])   # one pixel, truncated
    (images / "000002.jpg").write_bytes(jpeg(40, 30, GREEN))
    objects_xml("000002", 40, 30, [])                              # a negative image
    (images / "000003.jpg").write_bytes(jpeg(48, 32, BLUE))
    objects_xml("000003", 48, 32, [("car", 0, 0, 10, 10),        # written 0-based: clipped
                                   ("car", 40, 20, 60, 32),      # right of the image: clipped
                                   ("person", 30, 5, 20, 9)])    # inverted: dropped
    objects_xml("000004", 48, 32, [("car", 1, 1, 5, 5)])          # its image is missing
    (images / "000005.jpg").write_bytes(jpeg(48, 32, RED))        # listed, no annotation
    (images / "000006.jpg").write_bytes(jpeg(48, 32, RED))
    (annotations / "000006.xml").write_text("<annotation><object><name>car</name>")
    # Stored 40x20 (red left, blue right), orientation 8: shown turned 90 degrees
    # counter-clockwise, 20 wide and 40 tall with red at the bottom; <size> is the shown one.
    (images / "000007.jpg").write_bytes(two_colour_image(40, 20, orientation=8))
    objects_xml("000007", 20, 40, [("person", 3, 21, 18, 40)])
    (images / "000008.jpg").write_bytes(jpeg(32, 24, GREEN, mode="CMYK"))
    objects_xml("000008", 32, 24, [("bike", 2, 2, 31, 23)])
    (images / "000009.png").write_bytes(png(32, 24, 77, mode="L"))   # lossless, kept as is
    objects_xml("000009", 32, 24, [("car", 11.5, 3.5, 20.25, 9)], filename="000009.png")
    objects_xml("000010", 48, 32, [("car", 1, 1, 5, 5)])          # in no ImageSets list
    (images / "000010.jpg").write_bytes(jpeg(48, 32, RED))
    (images / "extra.jpg").write_bytes(jpeg(16, 16, RED))         # no annotation file

    train = ["000001", "000002", "000004", "000007", "000009"]
    val = ["000003", "000005", "000006", "000008"]
    (lists / "train.txt").write_text("\n".join(train) + "\n")
    (lists / "val.txt").write_text("\n".join(val) + "\n\n")
    (lists / "car_train.txt").write_text("000001  1\n")            # class lists: not splits

    bike, car, person = 0, 1, 2
    splits = {
        "train": {
            "000001.jpg": example(boxes=[(0, 0, 48, 32), (9, 9, 20, 20), (4, 5, 5, 6)],
                                  labels=[car, person, bike], ignore=[False, True, False],
                                  shape=(32, 48, 3), colors={(16, 24): RED}),
            "000002.jpg": example(shape=(30, 40, 3)),
            "000007.jpg": example(boxes=[(2, 20, 18, 40)], labels=[person], shape=(40, 20, 3),
                                  colors={(5, 10): BLUE, (35, 10): RED}),
            "000009.png": example(boxes=[(10.5, 2.5, 20.25, 9)], labels=[car],
                                  shape=(24, 32, 3), colors={(12, 16): (77, 77, 77)}),
        },
        "validation": {
            "000003.jpg": example(boxes=[(0, 0, 10, 10), (39, 19, 48, 32)], labels=[car, car],
                                  shape=(32, 48, 3)),
            "000008.jpg": example(boxes=[(1, 1, 31, 23)], labels=[bike], shape=(24, 32, 3),
                                  colors={(12, 16): GREEN}),
        },
    }
    skipped = {
        ("train", "missing image file"): ["000004.jpg"],
        ("validation", "listed image without annotation file"): ["000005"],
        ("validation", "unreadable annotation"): ["000006.xml"],
        (UNASSIGNED, "annotation in no ImageSets/Main list"): ["000010.xml"],
        (UNASSIGNED, "image without annotation file"): ["000005.jpg", "extra.jpg"],
    }
    corrected = {
        ("validation", "box clipped to the image"): ["000003.jpg", "000003.jpg"],
        ("validation", "box dropped: inverted (min > max)"): ["000003.jpg"],
        ("validation", "CMYK JPEG converted to RGB"): ["000008.jpg"],
        ("train", "EXIF orientation 8 applied to the pixels"): ["000007.jpg"],
    }
    return {"splits": splits, "skipped": skipped, "corrected": corrected,
            "classes": ("bike", "car", "person"), "root": root}


# ------------------------------------------------------------------------------ class folders

def make_image_folder(root: Path, val_fraction: float) -> dict:
    """``root/CLASS/...``: classes bird, cat, dog and an empty one; a file copied into two
    classes, a nested sub-folder, a text file, a dot file, a stray image and a broken one."""
    for folder in ("cat/sub", "dog", "bird", "empty_class", ".cache"):
        (root / folder).mkdir(parents=True)
    files = {
        "cat/1.jpg": jpeg(20, 16, RED), "cat/2.png": png(20, 16, GREEN),
        "cat/sub/3.jpg": jpeg(18, 12, BLUE), "dog/1.jpg": jpeg(20, 16, RED),
        "dog/4.JPG": jpeg(16, 20, GREEN, mode="L"), "dog/notes.txt": b"not an image",
        "dog/.DS_Store": b"\0\0", ".cache/x.jpg": jpeg(8, 8, RED), "stray.jpg": jpeg(8, 8, RED),
        "bird/5.jpeg": jpeg(24, 12, BLUE), "bird/broken.jpg": b"\xff\xd8 not really",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    bird, cat, dog = 0, 1, 2
    kept = {"cat/1.jpg": (cat, "1.jpg", (16, 20, 3)), "cat/2.png": (cat, "2.png", (16, 20, 3)),
            "cat/sub/3.jpg": (cat, "sub/3.jpg", (12, 18, 3)),
            "dog/1.jpg": (dog, "1.jpg", (16, 20, 3)), "dog/4.JPG": (dog, "4.JPG", (20, 16, 3)),
            "bird/5.jpeg": (bird, "5.jpeg", (12, 24, 3))}
    splits: dict[str, dict] = {}
    for filename, (label, inside, shape) in kept.items():
        splits.setdefault(_split_of(inside, val_fraction), {})[filename] = example(
            label=label, shape=shape)
    skipped = {
        (UNASSIGNED, "not an image file"): ["dog/notes.txt"],
        (UNASSIGNED, "image outside a class folder"): ["stray.jpg"],
        (_split_of("broken.jpg", val_fraction), "unreadable image"): ["bird/broken.jpg"],
    }
    return {"splits": splits, "skipped": skipped, "corrected": {},
            "classes": ("bird", "cat", "dog", "empty_class"), "root": root}
