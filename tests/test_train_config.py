"""Config files, variants and --config.KEY=VALUE overrides (no training here)."""

import pathlib

import pytest

from overfeat import cli
from overfeat.train import config as config_lib

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def write(tmp_path, text, name="exp.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "spec", ["fast.py", "fast.py:bf16", "accurate.py", "accurate.py:bf16", "accurate.py:localize"]
)
def test_shipped_configs_load_and_validate(spec):
    config = config_lib.load_config(str(CONFIGS / spec))
    assert config.task in config_lib.TASKS
    # Section 3.1's schedule is the default of the ImageNet classifiers.
    if spec.startswith(("fast.py", "accurate.py")) and "localize" not in spec:
        assert config.optimizer.momentum == 0.6
        assert config.optimizer.weight_decay == 1e-5
        assert config.optimizer.learning_rate == 5e-2
        assert tuple(config.optimizer.decay_epochs) == (30, 50, 60, 70, 80)
        assert config.optimizer.decay_factor == 0.5
        assert config.batch_size == 128 and config.model.init_std == 0.01
        assert config.model.dropout == 0.5


def test_overrides_are_typed_and_nested():
    config = config_lib.load_config(
        str(CONFIGS / "fast.py"),
        [
            "--config.batch_size=64",
            "--config.optimizer.learning_rate",
            "1",
            "--config.regressor.scales=(87, 111)",
            "--config.export=False",
            "--config.model.dtype=bfloat16",
            "--config.regressor.scales=99",
        ],
    )
    assert config.batch_size == 64 and isinstance(config.batch_size, int)
    assert config.optimizer.learning_rate == 1.0 and isinstance(
        config.optimizer.learning_rate, float
    )
    assert config.export is False
    assert config.model.dtype == "bfloat16"
    assert tuple(config.regressor.scales) == (
        99,
    )  # the last override wins; a scalar becomes a tuple


@pytest.mark.parametrize(
    "override, message",
    [
        ("--config.optimizer.learning_rat=0.1", "did you mean 'optimizer.learning_rate'"),
        ("--config.nope=1", "unknown config key 'nope'"),
        ("--config.batch_size=abc", "expected a value like 128"),
        ("--config.batch_size=1.5", "expected an integer"),
        ("--config.export=1", "expected True or False"),
        ("--config.optimizer=3", "is a group"),
        ("--config.batch_size", "no value"),
        ("--config.task=segment", "config.task='segment': must be one of"),
        ("--config.batch_size=0", "config.batch_size=0: must be positive"),
        ("--lr=3", "unrecognized argument '--lr=3'"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_lib.load_config(str(CONFIGS / "fast.py"), [override])


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        config_lib.load_config(str(tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="must be a Python file"):
        config_lib.load_config(write(tmp_path, "", "exp.yaml"))
    with pytest.raises(ValueError, match="SyntaxError"):
        config_lib.load_config(write(tmp_path, "def get_config(:\n"))
    with pytest.raises(ValueError, match="defines no get_config"):
        config_lib.load_config(write(tmp_path, "x = 1\n"))
    with pytest.raises(ValueError, match="returned dict"):
        config_lib.load_config(write(tmp_path, "def get_config(arg=None):\n    return {}\n"))
    typo = (
        "from overfeat.train.config import base_config\n"
        "def get_config(arg=None):\n    c = base_config()\n    c.optimizer.momentun = 0.9\n"
        "    return c\n"
    )
    with pytest.raises(
        ValueError, match="unknown config key 'optimizer.momentun'.*'optimizer.momentum'"
    ):
        config_lib.load_config(write(tmp_path, typo))
    variant = (
        "from overfeat.train.config import base_config\n"
        "def get_config(arg=None):\n    c = base_config()\n    c.arch = arg\n    return c\n"
    )
    assert config_lib.load_config(write(tmp_path, variant) + ":fast_small").arch == "fast_small"
    with pytest.raises(ValueError, match="config.arch='huge'"):
        config_lib.load_config(write(tmp_path, variant) + ":huge")


def test_localize_needs_a_regressor_and_a_trunk():
    with pytest.raises(ValueError, match="model.regressor"):
        config_lib.load_config(str(CONFIGS / "accurate.py:localize"), ["--config.model.regressor="])
    with pytest.raises(ValueError, match="model.init_from"):
        config_lib.load_config(str(CONFIGS / "accurate.py:localize"), ["--config.model.init_from="])


def test_cli_reports_config_errors_in_one_line(capsys, tmp_path):
    status = cli.main(
        [
            "train",
            "--config",
            str(CONFIGS / "fast.py"),
            "--workdir",
            str(tmp_path),
            "--config.optimizer.momentun=0.9",
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "overfeat train: error: unknown config key 'optimizer.momentun' "
        "(did you mean 'optimizer.momentum'?)"
    ]
    assert not any(tmp_path.iterdir())  # nothing started


def test_other_commands_still_reject_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["info", "--config.batch_size=3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --config.batch_size=3" in capsys.readouterr().err
