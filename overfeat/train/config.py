"""Training configurations: the schema every config file fills, loading ``FILE.py[:ARG]`` and
``--config.key=value`` overrides (ml_collections' ``config_flags`` semantics, without absl).

A config file defines ``get_config(arg=None) -> ml_collections.ConfigDict``. It starts from
``base_config()`` and changes what its experiment needs; ``load_config`` then checks that it
added no key the schema does not know (a typo in a config file must not be silently ignored),
locks it, applies the overrides and validates the values.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import pathlib

import ml_collections

TASKS = ("classify", "localize", "detect")
DTYPES = ("float32", "bfloat16")
STRIDES = ("coarse", "fine")


def base_config() -> ml_collections.ConfigDict:
    """Every key a training job reads, with the paper's section 3.1 values as defaults."""
    c = ml_collections.ConfigDict()
    c.task = "classify"  # classify (3.1) | localize: box regressor (4.2) | detect (5)
    c.arch = "accurate"
    c.seed = 0
    # Data: a source name for overfeat.data.sources.open_source, and its splits.
    c.dataset = "imagenet2012"
    c.train_split = "train"
    c.eval_split = "validation"
    c.num_classes = 0  # 0: the dataset's own class count
    c.batch_size = 128  # global, over all devices and hosts
    c.num_epochs = 90.0
    c.num_train_steps = 0  # > 0 overrides num_epochs
    c.steps_per_epoch = 0  # 0: len(train split) // batch_size

    # Input pipeline sizes (overfeat.data.pipelines.InputSizes); 0 or () is the data's default
    # for the architecture.
    c.input = ml_collections.ConfigDict()
    c.input.crop_size = 0  # classify: square crop (the field of view: 221 accurate, 231 fast)
    c.input.resize_size = 0  # classify: shorter side before cropping (256 for the paper's nets)
    c.input.resize_max = 0  # classify: > resize_size draws the side up to it (scale jitter)
    c.input.image_size = 0  # localize/detect: square training window (view + 2 coarse strides)
    c.input.scales = ()  # localize/detect: shorter sides drawn from before the window
    c.input.max_boxes = 100  # boxes per image in a batch
    c.input.workers = 0  # grain worker processes (0: in the training process)
    c.input.threads = 2  # grain reader threads per process
    c.input.on_bad_example = "raise"  # or "skip": count, log and leave out unreadable examples

    c.model = ml_collections.ConfigDict()
    c.model.init = "normal"  # normal: N(0, init_std) as the paper; he: He-normal
    c.model.init_std = 0.01
    c.model.dropout = 0.5  # on the hidden fully connected layers
    c.model.dtype = "float32"  # compute dtype; parameters stay float32
    c.model.regressor = ""  # "", "shared" (4 outputs) or "per_class" (4 * C)
    c.model.init_from = ""  # a saved model (or a training workdir) whose trunk we start from
    c.model.mean = (123.675, 116.28, 103.53)
    c.model.std = (58.395, 57.12, 57.375)
    # "dataset": normalize by model.mean/std (the paper); "image": by each image's own channel
    # statistics (a departure for the small CPU configs, NOTES.md "What limits the small nets").
    c.model.input_norm = "dataset"
    # Six smaller sides inference shows images at, saved with the model (overfeat.scales);
    # (): the paper's plan. configs/custom.py derives them from the data's object sizes.
    c.model.scale_sides = ()

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"  # sgd (the paper's) | adam
    c.optimizer.learning_rate = 5e-2
    c.optimizer.momentum = 0.6
    c.optimizer.nesterov = False
    c.optimizer.weight_decay = 1e-5  # l2, on convolution/fc kernels (not biases)
    c.optimizer.decay_epochs = (30.0, 50.0, 60.0, 70.0, 80.0)
    c.optimizer.decay_factor = 0.5
    c.optimizer.warmup_epochs = 0.0
    c.optimizer.clip_grad_norm = 0.0  # 0: off

    # Box regressor (section 4.2), also the optional regressor trained alongside the detector.
    c.regressor = ml_collections.ConfigDict()
    # Square network-input sides the batch is resized to on the device, one drawn per step
    # (snapped to sizes valid at the stride; 0: input.image_size as it comes).
    c.regressor.scales = (0,)
    c.regressor.stride = "fine"
    c.regressor.min_box_coverage = 0.5  # train a cell when >= this share of the box is in view

    # Detector (section 5).
    c.detector = ml_collections.ConfigDict()
    c.detector.scales = (0,)
    c.detector.stride = "fine"
    c.detector.positive_box_coverage = 0.5  # share of the box inside the cell's window
    c.detector.positive_window_fill = 0.1  # share of the window the box fills
    c.detector.negative_max_overlap = 0.2  # background: every box below this on both shares
    c.detector.random_negatives = 8  # per image
    c.detector.hard_negatives = 8  # per image: the highest-loss background cells
    c.detector.train_regressor = False
    c.detector.regressor_weight = 1.0

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every_steps = 1000
    c.checkpoint.keep = 3
    c.checkpoint.async_save = True

    c.log_every = 50
    c.eval_every = 1000  # 0: only at the end
    c.eval_batches = 0  # 0: the whole eval split
    c.progress_bar = True
    c.distributed = False  # call jax.distributed.initialize() (also: OVERFEAT_DISTRIBUTED=1)
    c.export = True  # save the final and the best model with overfeat.weights.save_model
    return c


PACKAGED_CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def packaged_configs() -> tuple[str, ...]:
    """The names of the configs shipped with the package (``overfeat/configs/NAME.py``)."""
    return tuple(sorted(path.stem for path in PACKAGED_CONFIGS.glob("[!_]*.py")))


def config_path(name_or_path: str) -> pathlib.Path:
    """A packaged config's file for a bare name (``synthetic``), else the path as given."""
    if "/" in name_or_path or "\\" in name_or_path or name_or_path.endswith(".py"):
        return pathlib.Path(name_or_path)
    path = PACKAGED_CONFIGS / f"{name_or_path}.py"
    if not path.is_file():
        raise ValueError(f"no packaged config {name_or_path!r}; packaged: "
                         f"{', '.join(packaged_configs())} (or give a path to a .py file)")
    return path


def load_config(
    spec: str, overrides: list[str] | tuple[str, ...] = ()
) -> ml_collections.ConfigDict:
    """``NAME[:ARG]`` (a packaged config) or ``path/to/FILE.py[:ARG]`` -> its locked,
    overridden and validated ConfigDict."""
    path, _, arg = spec.partition(":")
    config = _call_get_config(config_path(path), arg or None)
    check_keys(config, base_config(), where=path)
    config.lock()
    apply_overrides(config, overrides)
    validate(config)
    return config


def _call_get_config(path: pathlib.Path, arg: str | None) -> ml_collections.ConfigDict:
    if path.suffix != ".py":
        raise ValueError(
            f"config must be a Python file (configs/NAME.py[:VARIANT]), got {str(path)!r}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"overfeat_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise ValueError(f"config file {path}: {type(error).__name__}: {error}") from error
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ValueError(f"config file {path} defines no get_config(arg=None) function")
    try:
        config = get_config(arg) if arg is not None else get_config()
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(
            f"config file {path}: get_config({arg!r}) failed: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(config, ml_collections.ConfigDict):
        raise ValueError(
            f"config file {path}: get_config returned {type(config).__name__}, "
            "expected an ml_collections.ConfigDict"
        )
    return config


def check_keys(config, schema, *, where: str, prefix: str = "") -> None:
    """Raise naming the first key of ``config`` the schema does not have (with a suggestion)."""
    for key, value in config.items():
        name = f"{prefix}{key}"
        if key not in schema:
            raise ValueError(
                f"{where}: unknown config key {name!r}{_suggest(key, schema.keys(), prefix)}"
            )
        if isinstance(schema[key], ml_collections.ConfigDict):
            if not isinstance(value, ml_collections.ConfigDict):
                raise ValueError(f"{where}: config key {name!r} must be a group of keys")
            check_keys(value, schema[key], where=where, prefix=f"{name}.")


def _suggest(key: str, candidates, prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
    """Apply ``--config.a.b=VALUE`` (or ``--config.a.b VALUE``) arguments in place.

    VALUE is read as a Python literal when it is one (``0.1``, ``(87, 111)``, ``True``) and as a
    string otherwise; it must fit the type of the value it replaces.
    """
    pairs = _override_pairs(list(overrides))
    for dotted, text in pairs:
        parent, leaf = _resolve(config, dotted)
        old = parent[leaf]
        value = _parse_value(text, old, dotted)
        try:
            parent[leaf] = value
        except (TypeError, ValueError) as error:
            raise ValueError(f"--config.{dotted}={text}: {error}") from None


def _override_pairs(arguments: list[str]) -> list[tuple[str, str]]:
    pairs, i = [], 0
    while i < len(arguments):
        argument = arguments[i]
        if not argument.startswith("--config."):
            raise ValueError(
                f"unrecognized argument {argument!r} (overrides look like --config.KEY=VALUE)"
            )
        body = argument[len("--config.") :]
        if "=" in body:
            key, text = body.split("=", 1)
        elif i + 1 < len(arguments) and not arguments[i + 1].startswith("--"):
            key, text = body, arguments[i + 1]
            i += 1
        else:
            raise ValueError(f"{argument}: no value (write --config.KEY=VALUE)")
        if not key:
            raise ValueError(f"{argument}: empty key")
        pairs.append((key, text))
        i += 1
    return pairs


def _resolve(config: ml_collections.ConfigDict, dotted: str):
    node, parts = config, dotted.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            known = node.keys() if isinstance(node, ml_collections.ConfigDict) else []
            name = ".".join(parts[: depth + 1])
            parent = ".".join(parts[:depth] + [""])
            raise ValueError(f"unknown config key {name!r}{_suggest(part, known, parent)}")
        if depth == len(parts) - 1:
            if isinstance(node[part], ml_collections.ConfigDict):
                raise ValueError(f"config key {dotted!r} is a group; override one of its keys")
            return node, part
        node = node[part]
    raise AssertionError("unreachable")


def _parse_value(text: str, old, dotted: str):
    if isinstance(old, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(
            f"--config.{dotted}={text}: expected a value like {old!r} ({type(old).__name__})"
        ) from None
    if isinstance(old, bool) != isinstance(value, bool):
        raise ValueError(f"--config.{dotted}={text}: expected True or False")
    if isinstance(old, tuple) and isinstance(value, int | float):
        value = (value,)
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(old, float) and isinstance(value, int):
        value = float(value)
    if isinstance(old, int) and not isinstance(old, bool) and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"--config.{dotted}={text}: expected an integer")
        value = int(value)
    return value


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise a ``ValueError`` naming the first key whose value cannot work."""
    from overfeat.architectures import ARCHITECTURES
    from overfeat.models import INPUT_NORMS

    def check(ok: bool, key: str, message: str):
        if not ok:
            raise ValueError(f"config.{key}={c_get(key)!r}: {message}")

    def c_get(key: str):
        node = c
        for part in key.split("."):
            node = node[part]
        return node

    check(c.task in TASKS, "task", f"must be one of {', '.join(TASKS)}")
    check(c.arch in ARCHITECTURES, "arch", f"must be one of {', '.join(sorted(ARCHITECTURES))}")
    check(c.batch_size > 0, "batch_size", "must be positive")
    check(
        c.num_train_steps > 0 or c.num_epochs > 0, "num_epochs", "set num_epochs or num_train_steps"
    )
    check(c.model.init in ("normal", "he"), "model.init", "must be 'normal' or 'he'")
    check(c.model.dtype in DTYPES, "model.dtype", f"must be one of {', '.join(DTYPES)}")
    check(
        c.model.regressor in ("", "shared", "per_class"),
        "model.regressor",
        "must be '', 'shared' or 'per_class'",
    )
    check(0.0 <= c.model.dropout < 1.0, "model.dropout", "must be in [0, 1)")
    check(c.model.input_norm in INPUT_NORMS, "model.input_norm",
          f"must be one of {', '.join(INPUT_NORMS)}")
    if c.model.scale_sides:
        from overfeat.scales import check_sides
        try:
            check_sides(c.arch, c.model.scale_sides)
        except ValueError as error:
            check(False, "model.scale_sides", str(error))
    check(c.optimizer.name in ("sgd", "adam"), "optimizer.name", "must be 'sgd' or 'adam'")
    check(c.optimizer.learning_rate > 0, "optimizer.learning_rate", "must be positive")
    check(0.0 <= c.optimizer.momentum < 1.0, "optimizer.momentum", "must be in [0, 1)")
    check(
        list(c.optimizer.decay_epochs) == sorted(c.optimizer.decay_epochs),
        "optimizer.decay_epochs",
        "must be increasing",
    )
    check(c.regressor.stride in STRIDES, "regressor.stride", "must be 'coarse' or 'fine'")
    check(c.detector.stride in STRIDES, "detector.stride", "must be 'coarse' or 'fine'")
    check(
        0.0 < c.regressor.min_box_coverage <= 1.0, "regressor.min_box_coverage", "must be in (0, 1]"
    )
    check(c.checkpoint.every_steps >= 0, "checkpoint.every_steps", "must be >= 0")
    check(c.checkpoint.keep >= 1, "checkpoint.keep", "must be >= 1")
    check(c.log_every > 0, "log_every", "must be positive")
    check(
        c.input.on_bad_example in ("raise", "skip"),
        "input.on_bad_example",
        "must be 'raise' or 'skip'",
    )
    if c.task == "localize":
        check(
            c.model.regressor != "",
            "model.regressor",
            "the localize task trains a regressor: set 'shared' or 'per_class'",
        )
        check(
            c.model.init_from != "",
            "model.init_from",
            "the localize task trains on a frozen "
            "trunk: give the classifier's saved model (or its workdir)",
        )
    if c.task == "detect" and c.detector.train_regressor:
        check(
            c.model.regressor != "",
            "model.regressor",
            "detector.train_regressor needs a regressor: set 'shared' or 'per_class'",
        )
