"""``voc-folder``: a folder laid out like PASCAL VOC (``JPEGImages/``, ``Annotations/*.xml``,
optionally ``ImageSets/Main/{train,val,trainval,test}.txt``), as LabelImg, CVAT and others export
it, read into a ``FolderListing``.

- Classes: the ``<name>`` of every object of the annotations used, sorted (no class list in
  VOC's format; sorting makes the indices independent of file order).
- Boxes: ``<bndbox>`` holds 1-based inclusive pixel indices, as in PASCAL VOC itself
  (``box_formats.xyxy_from_voc_pixels``: ``xmin`` 1 is the image's left edge). A tool that
  writes 0-based numbers shows up as "box clipped to the image" counts at the left and top.
- ``difficult`` objects are kept with ``ignore`` set; ``truncated`` is stored and otherwise an
  ordinary object (as in VOC's evaluation).
- An annotation without objects is a negative image.
- Splits: ``ImageSets/Main/train.txt`` -> train, ``val.txt`` -> validation, ``test.txt`` -> test
  when there are train or val lists; else the ids of ``trainval.txt`` (or all annotations but
  those of ``test.txt``) are split by a hash of the id with ``--val-fraction``.
- The image of ``Annotations/ID.xml`` is ``JPEGImages/<filename>`` when the XML's
  ``<filename>`` is there, else the one image file named ``ID.*``.
- Counted: listed ids without an annotation, annotations no list names (VOC 2012 has such
  files for its other tasks), images without annotation, unreadable XML, images missing.
"""

from __future__ import annotations

import os
import pathlib

from overfeat.data.box_formats import xyxy_from_voc_pixels
from overfeat.data.builders.folder_dataset import (
    TEST,
    TRAIN,
    UNASSIGNED,
    VALIDATION,
    VOC_FLAGS,
    FolderImage,
    FolderListing,
    FolderObject,
    hashed_split,
    image_files_under,
)
from overfeat.data.problems import DataProblems
from overfeat.data.voc_xml import VocAnnotation, parse_voc_xml

KIND = "voc-folder"
# ImageSets/Main list files and the split each gives.
LISTED_SPLITS = {"train": TRAIN, "val": VALIDATION, "test": TEST}


def list_voc_folder(root: str | os.PathLike, val_fraction: float | None,
                    problems: DataProblems, *, default_val_fraction: float,
                    zero_based: bool = False) -> FolderListing:
    """Reads ``root``; ``val_fraction`` None means ``default_val_fraction`` where a hash split is
    needed (and is an error where ImageSets/Main already gives train and val lists).

    ``zero_based``: the tool wrote continuous 0-based coordinates instead of VOC's 1-based
    pixel indices (taken as they are then).
    """
    root = pathlib.Path(root).expanduser().resolve()
    image_dir, annotation_dir = root / "JPEGImages", root / "Annotations"
    for folder in (root, image_dir, annotation_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{KIND}: {folder} does not exist (expected "
                                    f"{root}/JPEGImages and {root}/Annotations)")
    xml_files = {path.stem: path for path in sorted(annotation_dir.iterdir())
                 if path.suffix.lower() == ".xml" and not path.name.startswith(".")}
    split_of, rule = _split_ids(root, xml_files, val_fraction, default_val_fraction, problems)

    images_by_stem: dict[str, list[pathlib.Path]] = {}
    for path in image_files_under(image_dir):
        images_by_stem.setdefault(path.stem, []).append(path)

    parsed: dict[str, tuple[str, VocAnnotation]] = {}
    for image_id, split in split_of.items():
        if image_id not in xml_files:
            problems.skipped(split, "listed image without annotation file", image_id,
                             f"no {annotation_dir / image_id}.xml")
            continue
        source = f"Annotations/{xml_files[image_id].name}"
        try:
            parsed[image_id] = split, parse_voc_xml(xml_files[image_id].read_bytes(), source)
        except ValueError as error:
            problems.skipped(split, "unreadable annotation", source, str(error))
    class_names = tuple(sorted({obj.name for _, annotation in parsed.values()
                                for obj in annotation.objects}))
    label_of = {name: label for label, name in enumerate(class_names)}

    splits: dict[str, list[FolderImage]] = {}
    used: set[pathlib.Path] = set()
    at_zero = 0   # boxes starting before pixel 1, which VOC's 1-based indices never do
    for image_id, (split, annotation) in parsed.items():
        path = _image_path(image_dir, image_id, annotation, images_by_stem)
        if path is None:
            problems.skipped(split, "several image files for one annotation", image_id,
                             ", ".join(p.name for p in images_by_stem[image_id]))
            continue
        convert = _as_written if zero_based else xyxy_from_voc_pixels
        objects = tuple(
            FolderObject(convert(obj.xmin, obj.ymin, obj.xmax, obj.ymax),
                         label_of[obj.name], ignore=obj.difficult, truncated=obj.truncated)
            for obj in annotation.objects)
        at_zero += sum(min(obj.xmin, obj.ymin) < 1 for obj in annotation.objects)
        size = ((annotation.width, annotation.height)
                if annotation.width and annotation.height else None)
        used.add(path)
        splits.setdefault(split, []).append(FolderImage(
            key=image_id, path=path, filename=path.relative_to(image_dir).as_posix(),
            objects=objects, annotations=len(objects), annotated_size=size))
    for stem in sorted(images_by_stem.keys() - xml_files.keys()):
        for path in images_by_stem[stem]:
            if path not in used:
                problems.skipped(UNASSIGNED, "image without annotation file",
                                 path.relative_to(image_dir).as_posix())
    notes = ()
    if at_zero and not zero_based:
        notes = (f"{at_zero} boxes start at a coordinate below 1, which VOC's 1-based pixel "
                 "indices never do (they were clipped): if your tool writes 0-based "
                 "coordinates, prepare again with --zero-based --overwrite",)
    convention = ("continuous 0-based, as written" if zero_based
                  else "VOC 1-based inclusive pixel indices")
    return FolderListing(
        kind=KIND, class_names=class_names, splits=splits, object_flags=VOC_FLAGS,
        notes=notes,
        metadata={"format": KIND, "root": os.fspath(root), "split_rule": rule,
                  "box_convention": convention})


def _as_written(xmin: float, ymin: float, xmax: float, ymax: float
                ) -> tuple[float, float, float, float]:
    return (xmin, ymin, xmax, ymax)


def _split_ids(root: pathlib.Path, xml_files: dict[str, pathlib.Path],
               val_fraction: float | None, default_val_fraction: float,
               problems: DataProblems) -> tuple[dict[str, str], str]:
    """Image id -> split, and the rule used (stored with the dataset)."""
    lists = {name: _read_list(root / "ImageSets" / "Main" / f"{name}.txt")
             for name in ("train", "val", "trainval", "test")}
    split_of: dict[str, str] = {}
    if lists["train"] is not None or lists["val"] is not None:
        if val_fraction is not None:
            raise ValueError(f"{KIND}: {root}/ImageSets/Main has train/val lists, which give "
                             "the splits; --val-fraction would be ignored: leave it out")
        for name, split in LISTED_SPLITS.items():
            for image_id in lists[name] or ():
                if split_of.setdefault(image_id, split) != split:
                    raise ValueError(f"{KIND}: image {image_id} is in ImageSets/Main/"
                                     f"{name}.txt and in the {split_of[image_id]} list")
        rule = "ImageSets/Main/{train,val,test}.txt"
    else:
        fraction = default_val_fraction if val_fraction is None else val_fraction
        test_ids = lists["test"] or []
        split_of.update(dict.fromkeys(test_ids, TEST))
        if lists["trainval"] is not None:
            pool, source = lists["trainval"], "ImageSets/Main/trainval.txt"
        else:
            pool, source = [i for i in xml_files if i not in split_of], "all annotations"
        for image_id in pool:
            if split_of.setdefault(image_id, hashed_split(image_id, fraction)) == TEST:
                raise ValueError(f"{KIND}: image {image_id} is in ImageSets/Main/test.txt and "
                                 "trainval.txt")
        rule = (f"{source}: validation if sha256(image id)[:8] / 2**64 < {fraction}"
                + ("; ImageSets/Main/test.txt -> test" if test_ids else ""))
    for image_id in xml_files:
        if image_id not in split_of:
            problems.skipped(UNASSIGNED, "annotation in no ImageSets/Main list",
                             f"Annotations/{xml_files[image_id].name}")
    return split_of, rule


def _read_list(path: pathlib.Path) -> list[str] | None:
    """The ids of an ImageSets list (first word of each line), or None if there is no file."""
    if not path.is_file():
        return None
    ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()
           if line.strip()]
    return list(dict.fromkeys(ids))


def _image_path(image_dir: pathlib.Path, image_id: str, annotation: VocAnnotation,
                images_by_stem: dict[str, list[pathlib.Path]]) -> pathlib.Path | None:
    """The image of an annotation (a path that may not exist: counted missing later), or None
    when several files could be it."""
    if annotation.filename and (image_dir / annotation.filename).is_file():
        return image_dir / annotation.filename
    candidates = images_by_stem.get(image_id, [])
    if len(candidates) > 1:
        return None
    if candidates:
        return candidates[0]
    return image_dir / (annotation.filename or f"{image_id}.jpg")
