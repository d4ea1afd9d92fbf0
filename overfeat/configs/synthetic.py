"""The small fast-topology network (``fast_small``: 59x59 view, stride 16, fine 8) on the
synthetic shapes (``overfeat.data.synthetic``, 64x64 images): the paper's three training
jobs at a size a 2-core CPU trains in minutes. The demo (``overfeat demo``) runs these.

    overfeat train --config configs/synthetic.py:classify --workdir runs/synthetic/classify
    overfeat train --config configs/synthetic.py:localize --workdir runs/synthetic/localize
    overfeat train --config configs/synthetic.py:detect --workdir runs/synthetic/detect

(localize starts from runs/synthetic/classify, detect from runs/synthetic/localize: change
with --config.model.init_from=DIR.) Append ``,quick`` to a variant (``classify,quick``) for
the demo's --quick sizes: fewer steps on easier images (4 classes, no clutter, upright).
Departures from section 3.1 for a net ~1000x smaller trained for minutes instead of days
(each measured, NOTES.md "What limits the small nets"): He-normal initialisation and Adam
(with N(0, 0.01) and SGD the small nets sit at chance for the whole budget), each image
normalized by its own channel statistics (``model.input_norm = "image"``: the shapes' colours
are random, and the dataset's statistics leave the net to learn colour invariance first:
top-1 error 0.207 -> 0.113 at 8 epochs), the classifier's crops taken from images of random
size up to the largest inference side (``input.resize_max``: six-scale top-1 error 0.11 ->
0.015), a short warmup, the decay points at fractions of the run, no dropout (a short run
does not overfit), the detector at the classifier's rate (1e-3: mAP 0.595 -> 0.663), and
images a little easier than the synthetic data's defaults (turned by at most 15 degrees,
objects at least 40% of the side). Everything else (l2 decay 1e-5, the losses, targets and
negative mining) is the paper's. Cost on a 2-core CPU: the demo's figures in NOTES.md.
"""

from overfeat.scales import smaller_sides
from overfeat.train.config import base_config

VARIANTS = ("classify", "localize", "detect")
# overfeat.data.sources options: 64x64 images, objects at least 40% of the side (up to 90%,
# detect 60%), a quarter of the default clutter, turned by at most 15 degrees.
DATA = "size=64&clutter=0.25&rotation=15&min_scale=0.4"
QUICK_DATA = "size=64&classes=4&clutter=0&rotation=0&min_scale=0.4"


def get_config(arg=None):
    task, *flags = (arg or "classify").split(",")
    if task not in VARIANTS or set(flags) - {"quick"}:
        raise ValueError(
            f"configs/synthetic.py: unknown variant {arg!r}; known: "
            f"{', '.join(VARIANTS)}, each optionally followed by ',quick'"
        )
    quick = "quick" in flags
    config = base_config()
    config.task = task
    config.arch = "fast_small"
    config.dataset = f"synthetic/{task}?{QUICK_DATA if quick else DATA}"
    config.batch_size = 32
    config.model.init = "he"
    config.model.input_norm = "image"  # random colours: 2x fewer errors (NOTES.md)
    config.model.dropout = 0.0  # 0.5 halves what 8 epochs reach (NOTES.md)
    config.optimizer.name = "adam"
    config.optimizer.warmup_epochs = 0.1
    config.log_every = 20
    config.eval_batches = 8 if quick else 16  # 256 / 512 validation images
    config.checkpoint.every_steps = 200
    config.checkpoint.keep = 2
    {"classify": _classify, "localize": _localize, "detect": _detect}[task](config, quick)
    return config


def _schedule(config, epochs: float, quick: bool) -> None:
    """``epochs`` of the 10k training images; the rate halved at 50%, 75% and 90% of them
    (quick runs keep it constant: they stop before a decay would pay off)."""
    config.num_epochs = epochs
    fractions = () if quick else (0.5, 0.75, 0.9)
    config.optimizer.decay_epochs = tuple(round(epochs * f, 3) for f in fractions)
    config.eval_every = max(int(epochs * 10_000 / config.batch_size / 4), 1)


def _classify(config, quick: bool) -> None:
    config.optimizer.learning_rate = 1e-3
    # Scale jitter up to the largest inference side: six-scale top-1 error 0.11 -> 0.015.
    config.input.resize_max = smaller_sides(config.arch)[-1]
    _schedule(config, 2.5 if quick else 16.0, quick)


def _localize(config, quick: bool) -> None:
    config.model.regressor = "shared"
    config.model.init_from = "runs/synthetic/classify"
    config.optimizer.learning_rate = 1e-3
    _schedule(config, 0.3 if quick else 1.5, quick)


def _detect(config, quick: bool) -> None:
    config.model.regressor = "shared"
    config.model.init_from = "runs/synthetic/localize"
    config.detector.train_regressor = True
    config.optimizer.learning_rate = 1e-3  # 3e-4: mAP 0.595 -> 0.663 at 2 epochs
    _schedule(config, 1.0 if quick else 6.0, quick)
