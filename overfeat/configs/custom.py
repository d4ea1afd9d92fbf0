"""Your own dataset (``overfeat data prepare coco-folder|voc-folder|image-folder ... --name NAME``):
the paper's three training jobs, with defaults taken from what prepare recorded about the data.

    for task in classify localize detect; do
      overfeat train --config custom:dataset=NAME,task=$task --workdir runs/NAME/$task
    done
    overfeat detect photo.jpg --checkpoint runs/NAME/detect/model

localize starts from runs/NAME/classify and detect from runs/NAME/localize (change with
--config.model.init_from=DIR). A detection dataset has no image labels: classify and
localize read its objects as crops with some context around each (ILSVRC-LOC's kind of
example; ``overfeat.data.object_crops``). A class-folder dataset trains classify only.

Arguments (``key=value`` joined by commas): ``dataset`` (required), ``task`` (classify),
``arch`` (``fast_small`` when JAX runs on a CPU, ``fast`` on GPUs and TPUs; any of
``overfeat info``'s; asking JAX starts its backend, so a multi-host job, which must call
``jax.distributed.initialize`` first, names its arch). From the prepared data come the
classes (names and count), the epochs (enough for about ``TARGET_STEPS`` steps however few
the examples, at most ``MAX_EPOCHS``) and the decay points, and the scales: from the objects'
sizes (10th and 90th percentiles of their side over the image's shorter side), the six
smaller sides inference shows an image at (``overfeat.scales.sides_for_objects``: objects at
0.8-1.25 of the network's view; saved with the model, so ``overfeat detect`` and ``evaluate``
use them) and the shorter sides the regressor and detector train at (the same sides, so
training sees objects at the sizes inference shows them).

Departures from the paper, for the small nets (each measured, NOTES.md "What limits the
small nets"): Adam and He-normal initialisation, each image normalized by its own statistics
(``model.input_norm``), the scales from the data, the detector at the classifier's rate.
Cost on a 2-core CPU, fast_small: NOTES.md "Your own data" and scripts/benchmark_learning.py.
The fast net on one GPU: see configs/fast.py.
"""

import json
import pathlib

import jax

from overfeat.data.pipelines import input_sizes
from overfeat.scales import sides_for_objects
from overfeat.train.config import TASKS, base_config

ARGUMENTS = ("dataset", "task", "arch")
TARGET_STEPS = {"classify": 2000, "localize": 600, "detect": 2400}  # detect 1200: mAP 0.731
MAX_EPOCHS = 200.0
PREVIOUS_TASK = {"localize": "classify", "detect": "localize"}


def get_config(arg=None):
    options = parse_arguments(arg)
    name, task = options["dataset"], options["task"]
    small = options["arch"].endswith("_small")
    statistics = prepared_statistics(name)
    if task != "classify" and statistics.get("classification"):
        raise ValueError(f"configs/custom.py: {name} is a classification dataset (class "
                         f"folders, no boxes): only task=classify trains on it")

    config = base_config()
    config.task = task
    config.arch = options["arch"]
    config.dataset = name
    config.num_classes = 0  # the dataset's
    config.batch_size = 32 if small else 128
    # Measured on the synthetic data (configs/synthetic.py, NOTES.md "Training"): He-normal
    # initialisation and Adam learn in minutes where N(0, 0.01) and SGD sit at chance.
    config.model.init = "he"
    config.model.input_norm = "image" if small else "dataset"
    config.model.dropout = 0.0 if small else 0.5
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 1e-3  # the detector too: 3e-4 gave mAP 0.631, 1e-3 0.729
    config.optimizer.warmup_epochs = 0.0
    if task in PREVIOUS_TASK:
        config.model.regressor = "shared"
        config.model.init_from = f"runs/{name}/{PREVIOUS_TASK[task]}"
    if task == "detect":
        config.detector.train_regressor = True

    if statistics.get("object_size"):
        # Show objects at the sizes the network frames well (overfeat.scales.sides_for_objects):
        # the paper's six sides suit ImageNet's large objects, not a photo's small ones.
        small, large = statistics["object_size"]
        sides = sides_for_objects(config.arch, small, large)
        config.model.scale_sides = sides
        image_size = input_sizes(config.arch).image_size
        config.input.scales = tuple(sorted({max(side, image_size) for side in sides}))

    examples = statistics.get(task)
    epochs = MAX_EPOCHS if not examples else min(
        MAX_EPOCHS, max(1.0, TARGET_STEPS[task] * config.batch_size / examples))
    config.num_epochs = round(epochs, 2)
    config.optimizer.decay_epochs = tuple(round(epochs * f, 3) for f in (0.5, 0.75, 0.9))
    steps = epochs * (examples or config.batch_size) / config.batch_size
    config.eval_every = max(int(steps / 4), 1)
    config.eval_batches = 32  # per evaluation: up to 1024 validation examples on a CPU
    config.log_every = 20
    config.checkpoint.every_steps = 200 if small else 2000
    config.checkpoint.keep = 2
    return config


def parse_arguments(arg) -> dict:
    """``dataset=NAME,task=TASK,arch=ARCH`` -> a dict with every argument filled in."""
    options = {"task": "classify"}
    for item in filter(None, (arg or "").split(",")):
        key, equals, value = item.partition("=")
        if not equals or key not in ARGUMENTS or not value:
            raise ValueError(f"configs/custom.py: bad argument {item!r}; arguments are "
                             f"{', '.join(ARGUMENTS)} as key=value joined by commas, e.g. "
                             "custom:dataset=parts,task=detect")
        options[key] = value
    if "dataset" not in options:
        raise ValueError("configs/custom.py needs the dataset: "
                         "--config custom:dataset=NAME,task=TASK")
    if options["task"] not in TASKS:
        raise ValueError(f"configs/custom.py: task must be one of {', '.join(TASKS)}, "
                         f"got {options['task']!r}")
    options.setdefault("arch", "fast_small" if jax.default_backend() == "cpu" else "fast")
    return options


def prepared_statistics(name: str) -> dict:
    """What the config reads from a prepared dataset's metadata: the training examples each
    task sees (images for detect, objects for classify and localize on a detection
    dataset) and whether it is a classification dataset. Empty for a dataset prepared
    without statistics (the TFDS catalogue's): the defaults then assume nothing."""
    from overfeat.data.tfds_sources import dataset_directory

    path = pathlib.Path(dataset_directory(name)) / "metadata.json"
    metadata = json.loads(path.read_text()) if path.is_file() else {}
    train = metadata.get("statistics", {}).get("splits", {}).get("train")
    if not train:
        return {}
    objects = sum(train["per_class"])
    if metadata.get("format") == "image-folder":
        return {"classification": True, "classify": train["images"]}
    sizes = metadata["statistics"].get("object_size") or {}
    object_size = (sizes["p10"], sizes["p90"]) if "p10" in sizes else None
    return {"classify": objects, "localize": objects, "detect": train["images"],
            "object_size": object_size}
