"""Small fake copies of the real dataset archives, made by the tests, and the drivers that prepare
and read them in subprocesses.

Each ``make_*`` function writes real archives (real JPEGs, real PASCAL-VOC XML or COCO JSON, nested
tars where the real archive nests) into a manual directory, under the real file names, and
returns what reading the prepared dataset must give back: per split, per file name, the class,
the boxes in xyxy pixels (worked out by hand from the annotation's convention) and the ignore
flags; and which files must be skipped or corrected.

Run as a script (with the repository root on PYTHONPATH):
    python tests/tfds_fakes.py prepare-tfds MANUAL_ROOT DATA_DIR OUT_JSON
        prepares imagenet2012, voc/2007, voc/2012 and coco/2017 with TFDS's builders; VOC's and
        COCO's checksums are registered for the fake archives (the one thing patched).
    python tests/tfds_fakes.py without-tensorflow MANUAL_ROOT DATA_DIR OUT_JSON
        hides TensorFlow (as if not installed), prepares ilsvrc2012_loc (our builder) and reads
        every prepared split back through open_tfds_source.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

from PIL import Image

RED, GREEN, BLUE, GRAY = (220, 30, 30), (30, 200, 60), (40, 60, 210), (128, 128, 128)

# COCO's 80 category ids (1..90 with gaps), in the order of instances_*.json.
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90)


# ---------------------------------------------------------------------------- files and archives

def jpeg(width: int, height: int, color=RED, mode: str = "RGB") -> bytes:
    """A solid-colour JPEG; mode "L" (grayscale) or "CMYK" for the odd ImageNet files."""
    if mode == "L":
        fill = sum(color) // 3
    elif mode == "CMYK":   # the CMYK ink that prints ``color``
        fill = (255 - color[0], 255 - color[1], 255 - color[2], 0)
    else:
        fill = color
    buffer = io.BytesIO()
    Image.new(mode, (width, height), fill).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def png(width: int, height: int, color=GREEN) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_jpeg(width: int, height: int) -> bytes:
    data = jpeg(width, height, BLUE)
    return data[: len(data) // 2]


def tar_bytes(members: dict[str, bytes], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def voc_xml(filename: str, width: int, height: int, objects, folder: str = "VOC2007",
            database: str = "The VOC2007 Database") -> bytes:
    """PASCAL-VOC XML; ``objects``: (name, xmin, ymin, xmax, ymax[, difficult])."""
    parts = [f"<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{filename}</filename>\n"
             f"\t<source>\n\t\t<database>{database}</database>\n\t</source>\n"
             f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n"
             "\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n"]
    for name, xmin, ymin, xmax, ymax, *flags in objects:
        difficult = flags[0] if flags else 0
        parts.append(f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n"
                     f"\t\t<truncated>0</truncated>\n\t\t<difficult>{difficult}</difficult>\n"
                     f"\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
                     f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n\t\t</bndbox>\n"
                     "\t</object>\n")
    parts.append("</annotation>\n")
    return "".join(parts).encode()


def _example(label, boxes=(), labels=(), ignore=None, shape=None, color=None) -> dict:
    """What one read-back example must be (``color``: the mean RGB, when the image is solid)."""
    return {"label": label, "boxes": [list(map(float, box)) for box in boxes],
            "labels": list(labels),
            "ignore": list(ignore) if ignore is not None else [False] * len(boxes),
            "shape": list(shape) if shape else None, "color": list(color) if color else None}


# ----------------------------------------------------------------------------------- ImageNet

def make_imagenet(manual_dir: Path) -> dict:
    """ILSVRC2012_img_train.tar (per-class inner tars) and ILSVRC2012_img_val.tar, with the odd
    files of the real archive: grayscale and CMYK JPEGs, PNGs named .JPEG (the ones TFDS's
    builder lists and ones it does not), a truncated JPEG and a file that is no image."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    classes = {
        "n01440764": {"n01440764_1.JPEG": jpeg(48, 32, RED),
                      "n01440764_2.JPEG": jpeg(40, 30, GRAY, mode="L"),
                      "n01440764_3.JPEG": jpeg(36, 28, BLUE, mode="CMYK")},
        "n01443537": {"n01443537_4.JPEG": jpeg(30, 40, GREEN),
                      "n01443537_5.JPEG": truncated_jpeg(50, 40),
                      "n01443537_6.JPEG": png(32, 24, GREEN),
                      "n01443537_7.JPEG": b"this is not an image"},
        # Names on TFDS's own lists of the real archive's CMYK and PNG files.
        "n01739381": {"n01739381_1309.JPEG": jpeg(30, 20, RED, mode="CMYK")},
        "n02105855": {"n02105855_2933.JPEG": png(26, 22, BLUE)},
    }
    train = {f"{wnid}.tar": tar_bytes(files) for wnid, files in classes.items()}
    (manual_dir / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(train))
    # The first validation images and their devkit classes (TFDS's validation_labels.txt).
    validation = {"ILSVRC2012_val_00000001.JPEG": jpeg(40, 30, RED),
                  "ILSVRC2012_val_00000002.JPEG": jpeg(30, 40, GREEN),
                  "ILSVRC2012_val_00000003.JPEG": jpeg(20, 20, BLUE)}
    (manual_dir / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(validation))
    return {
        "splits": {
            "train": {
                "n01440764_1.JPEG": _example("n01440764", shape=(32, 48, 3), color=RED),
                "n01440764_2.JPEG": _example("n01440764", shape=(30, 40, 3), color=GRAY),
                "n01440764_3.JPEG": _example("n01440764", shape=(28, 36, 3), color=BLUE),
                "n01443537_4.JPEG": _example("n01443537", shape=(40, 30, 3), color=GREEN),
                "n01443537_6.JPEG": _example("n01443537", shape=(24, 32, 3), color=GREEN),
                "n01739381_1309.JPEG": _example("n01739381", shape=(20, 30, 3)),
                "n02105855_2933.JPEG": _example("n02105855", shape=(22, 26, 3), color=BLUE),
            },
            "validation": {
                "ILSVRC2012_val_00000001.JPEG": _example("n01751748", shape=(30, 40, 3)),
                "ILSVRC2012_val_00000002.JPEG": _example("n09193705", shape=(40, 30, 3)),
                "ILSVRC2012_val_00000003.JPEG": _example("n02105855", shape=(20, 20, 3)),
            },
        },
        "skipped": {("train", "truncated image"): ["n01443537_5.JPEG"],
                    ("train", "unreadable image"): ["n01443537_7.JPEG"]},
        "corrected": {("train", "CMYK JPEG converted to RGB"): ["n01440764_3.JPEG"],
                      ("train", "PNG RGB image re-encoded as RGB JPEG"): ["n01443537_6.JPEG"]},
    }


def make_ilsvrc_loc(manual_dir: Path) -> dict:
    """The images as in ImageNet plus the devkit's box archives: training XMLs in per-class
    folders and, for one class, in an inner per-class tar.gz; validation XMLs under val/.
    ILSVRC coordinates are on the continuous pixel grid: boxes read back as written, except
    where the XML's <size> differs from the image (scaled) or the box leaves the image."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    a, b = "n01440764", "n01443537"
    train_images = {
        f"{a}.tar": tar_bytes({f"{a}_1.JPEG": jpeg(60, 40, RED),
                               f"{a}_2.JPEG": jpeg(60, 40, RED),      # no box file: not included
                               f"{a}_3.JPEG": jpeg(50, 50, GREEN)}),
        f"{b}.tar": tar_bytes({f"{b}_4.JPEG": jpeg(60, 40, BLUE),
                               f"{b}_5.JPEG": jpeg(60, 40, BLUE),
                               f"{b}_6.JPEG": truncated_jpeg(60, 40),
                               f"{b}_7.JPEG": jpeg(60, 40, BLUE),
                               f"{b}_8.JPEG": jpeg(44, 33, RED, mode="CMYK")}),
    }
    (manual_dir / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(train_images))

    def xml(stem, width, height, objects, folder):
        return voc_xml(stem, width, height, objects, folder=folder, database="ILSVRC_2012")

    class_b_boxes = tar_bytes({
        f"{b}/{b}_4.xml": xml(f"{b}_4", 120, 80, [(b, 20, 10, 100, 70)], b),   # size 2x image
        f"{b}/{b}_5.xml": xml(f"{b}_5", 60, 40, [(b, 40, 20, 70, 45)], b),     # leaves image
        f"{b}/{b}_6.xml": xml(f"{b}_6", 60, 40, [(b, 1, 1, 20, 20)], b),
        f"{b}/{b}_7.xml": xml(f"{b}_7", 60, 40, [(b, 61, 5, 80, 20)], b),     # all outside
        f"{b}/{b}_8.xml": xml(f"{b}_8", 44, 33, [(b, 0, 0, 44, 33)], b),
    }, compress=True)
    train_boxes = tar_bytes({
        f"{a}/{a}_1.xml": xml(f"{a}_1", 60, 40, [(a, 5, 6, 30, 35)], a),
        f"{a}/{a}_3.xml": xml(f"{a}_3", 50, 50, [(a, 30, 5, 10, 45), (a, 0, 0, 50, 50),
                                                 (a, 12.5, 7, 12.5, 30)], a),
        f"{a}/{a}_9.xml": xml(f"{a}_9", 60, 40, [(a, 1, 2, 3, 4)], a),   # image missing
        f"{b}.tar.gz": class_b_boxes,
    }, compress=True)
    (manual_dir / "ILSVRC2012_bbox_train_v2.tar.gz").write_bytes(train_boxes)

    validation_images = {"ILSVRC2012_val_00000001.JPEG": jpeg(40, 30, RED),
                         "ILSVRC2012_val_00000002.JPEG": jpeg(30, 40, GREEN),
                         "ILSVRC2012_val_00000003.JPEG": jpeg(20, 20, BLUE),
                         "ILSVRC2012_val_00000004.JPEG": jpeg(20, 20, BLUE)}   # no box file
    (manual_dir / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(validation_images))
    validation_boxes = tar_bytes({
        "val/ILSVRC2012_val_00000001.xml": xml("ILSVRC2012_val_00000001", 40, 30, [
            ("n01751748", 0, 0, 10.5, 12), ("n01751748", 20, 5, 40, 30)], "val"),
        "val/ILSVRC2012_val_00000002.xml": xml("ILSVRC2012_val_00000002", 30, 40, [
            ("n09193705", 3, 4, 27, 36)], "val"),
        # The devkit says n02105855: a box file naming another class is not trusted.
        "val/ILSVRC2012_val_00000003.xml": xml("ILSVRC2012_val_00000003", 20, 20, [
            ("n01440764", 2, 2, 18, 18)], "val"),
    }, compress=True)
    (manual_dir / "ILSVRC2012_bbox_val_v3.tgz").write_bytes(validation_boxes)
    return {
        "splits": {
            "train": {
                f"{a}_1.JPEG": _example(a, [(5, 6, 30, 35)], [a], shape=(40, 60, 3), color=RED),
                f"{a}_3.JPEG": _example(a, [(0, 0, 50, 50)], [a], shape=(50, 50, 3)),
                f"{b}_4.JPEG": _example(b, [(10, 5, 50, 35)], [b], shape=(40, 60, 3)),
                f"{b}_5.JPEG": _example(b, [(40, 20, 60, 40)], [b], shape=(40, 60, 3)),
                f"{b}_8.JPEG": _example(b, [(0, 0, 44, 33)], [b], shape=(33, 44, 3), color=RED),
            },
            "validation": {
                "ILSVRC2012_val_00000001.JPEG": _example(
                    "n01751748", [(0, 0, 10.5, 12), (20, 5, 40, 30)], ["n01751748"] * 2,
                    shape=(30, 40, 3), color=RED),
                "ILSVRC2012_val_00000002.JPEG": _example(
                    "n09193705", [(3, 4, 27, 36)], ["n09193705"], shape=(40, 30, 3)),
            },
        },
        "skipped": {("train", "truncated image"): [f"{b}_6.JPEG"],
                    ("train", "no valid box"): [f"{b}_7.JPEG"],
                    ("train", "annotation without image"): [f"{a}_9.xml"],
                    ("validation", "image without annotation"): ["ILSVRC2012_val_00000004.JPEG"],
                    ("validation", "box class differs from the devkit label"):
                        ["ILSVRC2012_val_00000003.JPEG"]},
        "corrected": {("train", "box dropped: inverted (min > max)"): [f"{a}_3.JPEG"],
                      ("train", "box dropped: empty (zero width or height)"): [f"{a}_3.JPEG"],
                      ("train", "boxes scaled from the annotation's image size"): [f"{b}_4.JPEG"],
                      ("train", "box clipped to the image"): [f"{b}_5.JPEG"],
                      ("train", "box dropped: outside the image"): [f"{b}_7.JPEG"],
                      ("train", "CMYK JPEG converted to RGB"): [f"{b}_8.JPEG"]},
    }


# ---------------------------------------------------------------------------------- PASCAL VOC

VOC_FILES = {"2007": ("VOCtrainval_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar"),
             "2012": ("VOCtrainval_11-May-2012.tar", "VOC2012test.tar")}


def make_voc(manual_dir: Path, year: str) -> dict:
    """VOCtrainval/VOCtest tars laid out as VOCdevkit/VOC{year}/... VOC coordinates are 1-based
    inclusive pixel indices: xmin..xmax read back as [xmin - 1, xmax]."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    root = f"VOCdevkit/VOC{year}"
    trainval = {
        f"{root}/JPEGImages/000005.jpg": jpeg(48, 32, RED),
        f"{root}/Annotations/000005.xml": voc_xml("000005.jpg", 48, 32, [
            ("chair", 10, 20, 30, 32), ("person", 1, 1, 48, 32, 1)], folder=f"VOC{year}"),
        f"{root}/JPEGImages/000007.jpg": jpeg(40, 30, GRAY, mode="L"),
        f"{root}/Annotations/000007.xml": voc_xml("000007.jpg", 40, 30, [
            ("car", 5, 6, 45, 20)], folder=f"VOC{year}"),         # xmax beyond the image
        f"{root}/JPEGImages/000009.jpg": truncated_jpeg(40, 30),
        f"{root}/Annotations/000009.xml": voc_xml("000009.jpg", 40, 30, [
            ("dog", 1, 1, 10, 10)], folder=f"VOC{year}"),
        f"{root}/JPEGImages/000012.jpg": jpeg(30, 40, BLUE),
        f"{root}/Annotations/000012.xml": voc_xml("000012.jpg", 30, 40, [
            ("tvmonitor", 2, 3, 2, 40)], folder=f"VOC{year}"),    # one pixel wide
        f"{root}/ImageSets/Main/train.txt": b"000005\n000007\n",
        f"{root}/ImageSets/Main/val.txt": b"000009\n000012\n",
    }
    test = {f"{root}/JPEGImages/000001.jpg": jpeg(36, 24, GREEN),
            f"{root}/ImageSets/Main/test.txt": b"000001\n"}
    if year == "2007":   # VOC2012's test set comes without annotations
        test[f"{root}/Annotations/000001.xml"] = voc_xml("000001.jpg", 36, 24, [
            ("bird", 3, 4, 20, 24)], folder=f"VOC{year}")
    trainval_name, test_name = VOC_FILES[year]
    (manual_dir / trainval_name).write_bytes(tar_bytes(trainval))
    (manual_dir / test_name).write_bytes(tar_bytes(test))
    test_example = (_example(None, [(2, 3, 20, 24)], ["bird"], shape=(24, 36, 3))
                    if year == "2007" else _example(None, shape=(24, 36, 3)))
    return {
        "splits": {
            "train": {
                "000005.jpg": _example(None, [(9, 19, 30, 32), (0, 0, 48, 32)],
                                       ["chair", "person"], [False, True], shape=(32, 48, 3),
                                       color=RED),
                "000007.jpg": _example(None, [(4, 5, 40, 20)], ["car"], shape=(30, 40, 3),
                                       color=GRAY),
            },
            "validation": {
                "000012.jpg": _example(None, [(1, 2, 2, 40)], ["tvmonitor"], shape=(40, 30, 3)),
            },
            "test": {"000001.jpg": test_example},
        },
        "skipped": {("validation", "truncated image"): ["000009.jpg"]},
        "corrected": {("train", "box clipped to the image"): ["000007.jpg"]},
    }


# ---------------------------------------------------------------------------------------- COCO

def make_coco(manual_dir: Path) -> dict:
    """The five COCO 2017 zips TFDS's builder reads. Categories keep COCO's ids (1..90 with
    gaps); TFDS numbers them 0..79 in file order. Boxes are [x, y, w, h] in continuous pixels."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    categories = [{"id": category_id, "name": f"category{category_id}", "supercategory": "x"}
                  for category_id in COCO_CATEGORY_IDS]

    def image_info(image_id, split, width, height):
        return {"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": width,
                "height": height, "license": 1, "coco_url": f"{split}/{image_id:012d}.jpg"}

    def annotation(annotation_id, image_id, category_id, bbox, crowd=0):
        return {"id": annotation_id, "image_id": image_id, "category_id": category_id,
                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": crowd,
                "segmentation": [[bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1]]]}

    train_images = [image_info(9, "train2017", 40, 30), image_info(25, "train2017", 40, 30)]
    train = {"images": train_images, "categories": categories, "annotations": [
        annotation(1, 9, 1, [2.5, 3.25, 10.0, 20.5]),
        annotation(2, 9, 3, [0, 0, 8, 8], crowd=1),
        annotation(3, 25, 18, [30.0, 10.0, 20.0, 10.0]),   # right edge at 50 > width 40
    ]}
    validation_images = [image_info(139, "val2017", 30, 20), image_info(285, "val2017", 20, 30)]
    validation = {"images": validation_images, "categories": categories, "annotations": [
        annotation(4, 139, 90, [1, 2, 3, 4])]}             # 285: no annotations at all
    test = {"images": [image_info(1, "test2017", 24, 24)], "categories": categories}
    files = {
        "train2017.zip": {"train2017/000000000009.jpg": jpeg(40, 30, RED),
                          "train2017/000000000025.jpg": jpeg(40, 30, GREEN)},
        "val2017.zip": {"val2017/000000000139.jpg": jpeg(30, 20, BLUE),
                        "val2017/000000000285.jpg": jpeg(20, 30, GRAY, mode="L")},
        "test2017.zip": {"test2017/000000000001.jpg": jpeg(24, 24, RED)},
        "annotations_trainval2017.zip": {
            "annotations/instances_train2017.json": json.dumps(train).encode(),
            "annotations/instances_val2017.json": json.dumps(validation).encode()},
        "image_info_test2017.zip": {
            "annotations/image_info_test2017.json": json.dumps(test).encode()},
    }
    for name, members in files.items():
        (manual_dir / name).write_bytes(zip_bytes(members))
    return {
        "splits": {
            "train": {
                "000000000009.jpg": _example(None, [(2.5, 3.25, 12.5, 23.75), (0, 0, 8, 8)],
                                             ["category1", "category3"], [False, True],
                                             shape=(30, 40, 3), color=RED),
                "000000000025.jpg": _example(None, [(30, 10, 40, 20)], ["category18"],
                                             shape=(30, 40, 3)),
            },
            "validation": {
                "000000000139.jpg": _example(None, [(1, 2, 4, 6)], ["category90"],
                                             shape=(20, 30, 3)),
                "000000000285.jpg": _example(None, shape=(30, 20, 3)),
            },
            "test": {"000000000001.jpg": _example(None, shape=(24, 24, 3))},
        },
        "skipped": {},
        "corrected": {("train", "box clipped to the image"): ["000000000025.jpg"]},
    }


MAKERS = {"imagenet2012": make_imagenet, "ilsvrc2012_loc": make_ilsvrc_loc,
          "voc/2007": lambda path: make_voc(path, "2007"),
          "voc/2012": lambda path: make_voc(path, "2012"), "coco/2017": make_coco}
TFDS_BUILT = ("imagenet2012", "voc/2007", "voc/2012", "coco/2017")


def manual_dir_of(manual_root: Path, name: str) -> Path:
    return manual_root / name.replace("/", "_")


# ------------------------------------------------------------------------------------- drivers

def _register_fake_checksums(manual_root: Path) -> None:
    """Makes TFDS's VOC and COCO builders accept the fake archives: their registered size and
    SHA-256 become those of the fakes (TFDS checks files from manual_dir against them)."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.object_detection import coco, voc

    for builder_cls, names in ((voc.Voc, ("voc/2007", "voc/2012")), (coco.Coco, ("coco/2017",))):
        url_infos = dict(builder_cls.url_infos)
        for url, info in builder_cls.url_infos.items():
            for name in names:
                path = manual_dir_of(manual_root, name) / info.filename
                if path.exists():
                    url_infos[url] = checksums.compute_url_info(path)
        builder_cls.url_infos = url_infos
    assert tfds.builder_cls("voc").url_infos is voc.Voc.url_infos


def _prepare(name: str, manual_root: Path, data_dir: Path) -> dict:
    from overfeat.data.prepare import prepare_dataset

    result = prepare_dataset(name, manual_dir_of(manual_root, name), data_dir)
    return result.as_dict()


def _read_back(data_dir: Path) -> dict:
    """Every example of every prepared split, as JSON-able facts."""
    import numpy as np

    from overfeat.data.tfds_sources import dataset_splits, open_tfds_source

    read = {}
    for name in MAKERS:
        try:
            available = dataset_splits(name, data_dir)
        except FileNotFoundError:   # not prepared (TensorFlow missing for TFDS's builders)
            continue
        splits = {}
        for split in available:
            source = open_tfds_source(name, split, data_dir)
            examples = {}
            for index in range(len(source)):
                example = source[index]
                image = example["image"]
                examples[example["filename"]] = {
                    "label": (source.class_names[example["label"]] if "label" in example
                              else None),
                    "boxes": example["boxes"].tolist(),
                    "boxes_dtype": str(example["boxes"].dtype),
                    "labels": [source.class_names[i] for i in example["labels"]],
                    "ignore": example["ignore"].tolist(),
                    "shape": list(image.shape), "dtype": str(image.dtype),
                    "color": np.round(image.reshape(-1, 3).mean(axis=0)).tolist(),
                }
            splits[split] = examples
        read[name] = {"splits": splits, "class_count": source.num_classes}
    return read


def main(argv: list[str]) -> None:
    mode, manual_root, data_dir, out = argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3])
    if mode == "without-tensorflow":
        hide_tensorflow()
    output: dict = {"prepared": {}}
    if mode == "prepare-tfds":
        try:   # TFDS checks manual files against its checksums: the fakes must be refused
            _prepare("voc/2007", manual_root, data_dir)
            output["unregistered_checksums"] = "accepted"
        except ValueError as error:
            output["unregistered_checksums"] = str(error)
        _register_fake_checksums(manual_root)
        for name in TFDS_BUILT:
            output["prepared"][name] = _prepare(name, manual_root, data_dir)
    elif mode == "without-tensorflow":
        output["prepared"]["ilsvrc2012_loc"] = _prepare("ilsvrc2012_loc", manual_root, data_dir)
        output["read"] = _read_back(data_dir)
    else:
        raise SystemExit(f"unknown mode {mode}")
    output["tensorflow_imported"] = "tensorflow" in sys.modules
    out.write_text(json.dumps(output))


class _WithoutTensorFlow:
    """Wraps a sys.meta_path finder so that it finds no ``tensorflow`` module: imports fail
    with ModuleNotFoundError and ``importlib.util.find_spec`` returns None, exactly as when
    TensorFlow is not installed."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


def hide_tensorflow() -> None:
    sys.meta_path[:] = [_WithoutTensorFlow(finder) for finder in sys.meta_path]
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        return
    raise AssertionError("tensorflow is still importable")


if __name__ == "__main__":
    main(sys.argv[1:])
