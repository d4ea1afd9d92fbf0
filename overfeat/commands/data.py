"""``overfeat data``: datasets. ``prepare`` builds a real dataset from downloaded archives."""

from __future__ import annotations

from overfeat.data.prepare import add_prepare_arguments, run_prepare


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="prepare datasets", description=__doc__)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    _add_prepare(actions)


def _add_prepare(subparsers) -> None:
    parser = subparsers.add_parser(
        "prepare", help="build a dataset (ImageNet, ILSVRC boxes, VOC, COCO) as array_record",
        description="Builds a dataset from the archives in --manual-dir (nothing is "
                    "downloaded) into TFDS's array_record format, read by training and "
                    "evaluation without TensorFlow. `overfeat data prepare NAME --help` lists "
                    "the files NAME needs.")
    add_prepare_arguments(parser)


def run(args) -> int:
    if args.data_command == "prepare":
        return run_prepare(args)
    raise ValueError(f"unknown data action {args.data_command!r}")
