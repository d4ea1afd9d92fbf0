"""The model options shared by commands that run a trained network (not a sub-command):
``--weights PATH [--arch fast|accurate]`` for an original release file, or
``--checkpoint DIR`` for one of our checkpoints."""

from __future__ import annotations

import argparse
import os

from overfeat.cli import UserError
from overfeat.features import FeatureExtractor
from overfeat.predict import Predictor
from overfeat.weights import (
    RELEASE_FILES,
    check_release_file,
    release_arch_for_size,
    release_file_size,
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (give --weights or --checkpoint)")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="PATH",
                        help="an original OverFeat weight file (net_weight_0 fast, "
                             "net_weight_1 accurate)")
    source.add_argument("--checkpoint", metavar="DIR",
                        help="a checkpoint directory (overfeat convert-weights, training)")
    group.add_argument("--arch", choices=sorted(RELEASE_FILES),
                       help="the network in --weights (default: told by the file's size)")


def release_arch(args: argparse.Namespace) -> str:
    """The release network ``--weights`` holds: ``--arch``, checked against the file's size,
    or the one whose size the file has."""
    if args.arch is not None:
        check_release_file(args.weights, args.arch)
        return args.arch
    if not os.path.isfile(args.weights):
        raise FileNotFoundError(f"weight file not found: {args.weights}")
    arch = release_arch_for_size(os.path.getsize(args.weights))
    if arch is None:
        sizes = ", ".join(
            f"{RELEASE_FILES[name]} ({name}) {release_file_size(name):,}" for name in RELEASE_FILES
        )
        raise UserError(
            f"{args.weights} ({os.path.getsize(args.weights):,} bytes) has the size of "
            f"neither release file ({sizes} bytes); pass --arch to learn what is wrong with it"
        )
    return arch


def load_extractor(args: argparse.Namespace) -> FeatureExtractor:
    if args.checkpoint is not None:
        if args.arch is not None:
            raise UserError("--arch goes with --weights; a checkpoint names its architecture")
        return FeatureExtractor.from_checkpoint(args.checkpoint)
    return FeatureExtractor.from_release(release_arch(args), args.weights)


def load_predictor(args: argparse.Namespace, **options) -> Predictor:
    """A ``Predictor`` for ``--checkpoint`` or ``--weights`` (``options`` to its constructor)."""
    if args.checkpoint is not None:
        if args.arch is not None:
            raise UserError("--arch goes with --weights; a checkpoint names its architecture")
        return Predictor.from_checkpoint(args.checkpoint, **options)
    return Predictor.from_release(release_arch(args), args.weights, **options)
