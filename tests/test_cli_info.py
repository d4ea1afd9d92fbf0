"""``overfeat info``."""

import json
import subprocess
import sys

import pytest

from overfeat import cli


def test_info_json_for_table5_sizes(capsys):
    code = cli.main(["info", "--arch", "accurate", "--json", "--size", "245", "--size", "425x497"])
    assert code == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["param_count"] == 144_656_488
    assert (facts["stride"], facts["fine_stride"], facts["field_of_view"]) == (36, 12, 221)
    assert facts["sizes"] == [
        {"input": [245, 245], "layer5": [17, 17], "coarse": [1, 1], "fine": [3, 3]},
        {"input": [425, 497], "layer5": [32, 38], "coarse": [6, 8], "fine": [18, 24]},
    ]


def test_info_text_lists_both_nets(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "145,920,872" in out and "144,656,488" in out


def test_info_rejects_a_malformed_size(capsys):
    with pytest.raises(SystemExit):
        cli.main(["info", "--size", "12by4"])
    assert "size must look like" in capsys.readouterr().err


def test_a_reader_that_goes_away_stops_the_command_quietly():
    """`overfeat info ... | head -1`: a closed pipe ends the command with SIGPIPE's status
    (141) and no traceback."""
    sizes = ["--size", "300x300"] * 8000  # ~400 KB of output: more than a pipe buffers
    with subprocess.Popen(
        [sys.executable, "-m", "overfeat.cli", "info", "--arch", "fast", *sizes],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:
        first = process.stdout.read(100)
        process.stdout.close()
        stderr = process.stderr.read().decode()
        status = process.wait(timeout=120)
    assert first.startswith(b"fast: "), stderr
    assert status == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
