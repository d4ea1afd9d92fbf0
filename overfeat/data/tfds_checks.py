"""Checks on the examples that TFDS's own builders (imagenet2012, voc, coco) generate.

TFDS's builders store image files as they find them and stop at the first box outside [0, 1].
``attach_checks`` makes a builder instance pass each example through the same checks as our own
builders before TFDS encodes it: an image that does not decode completely is skipped, a CMYK or
non-JPEG image is re-encoded as RGB JPEG, a box is clipped or dropped by
``box_formats.fit_box_xyxy``; each case is counted in a ``DataProblems``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from overfeat.data.box_formats import BOX_EMPTY, ONE_BASED_TFDS_DATASETS, fit_box_xyxy
from overfeat.data.image_files import BadImageError, check_encoded_image
from overfeat.data.problems import DataProblems


def attach_checks(builder, problems: DataProblems) -> None:
    """Wraps ``builder``'s split generators (this instance only) with ``checked_examples``."""
    split_generators = builder._split_generators
    one_based = builder.name in ONE_BASED_TFDS_DATASETS

    def checked_split_generators(dl_manager, **kwargs):
        generators = split_generators(dl_manager, **kwargs)
        if isinstance(generators, list | tuple):   # TFDS's legacy list of SplitGenerator
            generators = {generator.name: builder._generate_examples(**generator.gen_kwargs)
                          for generator in generators}
        return {split: checked_examples(examples, str(split), problems, one_based=one_based)
                for split, examples in generators.items()}

    builder._split_generators = checked_split_generators


def checked_examples(examples: Iterable[tuple[str, dict]], split: str, problems: DataProblems,
                     *, one_based: bool = False) -> Iterator[tuple[str, dict]]:
    """Yields the ``(key, example)`` pairs of a TFDS generator that pass the checks, corrected.

    ``one_based``: the normalized boxes are VOC's 1-based pixel indices over the image size.
    """
    for key, example in examples:
        where = str(example.get("image/filename") or example.get("file_name") or key)
        try:
            data = _image_bytes(example["image"])
        except FileNotFoundError as error:
            problems.skipped(split, "missing image file", where, str(error))
            continue
        try:
            image = check_encoded_image(data, where)
        except BadImageError as error:
            problems.skipped(split, error.kind, where, error.detail)
            continue
        for correction in image.corrections:
            problems.corrected(split, correction, where)
        example = dict(example, image=image.data)
        for objects_key in ("objects", "panoptic_objects"):
            if objects_key in example:
                example[objects_key] = _checked_objects(
                    example[objects_key], image.width, image.height, one_based,
                    split, where, problems)
        yield key, example


def _image_bytes(image) -> bytes:
    if isinstance(image, bytes):
        return image
    if isinstance(image, str | os.PathLike):
        with open(image, "rb") as file:
            return file.read()
    if hasattr(image, "read_bytes"):   # epath.Path
        return image.read_bytes()
    return image.read()   # a file object, e.g. a member of a tar stream


def _checked_objects(objects: list[dict], width: int, height: int, one_based: bool,
                     split: str, where: str, problems: DataProblems) -> list[dict]:
    """The objects whose box fits the image (``fit_box_xyxy`` in pixels); a corrected box is
    written back in the dataset's own convention, an unchanged one is kept bit for bit."""
    shift = 1.0 if one_based else 0.0
    kept = []
    for obj in objects:
        bbox = obj["bbox"]   # tfds.features.BBox(ymin, xmin, ymax, xmax), normalized
        box = (bbox.xmin * width - shift, bbox.ymin * height - shift,
               bbox.xmax * width, bbox.ymax * height)
        fitted = fit_box_xyxy(box, width, height)
        problem = fitted.problem
        if fitted.box is not None and one_based and (
                fitted.box[2] - fitted.box[0] < 1 or fitted.box[3] - fitted.box[1] < 1):
            fitted, problem = fitted._replace(box=None), BOX_EMPTY   # under one pixel
        if problem:
            problems.corrected(split, problem, where, f"xyxy {tuple(round(v, 2) for v in box)}")
        if fitted.box is None:
            continue
        if problem is None:
            kept.append(obj)
            continue
        x0, y0, x1, y1 = fitted.box
        kept.append(dict(obj, bbox=type(bbox)(ymin=(y0 + shift) / height,
                                              xmin=(x0 + shift) / width,
                                              ymax=y1 / height, xmax=x1 / width)))
    return kept
