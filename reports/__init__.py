"""Reports over a results folder: aggregation (pandas), tables, plots and the baseline regression gate.

aggregate.load_results(path)   -> Results: one row per cell, per-step curves, warnings
aggregate.quality_summary(...)  -> mean ± 95% Student t-interval over seeds per (task, loss, metric)
tables.build_report(results)    -> Report, rendered as a rich table, markdown, CSV, JSON or HTML
baseline.compare(...)           -> the regressions of a results folder against a baseline JSON
cli.report_command / cli.check_command: the ``report`` and ``check`` commands
"""
