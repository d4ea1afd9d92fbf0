"""``ilsvrc2012_loc``: ILSVRC2012 classification-with-localization images with their boxes.

A TFDS builder of ours (TFDS has none for the boxes). It joins the devkit's PASCAL-VOC-style box
XMLs to the images by file name:

- train: the ~544k training images that have a box file (``n01440764/n01440764_10026.xml`` in
  ILSVRC2012_bbox_train_v2.tar.gz, matched to ``n01440764.tar/n01440764_10026.JPEG`` inside
  ILSVRC2012_img_train.tar); the label is the class tar's WNID.
- validation: all 50,000 images (``val/ILSVRC2012_val_00000001.xml`` in
  ILSVRC2012_bbox_val_v3.tgz, matched to ILSVRC2012_img_val.tar); the label is the boxes' WNID,
  checked against the devkit's ground truth that TFDS ships for imagenet2012.

Class indices are TFDS imagenet2012's (WNIDs sorted), so one model serves both datasets. Box
coordinates are taken on the continuous pixel grid as written (NOTES.md, "Datasets"). Every
problem is counted in ``self.problems`` (``overfeat.data.problems.DataProblems``). Preparing this
dataset does not need TensorFlow.
"""

from __future__ import annotations

import re

import numpy as np
import tensorflow_datasets as tfds

from overfeat.boxes import tfds_yxyx_normalized_from_xyxy
from overfeat.data.archives import file_stem, iter_tar_files
from overfeat.data.box_formats import annotation_frame, fit_box_xyxy
from overfeat.data.image_files import BadImageError, check_encoded_image
from overfeat.data.problems import DataProblems
from overfeat.data.voc_xml import VocAnnotation, parse_voc_xml

TRAIN_IMAGES = "ILSVRC2012_img_train.tar"
TRAIN_BOXES = "ILSVRC2012_bbox_train_v2.tar.gz"
VALIDATION_IMAGES = "ILSVRC2012_img_val.tar"
VALIDATION_BOXES = "ILSVRC2012_bbox_val_v3.tgz"

# (split, images archive, boxes archive)
SPLIT_FILES = (("train", TRAIN_IMAGES, TRAIN_BOXES),
               ("validation", VALIDATION_IMAGES, VALIDATION_BOXES))

_VALIDATION_NAME = re.compile(r"ILSVRC2012_val_(\d{8})$")


def imagenet_class_names() -> list[str]:
    """The 1000 WNIDs in TFDS imagenet2012's order (sorted), which gives the class indices."""
    path = tfds.core.tfds_path("datasets/imagenet2012/labels.txt")
    return path.read_text().split()


def imagenet_validation_labels() -> list[str]:
    """The devkit's validation ground truth as WNIDs: entry i is ILSVRC2012_val_{i+1:08d}."""
    path = tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt")
    return path.read_text().split()


class Ilsvrc2012Loc(tfds.core.GeneratorBasedBuilder):
    """ILSVRC2012 CLS-LOC: images, their class, and the boxes of that class."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
    manual_dir holds, for the train split, {TRAIN_IMAGES} and {TRAIN_BOXES}; for the validation
    split, {VALIDATION_IMAGES} and {VALIDATION_BOXES} (https://image-net.org/download-images).
    """

    def __init__(self, *, problems: DataProblems | None = None, **kwargs):
        super().__init__(**kwargs)
        self.problems = problems if problems is not None else DataProblems()

    def _info(self) -> tfds.core.DatasetInfo:
        names = imagenet_class_names()
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(encoding_format="jpeg"),
                "image/filename": tfds.features.Text(),   # e.g. "n01440764_10026.JPEG"
                "label": tfds.features.ClassLabel(names=names),
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(names=names),
                }),
            }),
            supervised_keys=("image", "label"),
            homepage="https://image-net.org/challenges/LSVRC/2012/",
        )

    def _split_generators(self, dl_manager):
        manual_dir = dl_manager.manual_dir
        generators = {}
        for split, images, boxes in SPLIT_FILES:
            present = [name for name in (images, boxes) if (manual_dir / name).exists()]
            if len(present) == 1:
                missing = boxes if present[0] == images else images
                raise FileNotFoundError(
                    f"ilsvrc2012_loc {split} split: {manual_dir / present[0]} is there but "
                    f"{manual_dir / missing} is missing")
            if present:
                generators[split] = self._generate_examples(
                    split, manual_dir / images, manual_dir / boxes)
        if not generators:
            raise FileNotFoundError(
                f"ilsvrc2012_loc: no split found in {manual_dir}; it needs {TRAIN_IMAGES} with "
                f"{TRAIN_BOXES}, and/or {VALIDATION_IMAGES} with {VALIDATION_BOXES}")
        return generators

    def _generate_examples(self, split, images_path, boxes_path):
        names = set(imagenet_class_names())
        annotations = self._read_annotations(split, boxes_path)
        devkit_labels = imagenet_validation_labels() if split == "validation" else None
        matched = set()
        for path, data in iter_tar_files(images_path):
            stem = file_stem(path)
            annotation = annotations.get(stem)
            if annotation is None:
                if split == "validation":   # every validation image has boxes
                    self.problems.skipped(split, "image without annotation", path)
                continue   # training images without boxes are not part of this dataset
            if stem in matched:
                self.problems.skipped(split, "duplicate image", path)
                continue
            matched.add(stem)
            if split == "train":   # "n01440764.tar/n01440764_10026.JPEG": the class tar's WNID
                label = (path.split("/", 1)[0].removesuffix(".tar") if "/" in path
                         else stem.split("_", 1)[0])
            else:
                label = self._validation_label(stem, annotation, devkit_labels, path)
                if label is None:
                    continue
            if label not in names:
                self.problems.skipped(split, "unknown class", path, label)
                continue
            example = self._example(split, path, data, annotation, label)
            if example is not None:
                yield stem, example
        for stem in sorted(annotations.keys() - matched):
            self.problems.skipped(split, "annotation without image", annotations[stem].source)

    def _read_annotations(self, split: str, boxes_path) -> dict[str, VocAnnotation]:
        """Box files by image stem, from an archive of XMLs (in folders or in inner tars)."""
        annotations = {}
        for path, data in iter_tar_files(boxes_path):
            if not path.lower().endswith(".xml"):
                continue
            source = f"{boxes_path.name}/{path}"
            try:
                annotation = parse_voc_xml(data, source)
            except ValueError as error:
                self.problems.skipped(split, "unreadable annotation", source, str(error))
                continue
            stem = file_stem(path)
            if stem in annotations:
                self.problems.skipped(split, "duplicate annotation", source)
                continue
            annotations[stem] = annotation
        return annotations

    def _validation_label(self, stem, annotation, devkit_labels, path) -> str | None:
        classes = sorted({obj.name for obj in annotation.objects})
        if len(classes) != 1:
            self.problems.skipped("validation", "annotation without one class", path,
                                  f"classes {classes}")
            return None
        match = _VALIDATION_NAME.match(stem)
        index = int(match.group(1)) - 1 if match else -1
        if not 0 <= index < len(devkit_labels):
            self.problems.skipped("validation", "unknown validation image name", path)
            return None
        if devkit_labels[index] != classes[0]:
            self.problems.skipped("validation", "box class differs from the devkit label", path,
                                  f"boxes {classes[0]}, devkit {devkit_labels[index]}")
            return None
        return classes[0]

    def _example(self, split, path, data, annotation: VocAnnotation, label: str) -> dict | None:
        try:
            image = check_encoded_image(data, path)
        except BadImageError as error:
            self.problems.skipped(split, error.kind, path, error.detail)
            return None
        for correction in image.corrections:
            self.problems.corrected(split, correction, path)
        # Boxes are drawn on the image the annotator saw; when the file's <size> differs from
        # the image's, they are scaled to the image (box_formats.annotation_frame).
        annotated_size = ((annotation.width, annotation.height)
                          if annotation.width and annotation.height else None)
        frame = annotation_frame(annotated_size, image.width, image.height)
        if frame.problem:
            self.problems.corrected(
                split, frame.problem, path,
                f"{annotation.width}x{annotation.height} -> {image.width}x{image.height}")
        objects = []
        for obj in annotation.objects:
            if obj.name != label:
                self.problems.corrected(split, "box of another class dropped", path, obj.name)
                continue
            box = frame.to_image((obj.xmin, obj.ymin, obj.xmax, obj.ymax))
            fitted = fit_box_xyxy(box, image.width, image.height)
            if fitted.problem:
                self.problems.corrected(split, fitted.problem, path, f"{box}")
            if fitted.box is None:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in tfds_yxyx_normalized_from_xyxy(
                np.asarray(fitted.box, np.float64), image.height, image.width))
            objects.append({"bbox": tfds.features.BBox(ymin, xmin, ymax, xmax), "label": label})
        if not objects:
            self.problems.skipped(split, "no valid box", path)
            return None
        return {"image": image.data, "image/filename": path.rsplit("/", 1)[-1],
                "label": label, "objects": objects}
