"""``overfeat demo``: make the synthetic data, train the classifier, box regressor and detector
(the training jobs of configs/synthetic.py), run classification, localization and detection on
held-out images at six scales, score them with the ILSVRC metrics and write OUT/report.html.

Sized for a 2-core CPU: minutes (measured times in NOTES.md, "The demo"). Rerunning with
the same --out resumes the training jobs where they stopped."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train and evaluate the whole system on synthetic data; write an HTML report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo", metavar="DIR",
                        help="where the jobs, checkpoints and report go (default: ./demo)")
    parser.add_argument("--quick", action="store_true",
                        help="shorter training and fewer held-out images (under 2 minutes)")


def run(args) -> int:
    from overfeat.demo import headline, run_demo

    result = run_demo(args.out, quick=args.quick)
    print(headline(result))
    return 0
