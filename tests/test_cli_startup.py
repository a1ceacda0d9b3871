"""The commands that read results start without torch (about a second, where torch and transformers take
five): `--help`, `run --help`, `list tasks`, and the modules `report`, `check`, `status` and `baseline`
run on. Checked in a fresh interpreter, where nothing else has imported torch yet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "accelerate", "lm_eval")

PROBE = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from synpo_bench.cli import app
    import synpo_bench.reports.baseline, synpo_bench.reports.noise, synpo_bench.reports.reading
    import synpo_bench.reports.render, synpo_bench.reports.report, synpo_bench.run.status
    commands = (["--help"], ["run", "--help"], ["list", "tasks"])
    codes = [CliRunner().invoke(app, args).exit_code for args in commands]
    print(json.dumps({"codes": codes, "loaded": [m for m in HEAVY if m in sys.modules]}))
    """
)


def test_reading_commands_import_no_torch() -> None:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["codes"] == [0, 0, 0]
    assert found["loaded"] == []
