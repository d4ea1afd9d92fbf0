"""``overfeat data prepare coco-folder|voc-folder|image-folder ... --name NAME``: one's own images
as a real TFDS dataset (array_record) under the data directory, read like any other by name
(``open_tfds_source(NAME, "val")``, ``--config.dataset=NAME``, ``overfeat data show NAME``).

The formats' readers live in ``overfeat.data.builders`` (``coco_folder``, ``voc_folder``,
``image_folder``) and share ``folder_dataset.FolderDataset``, which applies the project's image
and box checks; every problem is counted and printed at the end, as for the other datasets.

Preparing again with the same files and options reuses the dataset. When the files changed (by
size or modification time) or the options differ, prepare refuses to replace the dataset a
training run may be reading unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import sys

from overfeat.data.builders import coco_folder, image_folder, voc_folder
from overfeat.data.builders.folder_dataset import (
    DATASET_VERSION,
    FolderListing,
    check_dataset_name,
    files_under,
    folder_builder_class,
)
from overfeat.data.problems import DataProblems

DEFAULT_VAL_FRACTION = 0.1

FOLDER_KINDS = {
    "coco-folder": "your images with a COCO-format JSON (detection)",
    "voc-folder": "a PASCAL-VOC-style folder: JPEGImages/, Annotations/*.xml (detection)",
    "image-folder": "images in one sub-folder per class (classification)",
}

_CONVENTIONS = """

Every image is decoded once: unreadable or missing files are skipped, CMYK, 16-bit, palette
and alpha images converted, the EXIF orientation applied to the pixels (boxes are taken to be
drawn on the displayed image, unless the annotation records the size of the unrotated file).
Boxes partly outside the image are clipped; empty, inverted or outside ones dropped. Every
problem is counted and listed at the end."""

_DESCRIPTIONS = {
    "coco-folder": """Builds dataset NAME from a folder of images and one COCO-format JSON.

Classes: the JSON's categories in id order (ids may have gaps; label i is the i-th smallest
id, the ids are kept in the dataset's metadata as category_ids). Boxes: [x, y, width, height]
in pixels. iscrowd regions are kept, marked ignore (neither targets nor misses). Images
without annotations are kept as negatives. Splits: --val-fraction of the images, chosen by a
hash of file_name.""",
    "voc-folder": """Builds dataset NAME from a PASCAL-VOC-style folder: JPEGImages/,
Annotations/*.xml and optionally ImageSets/Main/{train,val,trainval,test}.txt.

Classes: the objects' names, sorted. Boxes: VOC's 1-based pixel indices (xmin 1 is the left
edge). difficult objects are kept, marked ignore; truncated ones are ordinary objects.
Splits: train.txt/val.txt/test.txt when present, else --val-fraction of trainval.txt (or of
all annotations), chosen by a hash of the image id.""",
    "image-folder": """Builds classification dataset NAME from ROOT/CLASS/*.jpg (or
ROOT/train/CLASS/..., ROOT/val/CLASS/..., ROOT/test/CLASS/...).

Classes: the class folder names, sorted. Splits: the train/val/test folders when present,
else --val-fraction of the images, chosen by a hash of the file's path in its class folder.""",
}

_SPLIT_HELP = ("fraction of the images put in the validation split, chosen by a hash of each "
               "file name (the same files always give the same split)")


def add_folder_parsers(names) -> None:
    """Adds the three folder formats to ``overfeat data prepare``'s sub-parsers."""
    coco = names.add_parser("coco-folder", help=FOLDER_KINDS["coco-folder"],
                            description=_DESCRIPTIONS["coco-folder"] + _CONVENTIONS)
    coco.add_argument("--images", required=True, type=pathlib.Path, metavar="DIR",
                      help="folder of the images (file_name in the JSON is relative to it)")
    coco.add_argument("--annotations", required=True, type=pathlib.Path, metavar="FILE.json",
                      help="COCO-format annotation file")
    coco.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION, metavar="F",
                      help=f"{_SPLIT_HELP} (default {DEFAULT_VAL_FRACTION})")
    voc = names.add_parser("voc-folder", help=FOLDER_KINDS["voc-folder"],
                           description=_DESCRIPTIONS["voc-folder"] + _CONVENTIONS)
    voc.add_argument("--root", required=True, type=pathlib.Path, metavar="DIR",
                     help="folder holding JPEGImages/, Annotations/ and optionally "
                          "ImageSets/Main/{train,val,trainval,test}.txt")
    voc.add_argument("--zero-based", action="store_true",
                     help="the annotation tool wrote 0-based continuous coordinates instead of "
                          "VOC's 1-based pixel indices")
    folder = names.add_parser("image-folder", help=FOLDER_KINDS["image-folder"],
                              description=_DESCRIPTIONS["image-folder"] + _CONVENTIONS)
    folder.add_argument("--root", required=True, type=pathlib.Path, metavar="DIR",
                        help="folder of class folders (or of train/, val/, test/ folders of "
                             "class folders)")
    for parser in (voc, folder):
        parser.add_argument("--val-fraction", type=float, metavar="F",
                            help=f"{_SPLIT_HELP}, where the folder does not give the splits "
                                 f"(default {DEFAULT_VAL_FRACTION})")
    for parser in (coco, voc, folder):
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("--name", required=True, metavar="NAME",
                            help="the dataset's name (lower-case letters, digits, _), used "
                                 "wherever a dataset name is asked for")
        parser.add_argument("--data-dir", type=pathlib.Path, metavar="DIR",
                            help="where to write the dataset (default: $TFDS_DATA_DIR or "
                                 "~/tensorflow_datasets)")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace a dataset of this name prepared from other files")
        parser.add_argument("--json", action="store_true",
                            help="print the result as one JSON object")


def prepare_folder_from_args(args: argparse.Namespace):
    """``prepare_folder_dataset`` with the options of ``overfeat data prepare KIND ...``."""
    if args.dataset == "coco-folder":
        sources = {"images": args.images, "annotations": args.annotations}
    else:
        sources = {"root": args.root}
    return prepare_folder_dataset(args.dataset, args.name, sources, args.data_dir,
                                  val_fraction=args.val_fraction, overwrite=args.overwrite,
                                  zero_based=getattr(args, "zero_based", False))


def prepare_folder_dataset(kind: str, name: str, sources: dict,
                           data_dir: str | os.PathLike | None = None, *,
                           val_fraction: float | None = None, overwrite: bool = False,
                           zero_based: bool = False, problems: DataProblems | None = None):
    """Builds dataset ``name`` from a folder of kind ``kind`` (a key of ``FOLDER_KINDS``).

    ``sources``: ``{"images": DIR, "annotations": FILE}`` for coco-folder, ``{"root": DIR}``
    otherwise. ``val_fraction`` None: the folder's own splits where it has them, else
    ``DEFAULT_VAL_FRACTION``. ``zero_based`` (voc-folder): coordinates are 0-based continuous
    instead of VOC's 1-based pixel indices. Returns a ``prepare.PrepareResult``.
    """
    from overfeat.data.prepare import PrepareResult
    from overfeat.data.tfds_sources import default_data_dir

    if kind not in FOLDER_KINDS:
        raise ValueError(f"unknown folder format {kind!r}; one of {', '.join(FOLDER_KINDS)}")
    check_dataset_name(name)
    sources = {key: pathlib.Path(path).expanduser().resolve() for key, path in sources.items()}
    for path in sources.values():
        if not path.exists():
            raise FileNotFoundError(f"{kind}: {path} does not exist")
    root = pathlib.Path(data_dir).expanduser() if data_dir else default_data_dir()
    directory = root / name / DATASET_VERSION
    options = {"val_fraction": val_fraction, "zero_based": zero_based}
    fingerprint = inputs_fingerprint(kind, sources, options)
    problems = problems if problems is not None else DataProblems()
    if (directory / "dataset_info.json").exists():
        previous = _folder_metadata(directory, name)
        if previous.get("fingerprint") == fingerprint and not overwrite:
            return PrepareResult(name, directory, _split_sizes(directory), problems,
                                 reused=True, **_class_report(directory),
                                 again="the files are unchanged: pass --overwrite")
        if not overwrite:
            raise ValueError(
                f"{name} is already prepared in {directory} from other files or options (or "
                "the files changed since): pass --overwrite to replace it, or choose another "
                "--name")
        shutil.rmtree(directory)

    listing = _list_folder(kind, sources, val_fraction, zero_based, problems)
    if not any(listing.splits.values()):
        raise ValueError(f"{kind}: no images found in {', '.join(map(str, sources.values()))}")
    listing.metadata["fingerprint"] = fingerprint
    builder = folder_builder_class(name)(listing=listing, problems=problems,
                                         data_dir=os.fspath(root), file_format="array_record")
    _build(builder, root, name, problems)
    report = _class_report(directory)
    report["notes"] += listing.notes
    return PrepareResult(name, directory, _split_sizes(directory), problems, reused=False,
                         **report)


def _list_folder(kind: str, sources: dict, val_fraction: float | None, zero_based: bool,
                 problems: DataProblems) -> FolderListing:
    if kind == "coco-folder":
        fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
        return coco_folder.list_coco_folder(sources["images"], sources["annotations"],
                                            fraction, problems)
    if kind == "voc-folder":
        return voc_folder.list_voc_folder(sources["root"], val_fraction, problems,
                                          default_val_fraction=DEFAULT_VAL_FRACTION,
                                          zero_based=zero_based)
    if zero_based:
        raise ValueError("--zero-based is an option of voc-folder only")
    return image_folder.list_image_folder(sources["root"], val_fraction, problems,
                                          default_val_fraction=DEFAULT_VAL_FRACTION)


def _build(builder, root: pathlib.Path, name: str, problems: DataProblems) -> None:
    import tensorflow_datasets as tfds

    download_dir = root / "downloads" / f"overfeat_prepare_{name}"
    config = tfds.download.DownloadConfig(try_download_gcs=False)
    try:
        # TFDS prints its progress messages on stdout, which belongs to --json's one object.
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare(download_dir=os.fspath(download_dir),
                                         download_config=config)
    except AssertionError as error:   # TFDS refuses a split left without any example
        if "No examples were yielded" not in str(error):
            raise
        summary = "; ".join(problems.summary_lines())
        raise ValueError(f"{name}: {error} (every image of the split was skipped: "
                         f"{summary})") from None
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)


def inputs_fingerprint(kind: str, sources: dict, options: dict) -> str:
    """SHA-256 of the options and of every input file's path, size and modification time."""
    digest = hashlib.sha256(json.dumps(
        {"kind": kind, "version": DATASET_VERSION, "options": options,
         "sources": {key: os.fspath(path) for key, path in sorted(sources.items())}},
        sort_keys=True).encode())
    for _, path in sorted(sources.items()):
        for file in [path] if path.is_file() else files_under(path):
            stat = file.stat()
            digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _folder_metadata(directory: pathlib.Path, name: str) -> dict:
    path = directory / "metadata.json"
    metadata = json.loads(path.read_text()) if path.is_file() else {}
    if metadata.get("format") not in FOLDER_KINDS:
        raise ValueError(f"{directory} holds a dataset {name!r} that was not prepared from a "
                         "folder; choose another --name")
    return metadata


def _split_sizes(directory: pathlib.Path) -> dict[str, int]:
    import tensorflow_datasets as tfds

    info = tfds.builder_from_directory(os.fspath(directory)).info
    return {str(split): int(split_info.num_examples) for split, split_info in info.splits.items()}


def _class_report(directory: pathlib.Path) -> dict:
    """``classes``: class name -> boxes (detection) or images (classification) over all
    splits, and ``notes``: those counts and the negatives, as lines for the summary."""
    import tensorflow_datasets as tfds

    info = tfds.builder_from_directory(os.fspath(directory)).info
    features = info.features
    detection = "objects" in features
    label = features["objects"]["label"] if detection else features["label"]
    totals = [0] * label.num_classes
    negatives = 0
    for counts in info.metadata["statistics"]["splits"].values():
        totals = [total + count for total, count in zip(totals, counts["per_class"],
                                                        strict=True)]
        negatives += counts["negatives"]
    classes = dict(zip(label.names, totals, strict=True))
    what = "boxes" if detection else "images"
    notes = [f"{len(classes)} classes, {what} of each: "
             + ", ".join(f"{name} {count}" for name, count in classes.items())]
    if detection:
        notes.append(f"{negatives} images without objects (kept as negatives)")
    return {"classes": classes, "notes": tuple(notes)}
