"""Prepared TFDS datasets read back without TensorFlow, as example dicts of the project contract.

``open_tfds_source("voc/2007", "train")`` opens the array_record files that ``overfeat data
prepare`` (or TFDS itself, with ``file_format="array_record"``) wrote, through
``tfds.core.builder_from_directory(...).as_data_source``: features come from the dataset's own
``features.json``, so neither TensorFlow nor the builder's code is imported. Images are decoded
with Pillow. Each example is::

    image     uint8 [H, W, 3] RGB (or the encoded bytes with decode_image=False)
    label     int32 []        the image's class (only datasets that have one: imagenet2012,
                              ilsvrc2012_loc)
    boxes     float32 [N, 4]  xyxy in pixels of the image (converted from TFDS's normalized
                              [ymin, xmin, ymax, xmax]; [0, 4] when the dataset has no boxes)
    labels    int32 [N]       class of each box
    ignore    bool [N]        COCO crowd regions and VOC "difficult" objects
    filename  str             the image's file name in the original archive
    image_id  int64 []        COCO's image id (COCO only)

PASCAL VOC is the one dataset whose TFDS boxes are not on the continuous pixel grid: TFDS divides
VOC's 1-based pixel indices by the image size, so ``xmin`` and ``ymin`` are moved by one pixel
here (``box_formats.xyxy_from_voc_pixels``).
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from overfeat.boxes import xyxy_from_tfds_yxyx_normalized
from overfeat.data.box_formats import ONE_BASED_TFDS_DATASETS
from overfeat.data.checks import BadExampleError, decode_image, image_size
from overfeat.data.image_files import decode_rgb

# Per-object flags that mark a box to be ignored in training and evaluation.
_IGNORE_FLAGS = ("is_crowd", "is_difficult")
_FILENAME_KEYS = ("image/filename", "file_name")
_VERSION = re.compile(r"\d+\.\d+\.\d+")


def default_data_dir() -> pathlib.Path:
    """TFDS's data directory: ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``. The variable
    is read at each call (TFDS reads it once, when imported)."""
    return pathlib.Path(os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
                        ).expanduser()


def dataset_directory(name: str, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The directory of a prepared dataset, ``DATA_DIR/NAME[/CONFIG]/VERSION``.

    ``name`` is TFDS's, e.g. ``"imagenet2012"``, ``"voc/2007"`` or ``"voc/2007:5.0.0"``; without
    a version the newest prepared one is used.
    """
    name, _, version = name.partition(":")
    root = pathlib.Path(data_dir).expanduser() if data_dir else default_data_dir()
    dataset_root = root / name
    hint = f"prepare it with `overfeat data prepare {name} --manual-dir DIR --data-dir {root}`"
    if not dataset_root.is_dir():
        raise FileNotFoundError(f"dataset {name!r} is not prepared in {root}: {hint}")
    versions = sorted(
        (child for child in dataset_root.iterdir()
         if _VERSION.fullmatch(child.name) and (child / "dataset_info.json").is_file()),
        key=lambda child: tuple(int(part) for part in child.name.split(".")))
    if version:
        chosen = [child for child in versions if child.name == version]
        if not chosen:
            found = ", ".join(child.name for child in versions) or "none"
            raise FileNotFoundError(f"dataset {name!r} version {version} is not prepared in "
                                    f"{root} (prepared versions: {found})")
        return chosen[0]
    if not versions:
        configs = sorted(child.name for child in dataset_root.iterdir() if child.is_dir())
        if configs:
            raise FileNotFoundError(f"dataset {name!r} has configs ({', '.join(configs)}): "
                                    f"name one, e.g. {name}/{configs[0]}")
        raise FileNotFoundError(f"dataset {name!r} has no complete version in {dataset_root}: "
                                f"{hint}")
    return versions[-1]


def dataset_splits(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """The splits of a prepared dataset and their sizes, e.g. ``{"train": 2501, ...}``."""
    info = tfds.builder_from_directory(os.fspath(dataset_directory(name, data_dir))).info
    return {str(split): int(split_info.num_examples) for split, split_info in info.splits.items()}


def open_tfds_source(name: str, split: str, data_dir: str | os.PathLike | None = None, *,
                     decode_image: bool = True) -> TfdsSource:
    """Random access (``len``, ``[i]``) to split ``split`` of a prepared dataset.

    ``split`` is a TFDS split ("train", "validation", "test", or a slice like "train[:1000]");
    "val" means "validation". ``data_dir`` defaults to TFDS's. Raises ``FileNotFoundError`` with
    the command to run when the dataset is not prepared, ``ValueError`` for an unknown split or
    a dataset not stored as array_record.
    """
    return TfdsSource(dataset_directory(name, data_dir), split, decode_image=decode_image)


class TfdsSource:
    """One split of a prepared TFDS dataset as example dicts (see the module docstring).

    Picklable (it reopens its files after unpickling), so that loader worker processes can
    hold one.
    """

    def __init__(self, builder_dir: str | os.PathLike, split: str, *, decode_image: bool = True,
                 min_shorter_side: int | None = None):
        self.builder_dir = pathlib.Path(builder_dir)
        self.decode_image = decode_image
        self.min_shorter_side = min_shorter_side
        builder = tfds.builder_from_directory(os.fspath(self.builder_dir))
        info = builder.info
        self.name = info.full_name.rsplit("/", 1)[0]   # e.g. "voc/2007"
        self.split = _resolve_split(split, info.splits.keys(), self.name)
        features = info.features
        self._label_key = "label" if "label" in features else None
        objects = features["objects"] if "objects" in features else None  # noqa: SIM401 (FeaturesDict has no .get)
        self._has_boxes = objects is not None and "bbox" in objects.feature
        if self._label_key:
            self.class_names = tuple(features["label"].names)
        elif self._has_boxes:
            self.class_names = tuple(objects.feature["label"].names)
        else:
            self.class_names = ()
        self._ignore_flags = tuple(flag for flag in _IGNORE_FLAGS
                                   if self._has_boxes and flag in objects.feature)
        self._filename_key = next((key for key in _FILENAME_KEYS if key in features), None)
        self._has_image_id = "image/id" in features
        self._one_based = info.name in ONE_BASED_TFDS_DATASETS
        self._source = self._open(builder)

    def _open(self, builder=None):
        builder = builder or tfds.builder_from_directory(os.fspath(self.builder_dir))
        try:
            return builder.as_data_source(split=self.split,
                                          decoders={"image": tfds.decode.SkipDecoding()})
        except NotImplementedError as error:   # stored as tfrecord (TFDS's default)
            raise ValueError(
                f"{self.builder_dir}: {error}. Random access needs array_record: prepare it "
                "with `overfeat data prepare` or convert it with `tfds convert_format`") from None

    @property
    def metadata(self) -> dict:
        """The dataset's own metadata (``metadata.json``; e.g. a COCO folder's
        ``category_ids``, the image-size statistics of a folder dataset), {} when it has none."""
        path = self.builder_dir / "metadata.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def with_min_shorter_side(self, size: int | None) -> TfdsSource:
        """This split, its JPEGs decoded at 1/2, 1/4 or 1/8 of their size where the shorter
        side stays >= ``size`` (the decoder's DCT scaling: a 12-megapixel photo decodes ~4x
        faster, and the resizing after it is cheaper still). Boxes come in the decoded image's
        pixels, so every example stays consistent; a pipeline that resizes to ``size`` or less
        sees the same picture."""
        reduced = copy.copy(self)
        reduced.min_shorter_side = size
        return reduced

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_boxes(self) -> bool:
        return self._has_boxes

    @property
    def has_label(self) -> bool:
        return self._label_key is not None

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict:
        return self._example(self._source[index], index)

    def __iter__(self):
        # Without it, ``for`` would call __getitem__ until IndexError, which array_record never
        # raises (it raises ValueError past the end).
        return (self[index] for index in range(len(self)))

    def annotations(self, index: int) -> dict:
        """Example ``index`` without decoding its image: ``boxes``, ``labels``, ``ignore``
        (and ``label`` where the dataset has one), read from the record and the image's
        header."""
        record = self._source[index]
        try:
            height, width = image_size(record["image"], name=f"example {index}")
        except BadExampleError as error:
            raise ValueError(f"{self.name}:{self.split}: {error}") from None
        example = self._boxes(record, height, width)
        if self._label_key:
            example["label"] = np.int32(record[self._label_key])
        return example

    def __getitems__(self, indices) -> list[dict]:
        records = self._source.__getitems__(list(indices))
        return [self._example(record, index) for record, index in zip(records, indices,
                                                                       strict=True)]

    def __repr__(self) -> str:
        return (f"TfdsSource({self.name}:{self.split}, {len(self)} examples, "
                f"{self.num_classes} classes, from {self.builder_dir})")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_source")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._source = self._open()

    def _example(self, record: dict, index: int) -> dict:
        data = record["image"]                                   # encoded bytes
        filename = _text(record[self._filename_key]) if self._filename_key else str(index)
        pixel = 1.0  # the size of one of the file's pixels in the decoded image
        try:
            if not self.decode_image:
                image = data
                height, width = image_size(data, name=filename)
            elif self.min_shorter_side:
                image = decode_image(data, name=filename, min_shorter_side=self.min_shorter_side)
                height, width = image.shape[:2]
                pixel = width / image_size(data, name=filename)[1]
            else:
                image = decode_rgb(data)                         # [H, W, 3]
                height, width = image.shape[:2]
        except (OSError, BadExampleError) as error:
            raise ValueError(f"{self.name}:{self.split} example {index} ({filename}): image "
                             f"does not decode: {error}") from None
        example = {"image": image}
        if self._label_key:
            example["label"] = np.int32(record[self._label_key])
        example.update(self._boxes(record, height, width, pixel=pixel))
        example["filename"] = filename
        if self._has_image_id:
            example["image_id"] = np.int64(record["image/id"])
        return example

    def _boxes(self, record: dict, height: int, width: int, pixel: float = 1.0) -> dict:
        """The record's boxes in pixels of a ``height`` x ``width`` image; ``pixel``: the
        size of one of the file's pixels there (below 1 when decoded at a reduced size)."""
        if not self._has_boxes:
            return {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros((0,), np.int32),
                    "ignore": np.zeros((0,), bool)}
        objects = record["objects"]
        bbox = np.asarray(objects["bbox"], np.float64).reshape(-1, 4)   # [N, 4] yxyx normalized
        boxes = xyxy_from_tfds_yxyx_normalized(bbox, height, width).astype(np.float32)  # pixels
        if self._one_based:
            boxes[:, :2] = np.maximum(boxes[:, :2] - pixel, 0.0)
        labels = np.asarray(objects["label"], np.int32).reshape(-1)     # [N]
        ignore = np.zeros(labels.shape, bool)                           # [N]
        for flag in self._ignore_flags:
            ignore |= np.asarray(objects[flag], bool).reshape(-1)
        return {"boxes": boxes, "labels": labels, "ignore": ignore}


def _resolve_split(split: str, available, name: str) -> str:
    available = [str(key) for key in available]
    base = re.split(r"[\[(]", split, maxsplit=1)[0]
    if base == "val" and "val" not in available and "validation" in available:
        split, base = "validation" + split[len(base):], "validation"
    if base not in available:
        raise ValueError(f"{name} has no split {base!r}; its splits: {', '.join(available)}")
    return split


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
