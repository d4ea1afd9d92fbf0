"""``overfeat data prepare NAME --manual-dir DIR``: builds a real dataset as array_record files.

Preparation is a separate step, run once per dataset: it reads the archives a user downloaded
into a manual directory (nothing is downloaded) and writes TFDS's array_record format, which
training and evaluation read without TensorFlow (``overfeat.data.tfds_sources``).

- ``imagenet2012``, ``voc/2007``, ``voc/2012``, ``coco/2017``: TFDS's own builders, which need
  TensorFlow (``pip install -e '.[prepare]'``). VOC and COCO normally download: they are pointed
  at the manual directory through ``tfds.download.DownloadConfig(manual_dir=...)``, which uses a
  file there when its name is the one TFDS expects, after checking its size and SHA-256 against
  the checksums TFDS ships.
- ``ilsvrc2012_loc``: our builder (``overfeat.data.builders.ilsvrc_loc``); no TensorFlow needed.

Every example passes the checks of ``overfeat.data.image_files`` and ``box_formats``; what was
skipped or corrected is counted and printed at the end (``overfeat.data.problems``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import pathlib
import posixpath
import shutil
import sys
from collections.abc import Callable

from overfeat.data.problems import CORRECTED, SKIPPED, DataProblems

MAX_IMAGENET_VALIDATION = 50_000


@dataclasses.dataclass(frozen=True)
class ManualFile:
    """A file the user places in the manual directory, under exactly this name."""

    name: str
    about: str


@dataclasses.dataclass(frozen=True)
class PreparableDataset:
    """A dataset ``overfeat data prepare`` can build, and the files it needs.

    ``file_groups``: files that go together (a split's images and boxes). With
    ``all_groups_required`` every group must be there (TFDS's VOC and COCO builders read all
    their archives); otherwise each group is a split that is built when its files are there.
    """

    name: str
    about: str
    file_groups: tuple[tuple[ManualFile, ...], ...]
    all_groups_required: bool
    needs_tensorflow: bool
    extracts: bool = False   # the builder extracts archives into a scratch download directory
    preflight: Callable[[pathlib.Path], None] | None = None

    def manual_files(self) -> list[ManualFile]:
        return [file for group in self.file_groups for file in group]


@dataclasses.dataclass
class PrepareResult:
    """What ``prepare_dataset`` did: where the dataset is, its splits, its data problems."""

    name: str
    directory: pathlib.Path
    splits: dict[str, int]
    problems: DataProblems
    reused: bool   # it was already prepared: nothing was read or written
    # Folder datasets: class name -> boxes (detection) or images (classification), all splits;
    # lines about the data to print after the splits; how to prepare it again when reused.
    classes: dict[str, int] | None = None
    notes: tuple[str, ...] = ()
    again: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "directory": os.fspath(self.directory),
                "splits": self.splits, "reused": self.reused,
                **({"classes": self.classes} if self.classes is not None else {}),
                **({"notes": list(self.notes)} if self.notes else {}),
                "skipped": self.problems.count(SKIPPED),
                "corrected": self.problems.count(CORRECTED),
                "problems": self.problems.as_dict()}


def check_imagenet_validation_names(manual_dir: pathlib.Path) -> None:
    """TFDS's imagenet2012 gives validation labels by position in the sorted list of file names
    (``validation_labels.txt``): a single missing file would shift every later label. Require
    ILSVRC2012_val_00000001.JPEG .. ILSVRC2012_val_{n}.JPEG without a gap."""
    from overfeat.data.archives import tar_file_names

    path = manual_dir / "ILSVRC2012_img_val.tar"
    if not path.exists():
        return
    names = sorted(tar_file_names(path))
    for number, name in enumerate(names, start=1):
        expected = f"ILSVRC2012_val_{number:08d}.JPEG"
        if posixpath.basename(name) != expected or number > MAX_IMAGENET_VALIDATION:
            raise ValueError(
                f"{path}: validation image {number} in sorted order is {name!r}, expected "
                f"{expected!r}; TFDS's imagenet2012 labels validation images by position, so "
                "a missing, extra or renamed file would give wrong labels to all that follow")


def _imagenet_files() -> tuple[tuple[ManualFile, ...], ...]:
    return ((ManualFile("ILSVRC2012_img_train.tar", "training images: a tar of 1000 per-class "
                        "tars (138 GB)"),),
            (ManualFile("ILSVRC2012_img_val.tar", "the 50,000 validation images (6.3 GB)"),),
            (ManualFile("ILSVRC2012_img_test.tar", "test images, unlabelled (optional)"),))


def _ilsvrc_loc_files() -> tuple[tuple[ManualFile, ...], ...]:
    return ((ManualFile("ILSVRC2012_img_train.tar", "training images: a tar of 1000 per-class "
                        "tars (138 GB)"),
             ManualFile("ILSVRC2012_bbox_train_v2.tar.gz", "training boxes: PASCAL-VOC XML "
                        "per image, in per-class folders (20 MB)")),
            (ManualFile("ILSVRC2012_img_val.tar", "the 50,000 validation images (6.3 GB)"),
             ManualFile("ILSVRC2012_bbox_val_v3.tgz", "validation boxes: PASCAL-VOC XML per "
                        "image (2 MB)")))


def _voc_files(trainval: str, test: str, year: str) -> tuple[tuple[ManualFile, ...], ...]:
    return ((ManualFile(trainval, f"VOC{year} train and validation images and XML"),
             ManualFile(test, f"VOC{year} test images" + (" and XML" if year == "2007" else
                                                          " (no annotations)"))),)


def _coco_files() -> tuple[tuple[ManualFile, ...], ...]:
    return ((ManualFile("train2017.zip", "training images (18 GB)"),
             ManualFile("val2017.zip", "validation images (0.8 GB)"),
             ManualFile("test2017.zip", "test images, unlabelled (6.2 GB)"),
             ManualFile("annotations_trainval2017.zip", "instances_{train,val}2017.json"),
             ManualFile("image_info_test2017.zip", "image_info_test2017.json")),)


DATASETS: dict[str, PreparableDataset] = {dataset.name: dataset for dataset in (
    PreparableDataset(
        "imagenet2012", "ILSVRC2012 classification (TFDS's builder; labels: WNIDs sorted)",
        _imagenet_files(), all_groups_required=False, needs_tensorflow=True,
        preflight=check_imagenet_validation_names),
    PreparableDataset(
        "ilsvrc2012_loc", "ILSVRC2012 classification with localization boxes (our builder)",
        _ilsvrc_loc_files(), all_groups_required=False, needs_tensorflow=False),
    PreparableDataset(
        "voc/2007", "PASCAL VOC 2007 detection (TFDS's builder)",
        _voc_files("VOCtrainval_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar", "2007"),
        all_groups_required=True, needs_tensorflow=True, extracts=True),
    PreparableDataset(
        "voc/2012", "PASCAL VOC 2012 detection (TFDS's builder; test split unannotated)",
        _voc_files("VOCtrainval_11-May-2012.tar", "VOC2012test.tar", "2012"),
        all_groups_required=True, needs_tensorflow=True, extracts=True),
    PreparableDataset(
        "coco/2017", "COCO 2017 detection, 80 classes (TFDS's builder)",
        _coco_files(), all_groups_required=True, needs_tensorflow=True, extracts=True),
)}


def check_manual_dir(dataset: PreparableDataset, manual_dir: pathlib.Path) -> None:
    """Raises ``FileNotFoundError`` listing what is missing before any work starts (TFDS would
    otherwise try to download a missing archive)."""
    if not manual_dir.is_dir():
        raise FileNotFoundError(f"manual directory {manual_dir} does not exist")
    complete = 0
    for group in dataset.file_groups:
        missing = [file for file in group if not (manual_dir / file.name).exists()]
        if not missing:
            complete += 1
        elif dataset.all_groups_required or len(missing) < len(group):
            listed = "; ".join(f"{file.name} ({file.about})" for file in missing)
            raise FileNotFoundError(f"{dataset.name}: missing in {manual_dir}: {listed}")
    if not complete:
        listed = "; or ".join(" with ".join(file.name for file in group)
                              for group in dataset.file_groups)
        raise FileNotFoundError(f"{dataset.name}: nothing to prepare in {manual_dir}: it needs "
                                f"{listed}")


def prepare_dataset(name: str, manual_dir: str | os.PathLike,
                    data_dir: str | os.PathLike | None = None, *, keep_extracted: bool = False,
                    problems: DataProblems | None = None) -> PrepareResult:
    """Builds dataset ``name`` (a key of ``DATASETS``) from the archives in ``manual_dir`` into
    ``data_dir`` (TFDS's default when None) as array_record. Returns what it did."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; preparable: {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    manual_dir = pathlib.Path(manual_dir).expanduser().resolve()
    check_manual_dir(dataset, manual_dir)
    if dataset.needs_tensorflow and importlib.util.find_spec("tensorflow") is None:
        from overfeat.cli import UserError

        raise UserError(f"preparing {name} runs TFDS's builder, which needs TensorFlow: "
                        "pip install -e '.[prepare]' (or pip install tensorflow-cpu)")
    if dataset.preflight is not None:
        dataset.preflight(manual_dir)
    problems = problems if problems is not None else DataProblems()
    builder = _make_builder(name, data_dir, problems)
    directory = pathlib.Path(os.fspath(builder.data_dir))
    if (directory / "dataset_info.json").exists():
        file_format = builder.info.file_format
        if str(getattr(file_format, "value", file_format)) != "array_record":
            raise ValueError(
                f"{name} is already prepared in {directory} as {file_format}, which has no "
                f"random access: delete it, or convert it with `tfds convert_format "
                f"--dataset_version_dir {directory} --out_file_format array_record` "
                "(needs apache-beam)")
        return PrepareResult(name, directory, _split_sizes(builder), problems, reused=True)

    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    download_dir = (pathlib.Path(os.fspath(builder.data_dir_root)) / "downloads"
                    / f"overfeat_prepare_{name.replace('/', '_')}")
    # try_download_gcs=False: never fetch a dataset TFDS hosts prepared; build from the files.
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir),
                                          try_download_gcs=False)
    try:
        # TFDS prints its progress messages on stdout, which belongs to --json's one object.
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare(download_dir=os.fspath(download_dir),
                                         download_config=config)
    except NonMatchingChecksumError as error:
        raise ValueError(f"{name}: an archive in {manual_dir} is not the file TFDS expects "
                         f"(size or SHA-256 differ): {error}") from None
    if not keep_extracted:   # scratch only: extracted copies of the manual files
        shutil.rmtree(download_dir, ignore_errors=True)
    return PrepareResult(name, directory, _split_sizes(builder), problems, reused=False)


def _make_builder(name: str, data_dir, problems: DataProblems):
    data_dir = os.fspath(pathlib.Path(data_dir).expanduser()) if data_dir else None
    if name == "ilsvrc2012_loc":
        from overfeat.data.builders.ilsvrc_loc import Ilsvrc2012Loc

        return Ilsvrc2012Loc(data_dir=data_dir, file_format="array_record", problems=problems)
    import tensorflow_datasets as tfds

    from overfeat.data.tfds_checks import attach_checks

    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    attach_checks(builder, problems)
    return builder


def _split_sizes(builder) -> dict[str, int]:
    return {str(split): int(info.num_examples) for split, info in builder.info.splits.items()}


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one sub-command per preparable dataset to ``overfeat data prepare``'s parser."""
    names = parser.add_subparsers(dest="dataset", metavar="NAME", required=True)
    for dataset in DATASETS.values():
        files = "\n".join(f"  {file.name:34} {file.about}" for file in dataset.manual_files())
        need = ("all of" if dataset.all_groups_required
                else "for each split to build, its files from")
        sub = names.add_parser(
            dataset.name, help=dataset.about,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description=f"{dataset.about}.\n\nPlace in --manual-dir, {need}:\n{files}")
        sub.add_argument("--manual-dir", required=True, type=pathlib.Path, metavar="DIR",
                         help="directory holding the downloaded archives, under their names")
        sub.add_argument("--data-dir", type=pathlib.Path, metavar="DIR",
                         help="where to write the dataset (default: $TFDS_DATA_DIR or "
                              "~/tensorflow_datasets)")
        if dataset.extracts:
            sub.add_argument("--keep-extracted", action="store_true",
                             help="keep the archives' extracted copies (deleted by default)")
        sub.add_argument("--json", action="store_true",
                         help="print the result as one JSON object")
    from overfeat.data.prepare_folders import add_folder_parsers

    add_folder_parsers(names)


def run_prepare(args: argparse.Namespace) -> int:
    """Runs ``overfeat data prepare`` and prints where the dataset is and its data problems."""
    from overfeat.data.prepare_folders import FOLDER_KINDS, prepare_folder_from_args
    from overfeat.data.tfds_sources import default_data_dir

    if args.dataset in FOLDER_KINDS:
        result = prepare_folder_from_args(args)
    else:
        result = prepare_dataset(args.dataset, args.manual_dir, args.data_dir,
                                 keep_extracted=getattr(args, "keep_extracted", False))
    if args.json:
        print(json.dumps(result.as_dict()))
        return 0
    verb = "already prepared" if result.reused else "prepared"
    print(f"{result.name}: {verb} in {result.directory}")
    for split, count in result.splits.items():
        print(f"  {split:12} {count:>9,} examples")
    for note in result.notes:
        print(f"  {note}")
    if result.reused:
        print(f"  ({result.again or f'delete {result.directory}'} to prepare it again)")
        return 0
    print(f"data problems: {result.problems.count(SKIPPED)} examples skipped, "
          f"{result.problems.count(CORRECTED)} corrections")
    for line in result.problems.summary_lines():
        print(f"  {line}")
    data_dir = os.fspath(result.directory.parents[len(result.name.split('/'))])
    print(f"read it with overfeat.data.tfds_sources.open_tfds_source({result.name!r}, SPLIT, "
          f"data_dir={data_dir!r})")
    if args.dataset in FOLDER_KINDS:
        first = "classify" if args.dataset == "image-folder" else "classify, localize, detect"
        environment = "" if pathlib.Path(data_dir) == default_data_dir() else \
            f"TFDS_DATA_DIR={data_dir} "
        print(f"train on it ({first}; README, \"Your own data\"): {environment}overfeat train "
              f"--config custom:dataset={result.name},task=classify "
              f"--workdir runs/{result.name}/classify")
    return 0
