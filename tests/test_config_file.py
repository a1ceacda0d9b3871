"""``synpo-bench run --config FILE``: options from TOML or YAML, flags over the file, a replayable
``config.toml`` in every run folder, and one line (exit 2, nothing written) for a bad key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synpo_bench.cli import app
from synpo_bench.cli.config_file import tomllib
from tests.test_end_to_end import cli

runner = CliRunner()
TEXT_RUN = """\
tasks = "textpref"
losses = ["dpo", "synpo"]
budget = "steps=2"
size = "tiny"
warm-start-steps = 20
batch_size = 8
"""


def _bad(tmp_path: Path, text: str, suffix: str = ".toml") -> tuple[Path, Path, object]:
    config = tmp_path / f"run{suffix}"
    config.write_text(text)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(out)])
    return config, out, result


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("batch_sise = 8\n", "batch_sise"),  # no such option
        ("config = 'other.toml'\n", "config"),  # a file naming another is no option either
        ('batch-size = "8"\n', "batch-size"),  # an integer option given text
        ('lora = "yes"\n', "lora"),  # a flag given text
        ("lr = true\n", "lr"),  # a number option given a boolean
        ("losses = 3\n", "losses"),  # a list option given a number
        ("tune = [1, 2]\n", "tune"),  # a repeatable option given numbers
        ("out = 5\n", "out"),  # a path given a number
    ],
)
def test_a_bad_key_is_one_line_naming_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    config, out, result = _bad(tmp_path, text)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert f"'{key}'" in lines[0] and str(config) in lines[0]
    assert not out.exists()  # nothing written


def test_yaml_is_read_too(tmp_path: Path) -> None:
    _, out, result = _bad(tmp_path, "losses: [dpo]\nbatch-size: eight\n", suffix=".yaml")
    assert result.exit_code == 2 and "'batch-size' must be an integer" in result.output, result.output
    assert not out.exists()


def test_a_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    config, out, result = _bad(tmp_path, "losses = [dpo\n")
    assert result.exit_code == 2 and str(config) in result.output and "not valid TOML" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A tiny textpref run from a file, with --losses on the command line overriding the file's."""
    root = tmp_path_factory.mktemp("config_run")
    (root / "run.toml").write_text(TEXT_RUN)
    out, cache = root / "out", root / "cache"
    completed = cli(
        "run", "--config", str(root / "run.toml"), "--losses", "synpo", "--out", str(out), cache=cache
    )
    return out, cache, completed


def test_the_file_sets_options_and_flags_override_it(
    text_run: tuple[Path, Path, subprocess.CompletedProcess],
) -> None:
    out, _, completed = text_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run_dir,) = out.iterdir()
    assert sorted(path.name for path in (run_dir / "textpref").iterdir() if path.is_dir()) == ["synpo"]
    manifest = json.loads((run_dir / "textpref" / "synpo" / "seed0" / "manifest.json").read_text())
    assert manifest["budget"] == {"kind": "steps", "value": 2}  # from the file
    assert manifest["config"]["train"]["batch_size"] == 8  # `batch_size` spelled with an underscore
    assert manifest["config"]["size"] == "tiny"


def test_the_run_folder_holds_its_resolved_options(
    text_run: tuple[Path, Path, subprocess.CompletedProcess],
) -> None:
    out, cache, _ = text_run
    (run_dir,) = out.iterdir()
    resolved = tomllib.loads((run_dir / "config.toml").read_text())
    assert resolved["losses"] == "synpo"  # the flag, not the file
    assert resolved["budget"] == "steps=2" and resolved["batch-size"] == 8 and resolved["size"] == "tiny"
    assert resolved["warm-start-steps"] == 20 and resolved["lr"] == 3e-5  # defaults are written too
    assert resolved["cache-dir"] == str(cache) and resolved["out"] == str(out)
    assert "shard" not in resolved and "rerun" not in resolved and "config" not in resolved


def test_replaying_the_resolved_file_resumes_the_same_run(
    text_run: tuple[Path, Path, subprocess.CompletedProcess],
) -> None:
    out, _, _ = text_run
    (run_dir,) = out.iterdir()
    result = run_dir / "textpref" / "synpo" / "seed0" / "result.json"
    before = result.stat().st_mtime_ns
    replay = cli("run", "--config", str(run_dir / "config.toml"))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert [path.name for path in out.iterdir()] == [run_dir.name]  # the same run id
    assert f"results: {run_dir}" in " ".join(replay.stdout.split())
    assert result.stat().st_mtime_ns == before  # the finished cell was skipped, not trained again
