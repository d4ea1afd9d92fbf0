"""A TFDS dataset made from a folder of one's own images: the builder shared by ``coco-folder``,
``voc-folder`` and ``image-folder`` (``overfeat data prepare``).

A format's reader (``coco_folder``, ``voc_folder``, ``image_folder``) turns its annotation files
into a ``FolderListing``: the class names, and per split the images with their objects, boxes
already converted to ``xyxy`` on the continuous pixel grid of the image the annotator saw. This
module writes that listing as a real TFDS dataset (array_record), named as the user chose, and
applies the checks every example of the project goes through:

- the image decodes completely (``image_files.check_encoded_image``), with its EXIF orientation
  applied to the pixels, grayscale kept, CMYK/16-bit/alpha/palette images converted, PNGs kept
  lossless; a missing or unreadable file is skipped;
- boxes are mapped onto the stored image (``box_formats.annotation_frame``: the displayed image
  unless the annotation's recorded size says otherwise) and fitted to it (``fit_box_xyxy``);
- an image whose annotations all had to be dropped is skipped (it shows objects, so it is no
  negative); an image that had no annotation is kept as a negative.

Everything skipped or corrected is counted in a ``DataProblems``. Figures about the prepared
data (image sizes, boxes per class, negatives) are stored in the dataset's metadata
(``metadata.json``, read back by ``TfdsSource.metadata``) for configs to derive defaults from.

Splits: given by the folder (VOC's ImageSets, ``train/``/``val/`` folders) or, when not, decided
per image by a hash of its file name (``hashed_split``): deterministic, independent of the order
and number of files, and stable when images are added (no image changes split).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import re
import statistics
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from overfeat.boxes import tfds_yxyx_normalized_from_xyxy
from overfeat.data.box_formats import annotation_frame, fit_box_xyxy
from overfeat.data.image_files import BadImageError, check_encoded_image
from overfeat.data.problems import DataProblems

DATASET_VERSION = "1.0.0"
TRAIN, VALIDATION, TEST = "train", "validation", "test"

# File name endings taken for images (case-insensitive); other files are counted, not read.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff",
                    ".webp", ".ppm", ".pgm")

# TFDS keeps a dataset in DATA_DIR/NAME/VERSION and its files are NAME-split.array_record-*:
# a lower-case identifier. Names of the datasets the project prepares or exports are refused, so
# that a folder dataset never shadows one (or inherits the reading rules of TFDS's ``voc``).
_NAME = re.compile(r"[a-z][a-z0-9_]*")
RESERVED_NAMES = ("imagenet2012", "ilsvrc2012_loc", "voc", "coco", "synthetic",
                  "synthetic_shapes")

# Per-object flags of the detection formats; ``is_crowd`` and ``is_difficult`` make
# ``TfdsSource`` set ``ignore``.
COCO_FLAGS = ("is_crowd",)
VOC_FLAGS = ("is_difficult", "is_truncated")

# The "split" of problems found before an image has one (an annotation of an unknown image).
UNASSIGNED = "unassigned"

NO_VALID_BOX = "no valid box"
MISSING_IMAGE = "missing image file"


def is_image_file(path: pathlib.Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_hidden(path: pathlib.Path) -> bool:
    """Dot files and folders (.DS_Store, .ipynb_checkpoints, ...): not data, never read."""
    return path.name.startswith(".")


def files_under(directory: pathlib.Path) -> list[pathlib.Path]:
    """Every file in ``directory`` and its sub-folders, sorted, hidden ones left out."""
    found = []
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found.extend(pathlib.Path(folder) / name for name in sorted(files)
                     if not name.startswith("."))
    return found


def image_files_under(directory: pathlib.Path) -> list[pathlib.Path]:
    """The image files (by name) in ``directory`` and its sub-folders, sorted."""
    return [path for path in files_under(directory) if is_image_file(path)]


def check_dataset_name(name: str) -> str:
    """Returns ``name`` when it can name a folder dataset; raises ``ValueError`` saying why not."""
    if not _NAME.fullmatch(name or ""):
        raise ValueError(f"dataset name {name!r}: use lower-case letters, digits and _, starting "
                         "with a letter (TFDS names its files after the dataset)")
    if name in RESERVED_NAMES:
        raise ValueError(f"dataset name {name!r} is taken by a dataset of the project; choose "
                         "another --name")
    return name


def split_hash(file_name: str) -> float:
    """A number in [0, 1) fixed by ``file_name`` alone: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(file_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hashed_split(file_name: str, val_fraction: float) -> str:
    """``"validation"`` for about ``val_fraction`` of all file names, ``"train"`` for the rest.

    The same name always goes to the same split, whatever else is in the folder, and raising
    the fraction only moves images from train to validation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    return VALIDATION if split_hash(file_name) < val_fraction else TRAIN


@dataclasses.dataclass(frozen=True)
class FolderObject:
    """One annotated object, its box ``xyxy`` on the continuous grid of the annotated image."""

    box: tuple[float, float, float, float]
    label: int
    ignore: bool = False      # COCO ``iscrowd``, VOC ``difficult``: neither target nor miss
    truncated: bool = False   # VOC ``truncated``: stored, an ordinary object otherwise


@dataclasses.dataclass(frozen=True)
class FolderImage:
    """One image of a listing.

    ``key``: unique within the dataset (the TFDS example key); ``filename``: stored as
    ``image/filename``, the name the annotations use; ``annotations``: how many annotations the
    file had for this image, including ones the reader dropped (0: a negative image);
    ``annotated_size``: ``(width, height)`` recorded in the annotation, if any.
    """

    key: str
    path: pathlib.Path      # the image file (it may be missing: counted then)
    filename: str
    objects: tuple[FolderObject, ...] = ()
    annotations: int = 0
    label: int | None = None          # the class of an image-folder image
    annotated_size: tuple[int, int] | None = None
    image_id: int | None = None       # COCO's image id


@dataclasses.dataclass
class FolderListing:
    """What a format reader found: classes, images per split, and how the dataset is described.

    ``object_flags``: the per-object flags stored (empty for classification, which stores a
    ``label`` per image and no objects); ``metadata``: JSON-ready facts stored with the dataset
    (format, source, split rule, COCO category ids, ...).
    """

    kind: str
    class_names: tuple[str, ...]
    splits: dict[str, list[FolderImage]]
    classification: bool = False
    object_flags: tuple[str, ...] = ()
    has_image_ids: bool = False
    metadata: dict = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()   # what the user should know, printed at the end of prepare

    def __post_init__(self):
        check_class_names(self.class_names, self.kind)


def check_class_names(names, source: str) -> None:
    """Class names must be distinct, non-empty and on one line (TFDS stores one per line)."""
    if not names:
        raise ValueError(f"{source}: no classes found")
    seen = set()
    for name in names:
        if not name or not name.strip() or "\n" in name or "\r" in name:
            raise ValueError(f"{source}: class name {name!r} is empty or spans lines")
        if name in seen:
            raise ValueError(f"{source}: class name {name!r} is used twice")
        seen.add(name)


def folder_builder_class(name: str) -> type[FolderDataset]:
    """A builder class named ``name`` (TFDS takes a dataset's name from its class), not entered
    in TFDS's registry: the dataset is read back from its directory, never by registry name."""
    check_dataset_name(name)
    return type(f"FolderDataset_{name}", (FolderDataset,),
                {"name": name, "__module__": __name__}, skip_registration=True)


class FolderDataset(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Writes a ``FolderListing`` as a TFDS dataset; make one with ``folder_builder_class``."""

    VERSION = tfds.core.Version(DATASET_VERSION)
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        DATASET_VERSION: "Prepared by overfeat data prepare."}

    def __init__(self, *, listing: FolderListing, problems: DataProblems | None = None,
                 **kwargs):
        self.listing = listing   # before super().__init__, which may build the info
        self.problems = problems if problems is not None else DataProblems()
        self._statistics = _Statistics(len(listing.class_names))
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        listing = self.listing
        features = {"image": tfds.features.Image(shape=(None, None, 3)),
                    "image/filename": tfds.features.Text()}
        if listing.has_image_ids:
            features["image/id"] = np.int64
        if listing.classification:
            features["label"] = tfds.features.ClassLabel(names=list(listing.class_names))
        else:
            objects = {"bbox": tfds.features.BBoxFeature(),
                       "label": tfds.features.ClassLabel(names=list(listing.class_names))}
            objects.update({flag: np.bool_ for flag in listing.object_flags})
            features["objects"] = tfds.features.Sequence(objects)
        return self.dataset_info_from_configs(
            description=f"{listing.kind} dataset prepared by `overfeat data prepare "
                        f"{listing.kind}`",
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label") if listing.classification else None,
            metadata=tfds.core.MetadataDict(listing.metadata),
        )

    def _split_generators(self, dl_manager):
        del dl_manager   # everything is in the folder
        return {split: self._generate_examples(split, images)
                for split, images in self.listing.splits.items() if images}

    def _generate_examples(self, split: str, images: list[FolderImage]):
        for image in images:
            example = self._example(split, image)
            if example is not None:
                yield image.key, example
        self.info.metadata["statistics"] = self._statistics.as_dict()

    def _example(self, split: str, entry: FolderImage) -> dict | None:
        where = entry.filename
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            self.problems.skipped(split, MISSING_IMAGE, where, str(entry.path))
            return None
        except OSError as error:
            self.problems.skipped(split, "unreadable image file", where, str(error))
            return None
        try:
            image = check_encoded_image(data, where, apply_exif_orientation=True, lossless=True)
        except BadImageError as error:
            self.problems.skipped(split, error.kind, where, error.detail)
            return None
        for correction in image.corrections:
            self.problems.corrected(split, correction, where)
        example = {"image": image.data, "image/filename": entry.filename}
        if self.listing.has_image_ids:
            example["image/id"] = np.int64(entry.image_id)
        if self.listing.classification:
            example["label"] = entry.label
            self._statistics.add(split, image, [entry.label], [])
            return example
        objects = self._objects(split, entry, image)
        if entry.annotations and not objects:
            self.problems.skipped(split, NO_VALID_BOX, where)
            return None
        example["objects"] = objects
        self._statistics.add(split, image, [obj["label"] for obj in objects],
                             [obj["bbox"] for obj in objects])
        return example

    def _objects(self, split: str, entry: FolderImage, image) -> list[dict]:
        where = entry.filename
        frame = annotation_frame(entry.annotated_size, image.width, image.height,
                                 image.orientation)
        if frame.problem and entry.objects:
            width, height = entry.annotated_size
            self.problems.corrected(split, frame.problem, where,
                                    f"{width}x{height} -> {image.width}x{image.height}")
        objects = []
        for obj in entry.objects:
            box = frame.to_image(obj.box)
            fitted = fit_box_xyxy(box, image.width, image.height)
            if fitted.problem:
                self.problems.corrected(split, fitted.problem, where,
                                        f"xyxy {tuple(round(float(v), 2) for v in box)}")
            if fitted.box is None:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in tfds_yxyx_normalized_from_xyxy(
                np.asarray(fitted.box, np.float64), image.height, image.width))
            flags = {"is_crowd": obj.ignore, "is_difficult": obj.ignore,
                     "is_truncated": obj.truncated}
            objects.append({"bbox": tfds.features.BBox(ymin, xmin, ymax, xmax),
                            "label": obj.label,
                            **{flag: flags[flag] for flag in self.listing.object_flags}})
        return objects


class _Statistics:
    """Image sizes, object sizes, labels per class and negatives of the examples written, per
    split. An object's size is the side of the square of its area over the image's shorter
    side (``object_size``: how large the six-scale inference will show the objects, for a
    user to check against the network's field of view)."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.widths: list[int] = []
        self.heights: list[int] = []
        self.object_sizes: list[float] = []
        self.per_split: dict[str, dict] = {}

    def add(self, split: str, image, labels: list[int], bboxes) -> None:
        self.widths.append(image.width)
        self.heights.append(image.height)
        for box in bboxes:   # tfds BBox: normalized ymin, xmin, ymax, xmax
            area = (box.ymax - box.ymin) * image.height * (box.xmax - box.xmin) * image.width
            self.object_sizes.append(round(area ** 0.5 / min(image.width, image.height), 4))
        counts = self.per_split.setdefault(
            split, {"images": 0, "negatives": 0, "per_class": [0] * self.num_classes})
        counts["images"] += 1
        counts["negatives"] += not labels
        for label in labels:
            counts["per_class"][label] += 1

    def as_dict(self) -> dict:
        def summary(values):
            if not values:
                return None
            # p10 / p90: robust ends for defaults (configs/custom.py's scales) where min and
            # max are one odd image
            p10, *_, p90 = statistics.quantiles(values, n=10) if len(values) > 1 else values * 2
            return {"min": min(values), "p10": round(p10, 4),
                    "median": statistics.median(values), "p90": round(p90, 4),
                    "max": max(values)}
        return {"image_width": summary(self.widths), "image_height": summary(self.heights),
                "object_size": summary(self.object_sizes), "splits": self.per_split}
