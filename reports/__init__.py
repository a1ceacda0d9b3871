"""Reports over a results folder: reading, statistics over seeds, summaries, tables and the gate.

reading.load_results(path)       -> results.Results: one row per cell, per-step curves, warnings
statistics.t_interval(values)    -> mean ± 95% Student t-interval over seeds
summaries.quality_summary(...)   -> per (task, loss, metric) over seeds; cost_summary, status_summary
items.read_item_scores(path)     -> one model's per-example scores (item_scores.jsonl)
paired.paired_comparisons(...)   -> each loss vs the baseline loss and the start, paired bootstrap, verdicts
report.build_report(results)     -> Report: what every output format draws
grids.headline_grid / ...        -> formatted cells (numbers via numbers.py, the one number formatter)
layout.report_grids(report)      -> every table in reading order, none wider than 140 columns
render.render(report, format)    -> table, markdown, csv, json (also a baseline); html_page: HTML + plots
run_summary.run_summary(...)     -> the end-of-run tables `synpo-bench run` prints
baseline.compare(...)            -> the regressions of a results folder against a baseline JSON
cli.report_command / cli.check_command: the ``report`` and ``check`` commands
"""
