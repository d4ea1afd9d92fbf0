"""``overfeat train``: run (or resume) a training job from a config file.

    overfeat train --config configs/synthetic.py:classify --workdir runs/cls \\
        [--config.batch_size=64 --config.optimizer.learning_rate=0.1 ...]

The workdir receives checkpoints/, metrics.jsonl, tensorboard/, config.json, and the exported
models model/ (final) and best/. Running the same command again resumes from the latest
checkpoint. SIGTERM saves a checkpoint and exits with status 143.
"""

from __future__ import annotations

import sys

PREEMPTED_EXIT_STATUS = 143  # 128 + SIGTERM: what shells and schedulers expect
NON_FINITE_EXIT_STATUS = 1


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the classifier, box regressor or detector from a config file",
        description=__doc__,
        usage="overfeat train --config FILE.py[:VARIANT] --workdir DIR [--config.KEY=VALUE ...]",
    )
    parser.add_argument(
        "--config",
        required=True,
        metavar="NAME|FILE.py[:VARIANT]",
        help="a packaged config by name (synthetic, custom, fast, accurate) or a file "
             "defining get_config(arg=None), e.g. configs/fast.py; :ARG picks a variant",
    )
    parser.add_argument(
        "--workdir",
        required=True,
        metavar="DIR",
        help="checkpoints, logs and exported models go here; rerun to resume",
    )


def accept_extra_arguments(args, extra: list[str]) -> None:
    """``--config.KEY=VALUE`` overrides, which argparse cannot declare in advance."""
    args.overrides = list(extra)


def run(args) -> int:
    from overfeat.train import config as config_lib
    from overfeat.train import loop

    config = config_lib.load_config(args.config, getattr(args, "overrides", []))
    try:
        result = loop.train(config, args.workdir)
    except loop.NonFiniteLossError as error:
        print(f"overfeat train: error: {error}", file=sys.stderr)
        return NON_FINITE_EXIT_STATUS
    if result.preempted:
        print(
            f"overfeat train: stopped by SIGTERM after step {result.step}; checkpoint saved in "
            f"{result.workdir / 'checkpoints'} (rerun the same command to resume)",
            file=sys.stderr,
        )
        return PREEMPTED_EXIT_STATUS
    summary = " ".join(f"{key}={value:.4g}" for key, value in result.final_metrics.items())
    print(
        f"overfeat train: {config.task} done at step {result.step}/{result.total_steps}"
        + (f"; eval {summary}" if summary else "")
        + f"; workdir {result.workdir}"
    )
    return 0
