"""Weights in and out of our models: the original OverFeat release files, and our checkpoints.

**Release files** (``net_weight_0`` fast, ``net_weight_1`` accurate; see
``../shared/reference/weight_format.md``): raw little-endian float32, no header; for each
convolution in network order (fully connected layers are convolutions) the weight
``W[out, in, kh, kw]`` then the bias ``b[out]``. ``load_release`` maps the file (``np.memmap``)
and copies one tensor at a time into the model, transposed to our ``HWIO`` kernels; the model
gets the release's scalar input normalization ``(x - 118.380948) / 61.896913``. The file's
size is checked before anything is read.

**Checkpoints** (the one format of this project for trained models): a directory ::

    DIR/overfeat.json   what the model is: architecture (name and full layer table),
                        num_classes, regressor kind, input mean/std, class names and ids,
                        whether the last class is a detector's background, free metadata,
                        format name and version
    DIR/params/         the parameter tree (Orbax), paths like trunk/conv1/kernel

``save_model`` writes into a hidden sibling directory and renames it into place, so a reader
never sees a half-written checkpoint. ``load_model`` rebuilds the model from the JSON and
restores the tree after checking it has exactly the expected paths and shapes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from overfeat.architectures import ARCHITECTURES, Architecture, Conv, MaxPool, get_architecture
from overfeat.models import (
    INPUT_NORMS,
    RELEASE_MEAN,
    RELEASE_STD,
    OverFeat,
    Preprocessing,
    RegressorKind,
    create_model,
)
from overfeat.scales import check_sides

# --- The original release ---------------------------------------------------------------------

RELEASE_FILES = {"fast": "net_weight_0", "accurate": "net_weight_1"}
RELEASE_NUM_CLASSES = 1000
_FLOAT32 = np.dtype("<f4")


class WeightFileError(ValueError):
    """A weight file that is not what it was given as; the message says what was expected."""


@dataclasses.dataclass(frozen=True)
class ReleaseTensor:
    """One convolution's place in a release file. Offsets count float32 values."""

    module: str  # "trunk" or "classifier": where the layer lives in our model
    layer: str  # paper name, e.g. "conv1", "fc6"
    shape: tuple[int, int, int, int]  # the release's W [out, in, kh, kw]
    weight_offset: int
    bias_offset: int

    @property
    def weight_count(self) -> int:
        return int(np.prod(self.shape))


def release_layout(
    arch: str | Architecture, num_classes: int = RELEASE_NUM_CLASSES
) -> tuple[ReleaseTensor, ...]:
    """Where each layer's weight and bias sit in a file of the release's layout for ``arch``.

    Derived from the layer tables, so it also describes files for the small architectures
    (used in tests); for ``fast`` and ``accurate`` it is weight_format.md's offset table.
    """
    arch = get_architecture(arch)
    shapes: list[tuple[str, str, tuple[int, int, int, int]]] = []
    channels = 3
    for conv in arch.convs:
        shapes.append(("trunk", conv.name, (conv.features, channels, conv.kernel, conv.kernel)))
        channels = conv.features
    kernel = arch.head_kernel
    for name, width in zip(arch.classifier_names, (*arch.classifier, num_classes), strict=True):
        shapes.append(("classifier", name, (width, channels, kernel, kernel)))
        channels, kernel = width, 1
    layout, offset = [], 0
    for module, layer, shape in shapes:
        count = int(np.prod(shape))
        layout.append(ReleaseTensor(module, layer, shape, offset, offset + count))
        offset += count + shape[0]
    return tuple(layout)


def release_file_size(arch: str | Architecture, num_classes: int = RELEASE_NUM_CLASSES) -> int:
    """Bytes of a release-layout file for ``arch`` (583,683,488 fast; 578,625,952 accurate)."""
    last = release_layout(arch, num_classes)[-1]
    return (last.bias_offset + last.shape[0]) * _FLOAT32.itemsize


def release_arch_for_size(size: int) -> str | None:
    """The release network (``fast``/``accurate``) whose weight file has ``size`` bytes."""
    for name in RELEASE_FILES:
        if release_file_size(name) == size:
            return name
    return None


def check_release_file(
    path: str | os.PathLike, arch: str | Architecture, num_classes: int = RELEASE_NUM_CLASSES
) -> int:
    """Raise ``WeightFileError`` unless ``path`` has exactly the size of ``arch``'s file.

    Reads only the file's size; returns it. The message names the expected size, the network
    the actual size belongs to (the other net's file is the common mistake), or the shortfall.
    """
    arch = get_architecture(arch)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weight file not found: {path}")
    actual, expected = os.path.getsize(path), release_file_size(arch, num_classes)
    if actual == expected:
        return actual
    what = _release_description(arch.name, num_classes)
    other = release_arch_for_size(actual)
    if other is not None and other != arch.name:
        raise WeightFileError(
            f"{path} has {actual:,} bytes: that is the size of the {other} net's file "
            f"({RELEASE_FILES[other]}), not of {what} ({expected:,} bytes); "
            f"use the {other} architecture for it"
        )
    if actual < expected:
        raise WeightFileError(
            f"{path} is truncated: {actual:,} bytes, {expected - actual:,} short of "
            f"{expected:,} bytes ({expected // 4:,} float32), the size of {what}"
        )
    raise WeightFileError(
        f"{path} has {actual:,} bytes, more than {expected:,} bytes ({expected // 4:,} "
        f"float32), the size of {what}: not a weight file of that network"
    )


def _release_description(arch_name: str, num_classes: int) -> str:
    if arch_name in RELEASE_FILES and num_classes == RELEASE_NUM_CLASSES:
        return f"the {arch_name} net's file ({RELEASE_FILES[arch_name]})"
    return f"a release-layout file for {arch_name} with {num_classes} classes"


def read_release_tensors(
    path: str | os.PathLike, arch: str | Architecture, num_classes: int = RELEASE_NUM_CLASSES
) -> Iterator[tuple[ReleaseTensor, jax.Array, jax.Array]]:
    """Yield ``(place, kernel [kh, kw, in, out], bias [out])`` per layer, one at a time.

    The file is memory-mapped; each weight is transposed block by block straight from the
    mapping into one host buffer, then put on the device, so at most one layer's two copies
    are alive besides what the caller keeps. (NumPy rather than ``jnp.transpose``: no XLA
    compilation per layer shape, which costs more than the copy on a CPU.)
    """
    check_release_file(path, arch, num_classes)
    floats = np.memmap(path, dtype=_FLOAT32, mode="r")  # [N], nothing read yet
    for place in release_layout(arch, num_classes):
        kernel = _hwio_from_release(floats, place)  # [kh, kw, I, O]
        bias = np.array(floats[place.bias_offset : place.bias_offset + place.shape[0]])
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise WeightFileError(
                f"{os.fspath(path)}: layer {place.layer} holds NaN or infinite values; "
                "the file is corrupt or not a little-endian float32 OverFeat weight file"
            )
        yield place, jax.device_put(kernel), jax.device_put(bias)


def _hwio_from_release(floats: np.ndarray, place: ReleaseTensor, block_bytes: int = 1 << 22):
    """``W[out, in, kh, kw]`` at ``place`` as a C-ordered ``[kh, kw, in, out]`` array."""
    out_ch, in_ch, kh, kw = place.shape
    stored = floats[place.weight_offset : place.weight_offset + place.weight_count]
    stored = stored.reshape(place.shape)  # a view of the mapping
    kernel = np.empty((kh, kw, in_ch, out_ch), np.float32)
    # A few MB of output channels at a time: reads stay sequential, the block stays in cache.
    step = max(1, block_bytes // (in_ch * kh * kw * _FLOAT32.itemsize))
    for start in range(0, out_ch, step):
        kernel[..., start : start + step] = stored[start : start + step].transpose(2, 3, 1, 0)
    return kernel


def load_release(
    arch: str | Architecture, path: str | os.PathLike, *, num_classes: int = RELEASE_NUM_CLASSES
) -> OverFeat:
    """The release network in ``path`` (``net_weight_0`` for ``fast``, ``net_weight_1`` for
    ``accurate``) as our model, with the release's input normalization.

    The model is built abstractly (no random initialisation of 145M parameters) and filled
    layer by layer. Our ReLU is ``max(x, 0)`` where the release thresholds at 1e-6; the two
    differ only for activations in (0, 1e-6] (see NOTES.md for the measured parity).
    """
    arch = get_architecture(arch)
    check_release_file(path, arch, num_classes)
    abstract = nnx.eval_shape(
        lambda: create_model(arch, num_classes=num_classes, mean=RELEASE_MEAN, std=RELEASE_STD)
    )
    graphdef, state = nnx.split(abstract)
    values = nnx.to_pure_dict(state)
    values["trunk"]["mean"] = jax.device_put(np.full((3,), RELEASE_MEAN, np.float32))
    values["trunk"]["std"] = jax.device_put(np.full((3,), RELEASE_STD, np.float32))
    for place, kernel, bias in read_release_tensors(path, arch, num_classes):
        layer = values[place.module][place.layer]
        if layer["kernel"].shape != kernel.shape:  # the layout and the model disagree: a bug
            raise AssertionError(f"{place.layer}: kernel {kernel.shape} vs {layer['kernel'].shape}")
        layer["kernel"], layer["bias"] = kernel, bias
    nnx.replace_by_pure_dict(state, values)
    return nnx.merge(graphdef, state)


# --- Class order ------------------------------------------------------------------------------


def reorder_classes(model: OverFeat, order: Sequence[int] | np.ndarray) -> None:
    """Permute the model's classes in place: new class ``j`` is old class ``order[j]``.

    Changes the classifier's output layer (and a per-class regressor's outputs), e.g.
    ``reorder_classes(model, imagenet_classes.tfds_to_release())`` makes a release model
    answer in TFDS label order.
    """
    order = np.asarray(order, np.int64)
    if sorted(order.tolist()) != list(range(model.num_classes)):
        raise ValueError(f"order must be a permutation of 0..{model.num_classes - 1}")
    output = getattr(model.classifier, model.classifier.names[-1])
    output.kernel[...] = output.kernel[...][..., order]
    output.bias[...] = output.bias[...][order]
    if model.regressor_kind == "per_class":
        boxes = getattr(model.regressor, model.regressor.names[-1])
        box_order = (order[:, None] * 4 + np.arange(4)).reshape(-1)  # 4 outputs per class
        boxes.kernel[...] = boxes.kernel[...][..., box_order]
        boxes.bias[...] = boxes.bias[...][box_order]


# --- Our checkpoints --------------------------------------------------------------------------

CHECKPOINT_FORMAT = "overfeat-checkpoint"
CHECKPOINT_VERSION = 1
INFO_FILE = "overfeat.json"
PARAMS_DIR = "params"
# What a checkpoint stores: the parameters and the input statistics the model carries.
_SAVED_STATE = (nnx.Param, Preprocessing)


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What ``overfeat.json`` says about a checkpoint's model (everything but the tensors).

    Attributes:
      arch: the architecture, rebuilt from the stored layer table.
      num_classes: classifier outputs, a detector's background class included.
      regressor: ``None``, ``"shared"`` or ``"per_class"``.
      mean, std: per-channel input statistics on the 0..255 scale.
      scale_sides: the six smaller sides inference shows images at (``overfeat.scales``),
        or ``None`` for the paper's plan (also when absent: older files).
      input_norm: ``"dataset"`` (``mean``/``std``) or ``"image"`` (each image's own
        statistics; ``overfeat.models.InputNorm``). Absent in older files: ``"dataset"``.
      class_names: a display name per output, or ``None``.
      class_ids: a stable id per output (WNIDs for ImageNet), or ``None``; names can be
        ambiguous ("crane"), ids cannot.
      background_class: whether the last class is a detector's background.
      dropout: the classifier's dropout rate (for fine-tuning; inference ignores it).
      compute_dtype: e.g. ``"bfloat16"``, or ``None`` for float32.
      metadata: free JSON (training configuration, dataset, metrics, provenance).
      format_version: the version of this format the checkpoint was written in.
    """

    arch: Architecture
    num_classes: int
    regressor: RegressorKind | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    input_norm: str = "dataset"
    scale_sides: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None
    class_ids: tuple[str, ...] | None = None
    background_class: bool = False
    dropout: float = 0.0
    compute_dtype: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    format_version: int = CHECKPOINT_VERSION

    def create_model(self) -> OverFeat:
        """A model of this description (randomly initialised; ``load_model`` fills it)."""
        return create_model(
            self.arch, num_classes=self.num_classes, regressor=self.regressor,
            mean=self.mean, std=self.std, input_norm=self.input_norm,
            scale_sides=self.scale_sides, dropout=self.dropout,
            dtype=None if self.compute_dtype is None else jnp.dtype(self.compute_dtype),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "arch": self.arch.name,
            "architecture": architecture_to_json(self.arch),
            "num_classes": self.num_classes,
            "regressor": self.regressor,
            "background_class": self.background_class,
            "mean": list(self.mean),
            "std": list(self.std),
            "input_norm": self.input_norm,
            "scale_sides": None if self.scale_sides is None else list(self.scale_sides),
            "dropout": self.dropout,
            "compute_dtype": self.compute_dtype,
            "class_names": None if self.class_names is None else list(self.class_names),
            "class_ids": None if self.class_ids is None else list(self.class_ids),
            "metadata": self.metadata,
        }


def architecture_to_json(arch: Architecture) -> dict[str, Any]:
    """The layer table as JSON, so that a checkpoint describes its network by itself."""
    trunk = []
    for layer in arch.trunk:
        if isinstance(layer, Conv):
            trunk.append({"type": "conv", **dataclasses.asdict(layer)})
        else:
            trunk.append({"type": "max_pool", **dataclasses.asdict(layer)})
    return {
        "name": arch.name,
        "trunk": trunk,
        "classifier": list(arch.classifier),
        "classifier_names": list(arch.classifier_names),
        "head_kernel": arch.head_kernel,
        "regressor": list(arch.regressor),
        "description": arch.description,
    }


def architecture_from_json(data: dict[str, Any]) -> Architecture:
    """Inverse of ``architecture_to_json``; the registered object when the tables agree."""
    trunk = []
    for layer in data["trunk"]:
        fields = {key: value for key, value in layer.items() if key != "type"}
        if layer["type"] == "conv":
            trunk.append(Conv(**fields))
        elif layer["type"] == "max_pool":
            trunk.append(MaxPool(**fields))
        else:
            raise ValueError(f"unknown layer type {layer['type']!r}")
    arch = Architecture(
        name=data["name"], trunk=tuple(trunk), classifier=tuple(data["classifier"]),
        classifier_names=tuple(data["classifier_names"]), head_kernel=data["head_kernel"],
        regressor=tuple(data["regressor"]), description=data.get("description", ""),
    )
    registered = ARCHITECTURES.get(arch.name)
    if registered is not None and dataclasses.replace(registered, description="") == (
        dataclasses.replace(arch, description="")
    ):
        return registered
    return arch


def save_model(
    model: OverFeat,
    directory: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    class_ids: Sequence[str] | None = None,
    background_class: bool = False,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as a checkpoint directory; return its path.

    Args:
      class_names, class_ids: one per class (``model.num_classes``), or ``None``.
      background_class: the last class is a detector's background class.
      metadata: JSON-serialisable facts to keep with the model (config, data, metrics).
      overwrite: replace an existing checkpoint at ``directory`` (never a directory that is
        not a checkpoint).

    The checkpoint appears at ``directory`` only once complete (written beside it, then
    renamed). For one process: a multi-host job exports from its process 0.
    """
    info = _describe(model, class_names, class_ids, background_class, metadata)
    try:
        text = json.dumps(info.to_json(), indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint metadata must be plain JSON: {error}") from None
    directory = Path(directory).absolute()
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; pass overwrite=True to replace it")
    if directory.exists() and not (directory / INFO_FILE).is_file() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not an overfeat checkpoint: not replaced")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        checkpointer = ocp.StandardCheckpointer()
        try:
            tree = nnx.to_pure_dict(nnx.state(model, _SAVED_STATE))
            checkpointer.save(staging / PARAMS_DIR, tree)
            checkpointer.wait_until_finished()
        finally:
            checkpointer.close()
        (staging / INFO_FILE).write_text(text + "\n", encoding="utf-8")
        _move_into_place(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _describe(model, class_names, class_ids, background_class, metadata) -> CheckpointInfo:
    for label, values in (("class_names", class_names), ("class_ids", class_ids)):
        if values is not None and len(values) != model.num_classes:
            raise ValueError(f"{label} has {len(values)} entries for {model.num_classes} classes")
    conv1 = getattr(model.trunk, model.arch.convs[0].name)
    dropout = model.classifier.dropout
    return CheckpointInfo(
        arch=model.arch,
        num_classes=model.num_classes,
        regressor=model.regressor_kind,
        mean=tuple(float(v) for v in np.asarray(model.trunk.mean[...])),
        std=tuple(float(v) for v in np.asarray(model.trunk.std[...])),
        input_norm=model.trunk.input_norm,
        scale_sides=model.scale_sides,
        class_names=None if class_names is None else tuple(str(n) for n in class_names),
        class_ids=None if class_ids is None else tuple(str(n) for n in class_ids),
        background_class=bool(background_class),
        dropout=0.0 if dropout is None else float(dropout.rate),
        compute_dtype=None if conv1.dtype is None else jnp.dtype(conv1.dtype).name,
        metadata=dict(metadata or {}),
    )


def _move_into_place(staging: Path, directory: Path) -> None:
    """Rename ``staging`` to ``directory``, replacing an old checkpoint there (renamed aside
    first, deleted last, so that some complete checkpoint is at ``directory`` throughout
    except for the instant between the two renames)."""
    if not directory.exists():
        os.replace(staging, directory)
        return
    old = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(directory, old)
    os.replace(staging, directory)
    shutil.rmtree(old, ignore_errors=True)


def read_checkpoint_info(directory: str | os.PathLike) -> CheckpointInfo:
    """Parse and validate ``DIR/overfeat.json``; a clear error for anything malformed."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory not found: {directory}")
    path = directory / INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not an overfeat checkpoint: it has no {INFO_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: malformed JSON ({error})") from None
    try:
        return _info_from_json(data)
    except (KeyError, TypeError, ValueError) as error:
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"{path}: not a valid overfeat checkpoint description: {detail}") from None


def _info_from_json(data: Any) -> CheckpointInfo:
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f'expected a JSON object with "format": "{CHECKPOINT_FORMAT}"')
    version = data["format_version"]
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"format_version must be a positive integer, got {version!r}")
    if version > CHECKPOINT_VERSION:
        raise ValueError(
            f"written in checkpoint format version {version}; this overfeat reads versions up "
            f"to {CHECKPOINT_VERSION}: upgrade overfeat"
        )
    arch = architecture_from_json(data["architecture"])
    if data["arch"] != arch.name:
        raise ValueError(f"arch {data['arch']!r} disagrees with its table's name {arch.name!r}")
    num_classes = data["num_classes"]
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if data["regressor"] not in (None, "shared", "per_class"):
        raise ValueError(f"regressor must be null, shared or per_class, not {data['regressor']!r}")
    lists = {}
    for key in ("class_names", "class_ids"):
        values = data.get(key)
        if values is not None and (
            not isinstance(values, list) or len(values) != num_classes
            or not all(isinstance(v, str) for v in values)
        ):
            raise ValueError(f"{key} must be null or a list of {num_classes} strings")
        lists[key] = None if values is None else tuple(values)
    stats = {}
    for key in ("mean", "std"):
        values = data[key]
        if not isinstance(values, list) or len(values) != 3:
            raise ValueError(f"{key} must be a list of 3 numbers, got {values!r}")
        stats[key] = tuple(float(v) for v in values)
    input_norm = data.get("input_norm", "dataset")
    if input_norm not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {list(INPUT_NORMS)}, got {input_norm!r}")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be a JSON object")
    return CheckpointInfo(
        arch=arch, num_classes=num_classes, regressor=data["regressor"],
        mean=stats["mean"], std=stats["std"], input_norm=input_norm,
        scale_sides=_scale_sides(arch, data.get("scale_sides")),
        class_names=lists["class_names"], class_ids=lists["class_ids"],
        background_class=bool(data.get("background_class", False)),
        dropout=float(data.get("dropout", 0.0)),
        compute_dtype=data.get("compute_dtype"),
        metadata=metadata, format_version=version,
    )


def _scale_sides(arch: Architecture, values: Any) -> tuple[int, ...] | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise ValueError(f"scale_sides must be null or a list of integers, got {values!r}")
    return check_sides(arch, values)


def load_model(directory: str | os.PathLike) -> tuple[OverFeat, CheckpointInfo]:
    """The model saved at ``directory`` by ``save_model``, and its description."""
    directory = Path(directory).absolute()
    info = read_checkpoint_info(directory)
    params = directory / PARAMS_DIR
    if not params.is_dir():
        raise FileNotFoundError(f"{directory} is not a complete checkpoint: no {PARAMS_DIR}/")
    abstract = nnx.eval_shape(info.create_model)
    graphdef, state, rest = nnx.split(abstract, _SAVED_STATE, ...)
    # Restore onto this process's first device whatever the saving job's devices were (a
    # model trained on 8 GPUs must load on a laptop); callers reshard as they need.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
        nnx.to_pure_dict(state),
    )
    checkpointer = ocp.StandardCheckpointer()
    try:
        _check_tree(directory, info, target, checkpointer.metadata(params).item_metadata.tree)
        restored = checkpointer.restore(params, target)
    finally:
        checkpointer.close()
    nnx.replace_by_pure_dict(state, restored)
    model = nnx.merge(graphdef, state, rest)
    for key in ("mean", "std"):
        stored = np.asarray(getattr(model.trunk, key)[...])
        if not np.allclose(stored, getattr(info, key), rtol=1e-6, atol=1e-6):
            raise ValueError(
                f"{directory}: {INFO_FILE} says {key} {list(getattr(info, key))} but the "
                f"parameters hold {stored.tolist()}"
            )
    return model, info


def _check_tree(directory: Path, info: CheckpointInfo, expected: dict, stored: dict) -> None:
    """Raise a short ``ValueError`` listing what differs between the stored tree and the
    model ``overfeat.json`` describes (Orbax's own message dumps the whole tree)."""
    want = {path: tuple(leaf.shape) for path, leaf in _flatten(expected)}
    have = {path: tuple(leaf.shape) for path, leaf in _flatten(stored)}
    problems = [f"missing {path}" for path in sorted(want.keys() - have.keys())]
    problems += [f"unexpected {path}" for path in sorted(have.keys() - want.keys())]
    problems += [
        f"{path} has shape {have[path]}, expected {want[path]}"
        for path in sorted(want.keys() & have.keys())
        if want[path] != have[path]
    ]
    if problems:
        shown = "; ".join(problems[:6])
        if len(problems) > 6:
            shown += f"; and {len(problems) - 6} more"
        raise ValueError(
            f"{directory}: the parameters do not match the model its {INFO_FILE} describes "
            f"({info.arch.name}, {info.num_classes} classes, regressor {info.regressor}): {shown}"
        )


def _flatten(tree: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, path + "/")
        else:
            yield path, value
