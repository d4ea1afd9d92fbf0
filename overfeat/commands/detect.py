"""``overfeat detect``: every object of the detector's classes in images (paper section 5).

The localization pipeline with a detector's checkpoint: its background class never becomes a
box, cells below ``--min-confidence`` give no box, and merged boxes scoring below
``--score-threshold`` are dropped.
"""

from __future__ import annotations

import argparse

from overfeat.commands import prediction


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="objects in images with their classes and scores",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prediction.add_arguments(parser, "detect")


def run(args) -> int:
    return prediction.run(args, "detect")
