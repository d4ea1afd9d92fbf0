"""``overfeat detect``: every object of the detector's classes in images (paper section 5).

The localization pipeline with a detector's checkpoint: its background class never becomes a
box, cells below ``--min-confidence`` give no box, and merged boxes scoring below
``--score-threshold`` are dropped, and so are boxes overlapping a better one of their class by
IoU > ``--duplicate-iou``. Scores are in [0, 1]: a greedy-merged box's summed confidence over
the votes one object could collect in the run (``overfeat.predict.calibrated_scores``);
``--json`` keeps the raw sums as ``summed_scores``.

A classifier with a background class and no regressor (trained on class folders such as
``cars/`` and ``background/``) detects too: each confident cell's window is a box, merged the
same way; the command says so on stderr and the JSON has ``"regressor": false``.
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
