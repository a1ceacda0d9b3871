"""``synpo-bench baseline``: a noise baseline for ``check`` from several runs of the gate's configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synpo_bench.api.errors import UserError
from synpo_bench.api.io import write_text_atomic
from synpo_bench.cli.errors import console, user_errors
from synpo_bench.reports.noise import DEFAULT_BAND, noise_baseline
from synpo_bench.reports.reading import load_results


def baseline_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders of one configuration, repeated: several seeds (--seeds 0,1,2) and, where you "
            "can, other thread counts (OMP_NUM_THREADS=1) or machines."
        ),
    ],
    out: Annotated[Path, typer.Option(help="The baseline file to write (JSON).")],
    band: Annotated[
        float, typer.Option(help="Standard deviations of measured noise a gated metric may fall by.")
    ] = DEFAULT_BAND,
) -> None:
    """Write a noise baseline: each metric's mean over every cell of the runs and its measured noise (the
    pooled within-loss standard deviation), for `synpo-bench check --baseline`."""
    with user_errors():
        if not band > 0:
            raise UserError(f"--band {band}: must be a number > 0")
        results = [load_results(run) for run in runs]
        payload = noise_baseline(results, band)
        write_text_atomic(out, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    cells = sum(n for losses in payload["cells"].values() for n in losses.values())  # type: ignore[union-attr]
    console.print(f"wrote {out}: {cells} cells of {len(runs)} run(s), band {band:g} sd", soft_wrap=True)
