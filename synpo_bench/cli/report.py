"""``synpo-bench report`` (tables in every format) and ``synpo-bench check`` (the regression gate).

A user mistake (a missing folder, a corrupt baseline, an unknown format) is one red line on stderr and
exit status 2, never a traceback. ``check`` exits 1 when any metric regressed, naming each one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synpo_bench.api.errors import UserError
from synpo_bench.api.io import write_text_atomic
from synpo_bench.cli.errors import console, errors, styled_line, user_errors
from synpo_bench.reports.baseline import DEFAULT_TOLERANCE, GateResult, check_results
from synpo_bench.reports.reading import load_results
from synpo_bench.reports.render import FORMATS, render, render_rich
from synpo_bench.reports.report import Report, build_report
from synpo_bench.reports.results import REFERENCE_LOSS, Results

MAX_WARNINGS_SHOWN = 20
BUNDLE_FORMATS = {"markdown": "report.md", "csv": "report.csv", "json": "report.json", "html": "report.html"}


def report_command(
    results_dir: Annotated[
        Path,
        typer.Argument(help="A results folder (its most recently active run is reported) or one run folder."),
    ] = Path("results"),
    output_format: Annotated[
        str, typer.Option("--format", help="table (terminal), markdown, csv, json (also a baseline) or html.")
    ] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file.")] = None,
    save: Annotated[
        bool,
        typer.Option(
            help="With the table format, also write report.md/.csv/.json/.html into the run folder."
        ),
    ] = True,
    baseline_loss: Annotated[
        str,
        typer.Option(
            "--baseline-loss",
            help="The loss every other is compared with, item by item (paired 95% interval and verdict).",
        ),
    ] = REFERENCE_LOSS,
) -> None:
    """Quality per task and loss (mean ± 95% CI over seeds) beside cost (time/step, tokens/s, memory)."""
    with user_errors():
        if output_format not in FORMATS:
            raise UserError(f"--format '{output_format}': choose one of {', '.join(FORMATS)}")
        results = load_results(results_dir)
        _check_baseline_loss(baseline_loss, results)
        report = build_report(results, baseline_loss)
        if out is not None:
            _write(out, render(report, output_format))
            errors.print(f"wrote {out}", markup=False, highlight=False, soft_wrap=True)
        elif output_format == "table":
            console.print(render_rich(report))
        else:
            typer.echo(render(report, output_format), nl=False)
        if output_format == "table" and save:
            _save_bundle(report)
        _print_warnings(report.warnings)  # last, where a long table cannot scroll them away


def _check_baseline_loss(name: str, results: Results) -> None:
    losses = sorted(set(results.cells["loss"]))
    if name not in losses:
        raise UserError(
            f"--baseline-loss '{name}': no cell of this loss in the run (losses: {', '.join(losses)})"
        )


def _save_bundle(report: Report) -> None:
    """The report's other formats beside the terminal table; a read-only results folder only warns."""
    written = []
    for output_format, name in BUNDLE_FORMATS.items():
        path = report.run_dir / name
        try:
            write_text_atomic(path, render(report, output_format))
        except OSError as error:
            message = f"could not write {path}: {error.strerror or error}"
            errors.print(styled_line("warning: ", "yellow", message), soft_wrap=True)
            continue
        written.append(name)
    if written:
        message = f"wrote {', '.join(written)} in {report.run_dir}"
        errors.print(message, markup=False, highlight=False, soft_wrap=True)


def _write(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        raise UserError(f"--out {path}: folder '{path.parent}' does not exist")
    try:
        write_text_atomic(path, text)
    except OSError as error:
        raise UserError(f"--out {path}: cannot write ({error.strerror or error})") from None


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings[:MAX_WARNINGS_SHOWN]:
        errors.print(styled_line("warning: ", "yellow", warning), soft_wrap=True)
    if len(warnings) > MAX_WARNINGS_SHOWN:
        errors.print(
            f"[yellow]warning:[/] ... and {len(warnings) - MAX_WARNINGS_SHOWN} more (all listed in the "
            "markdown, JSON and HTML reports)",
            soft_wrap=True,
        )


def check_command(
    baseline: Annotated[
        Path,
        typer.Option(
            "--baseline",
            help="Baseline JSON (from `report --format json`): {tasks: {task: {loss: {metric: x}}}}.",
        ),
    ],
    results_dir: Annotated[
        Path,
        typer.Argument(help="A results folder (its most recently active run is checked) or one run folder."),
    ] = Path("results"),
    tolerance: Annotated[
        float,
        typer.Option(
            help="Allowed fall before a metric counts as regressed: a fraction of the baseline value "
            "(--relative, the default) or the metric's own units (--absolute)."
        ),
    ] = DEFAULT_TOLERANCE,
    absolute: Annotated[
        bool,
        typer.Option("--absolute/--relative", help="Read --tolerance in the metric's own units instead."),
    ] = False,
    band: Annotated[
        float | None,
        typer.Option(
            help="With a noise baseline (`synpo-bench baseline`): standard deviations of a metric's "
            "measured noise it may fall by (default: the baseline's, 3)."
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Let a loss of the baseline without a result (its cell failed, is corrupt or was not "
            "run) pass with a warning instead of failing the gate.",
        ),
    ] = False,
) -> None:
    """Exit 1 naming every quality metric that fell below the baseline by more than the tolerance, and
    every loss of the baseline whose cells failed or are missing (unless --allow-missing)."""
    with user_errors():
        if not tolerance >= 0:
            raise UserError(f"--tolerance {tolerance}: must be a number >= 0")
        if band is not None and not band > 0:
            raise UserError(f"--band {band}: must be a number > 0")
        gate, results = check_results(
            results_dir, baseline, tolerance, "absolute" if absolute else "relative", allow_missing, band
        )
        _print_warnings(gate.warnings)
    summary = f"checked {gate.compared} metric(s) of run {results.run_id} against {baseline}: {gate.rule()}"
    console.print(summary, markup=False, highlight=False, soft_wrap=True)
    _print_verdict(gate)
    if not gate.passed:
        raise typer.Exit(1)


def _print_verdict(gate: GateResult) -> None:
    for outlier in gate.reported:
        console.print(
            styled_line("beyond its band (not gated): ", "yellow", outlier.describe()), soft_wrap=True
        )
    if gate.passed:
        console.print("[green]no regression[/]", soft_wrap=True)
        return
    for regression in gate.regressions:
        console.print(styled_line("regressed: ", "bold red", regression.describe()), soft_wrap=True)
    for missing in gate.missing:
        console.print(styled_line("missing: ", "bold red", missing), soft_wrap=True)
    counts = [f"{len(gate.regressions)} metric(s) regressed"] if gate.regressions else []
    if gate.missing:
        counts.append(f"{len(gate.missing)} loss(es) of the baseline with a failed or missing cell")
    console.print(f"[red]{', '.join(counts)}[/]", soft_wrap=True)
