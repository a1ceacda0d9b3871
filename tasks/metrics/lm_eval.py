"""The lm-eval bridge: score an in-memory causal LM on lm-eval tasks by name.

``evaluate_lm`` wraps a ``transformers`` causal LM and its tokenizer as lm-eval's ``HFLM``, finds the
tasks through a ``TaskManager`` that also indexes the offline tasks shipped in ``tasks/nlp_data``
(``synpo_mc``: four-choice log-likelihood; ``synpo_gen``: short answers by greedy generation and exact
match; see ``tasks/nlp_data/synpo_nlp_data.py``), runs ``lm_eval.simple_evaluate`` and returns flat
``{"<task>/<metric>": value}`` floats.

Names: a metric reported under lm-eval's default filter ("acc,none") is ``<task>/acc``; under another
filter ("exact_match,strict-match") it keeps the filter: ``<task>/exact_match,strict-match``. Group
rows (e.g. ``mmlu``) appear beside their tasks' rows. Standard errors are not computed
(``bootstrap_iters=0``): the harness takes its spread from seeds.

Cost: indexing lm-eval's ~15k built-in task configs takes about 10 s, so requests that name only the
shipped tasks use an index of ``tasks/nlp_data`` alone; the full index is built once per process, the
first time a built-in task is asked for.

lm-eval is imported where it is used: its task index and its HF model wrapper take 1-2.5 s to import,
which a run without lm-eval tasks (and the settings check that imports ``check_lm_tasks``) need not pay.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synpo_bench.api.errors import UserError

if TYPE_CHECKING:
    from lm_eval.api.group import Group
    from lm_eval.api.task import Task
    from lm_eval.tasks import TaskManager
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

NLP_DATA_DIR = Path(__file__).resolve().parents[1] / "nlp_data"
"""The offline lm-eval tasks shipped with synpo-bench (``tasks/nlp_data``)."""
RESULTS_FILE = "lm_eval_results.json"


class NLPTaskError(ValueError, UserError):
    """An lm-eval task that cannot be run: an unknown name, or a data set that is not available offline."""


# ----------------------------------------------------------------------------------------- task lookup


@lru_cache(maxsize=2)
def task_manager(include_builtin: bool) -> TaskManager:
    """An lm-eval task index over ``tasks/nlp_data``, plus lm-eval's own tasks when asked (slow, cached)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(NLP_DATA_DIR), include_defaults=include_builtin)


def shipped_task_names() -> list[str]:
    """The offline tasks shipped in ``tasks/nlp_data`` (the tag ``synpo_offline`` runs them all)."""
    return task_manager(include_builtin=False).all_subtasks


def _is_task_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) and Path(name).is_file()


def _manager_for(task_names: list[str]) -> TaskManager:
    shipped = task_manager(include_builtin=False)
    if all(name in shipped.all_tasks or _is_task_yaml(name) for name in task_names):
        return shipped
    return task_manager(include_builtin=True)


def _check_known(manager: TaskManager, task_names: list[str]) -> None:
    for name in task_names:
        if name in manager.all_tasks or _is_task_yaml(name):
            continue
        close = difflib.get_close_matches(name, manager.all_tasks, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise NLPTaskError(
            f"unknown lm-eval task '{name}'{hint}; see `synpo-bench list tasks` for the tasks available "
            f"(offline: {', '.join(shipped_task_names())})"
        )


def _dataset_of(manager: TaskManager, name: str) -> str | None:
    entry = manager.task_index.get(name)
    config = (entry.cfg if entry else None) or {}
    path, subset = config.get("dataset_path"), config.get("dataset_name")
    if not path:
        return None
    return f"{path} ({subset})" if subset else str(path)


def _load_error(manager: TaskManager, name: str, error: Exception) -> NLPTaskError:
    """One line naming the task and what stopped it, instead of lm-eval's / datasets' traceback."""
    first_line = next(iter(str(error).strip().splitlines()), "")
    reason = f"{type(error).__name__}: {first_line}"
    if isinstance(error, OSError):  # ConnectionError, FileNotFoundError, HTTP errors: the data set
        dataset = _dataset_of(manager, name)
        what = f"its data set '{dataset}'" if dataset else "its data set"
        return NLPTaskError(
            f"lm-eval task '{name}' cannot run: {what} is not available offline ({reason}); run once with "
            f"network access to fill the Hugging Face cache, or use an offline task "
            f"({', '.join(shipped_task_names())})"
        )
    return NLPTaskError(f"lm-eval task '{name}' could not be built ({reason})")


def _top_level(loaded: dict[str, Any]) -> list[Task | Group]:
    """The objects one spec built: its group (holding the rest), or its task(s) for a task or a tag."""
    groups = loaded.get("groups") or {}
    if not groups:
        return list(loaded["tasks"].values())
    nested = {id(sub) for group in groups.values() for sub in group.get_all_groups()}
    return [group for group in groups.values() if id(group) not in nested]


def load_lm_tasks(manager: TaskManager, task_names: list[str]) -> list[Task | Group]:
    """Build each named task (and load its data set), turning any failure into an ``NLPTaskError``."""
    _check_known(manager, task_names)
    built: list[Task | Group] = []
    for name in task_names:
        try:
            loaded = manager.load([name])
        except Exception as error:  # any failure to build a task is about the task, not the model
            raise _load_error(manager, name, error) from None
        built += _top_level(loaded)
    return built


def check_lm_tasks(task_names: list[str]) -> None:
    """Fail fast, before any training: every name is known and its data set loads offline."""
    with _quiet_stderr():
        load_lm_tasks(_manager_for(task_names), task_names)


# ------------------------------------------------------------------------------------------ evaluation


def flatten_results(results: dict[str, Any]) -> dict[str, float]:
    """``{"<task>/<metric>": value}`` from lm-eval's (or lmms-eval's) ``results["results"]``, without
    standard errors (lm-eval's ``<metric>_stderr``, lmms-eval's ``<metric>_stderr_clt`` too)."""
    flat: dict[str, float] = {}
    for task, metrics in results["results"].items():
        for key, value in metrics.items():
            metric, _, filter_name = key.partition(",")
            if not filter_name or "_stderr" in metric:
                continue  # "alias" and the like; standard errors
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = metric if filter_name == "none" else f"{metric},{filter_name}"
            flat[f"{task}/{name}"] = float(value)
    return flat


def write_results(results: dict[str, Any], out_dir: Path) -> Path:
    """lm-eval's result JSON as its own CLI writes it, atomically (temp file, then rename)."""
    from lm_eval.utils import handle_non_serializable

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(
        json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False), encoding="utf-8"
    )
    os.replace(temporary, path)
    return path


def evaluate_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task_names: list[str],
    *,
    out_dir: Path | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    quiet: bool = False,
) -> dict[str, float]:
    """Score ``model`` on lm-eval tasks by name; returns ``{"<task>/<metric>": value}``.

    ``limit`` caps the documents per task (lm-eval's ``--limit``, for smoke runs). The model is moved
    to ``device`` for the evaluation and left where, and in the train/eval mode, it was found. With
    ``out_dir``, lm-eval's own result JSON is written to ``out_dir/lm_eval_results.json``. Raises
    ``NLPTaskError`` for an unknown task or one whose data set is not available offline. ``quiet`` hides
    lm-eval's own progress bars and log lines (the caller shows progress).
    """
    if not task_names:
        raise NLPTaskError("no lm-eval task named; see `synpo-bench list tasks`")
    with _quiet_stderr() if quiet else contextlib.nullcontext():
        manager = _manager_for(task_names)
        tasks = load_lm_tasks(manager, task_names)
        results = _simple_evaluate(model, tokenizer, tasks, manager, limit, batch_size, device)
    if results is None:  # only non-zero ranks of a distributed run get None
        raise RuntimeError("lm-eval returned no results (not the main process)")
    if out_dir is not None:
        write_results(dict(results), Path(out_dir))
    return flatten_results(dict(results))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: lm-eval's tqdm bars, its loggers' handlers (bound to the
    original stream at import) and the ``git describe`` it runs in a subprocess all write there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _simple_evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: list[Task | Group],
    manager: TaskManager,
    limit: int | None,
    batch_size: int,
    device: str,
) -> dict[str, Any] | None:
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    original_device, was_training = model.device, model.training
    try:
        model.to(device)
        # HFLM takes the model as given (its device and dtype); it puts the model in eval mode.
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=manager,
            limit=limit,
            batch_size=batch_size,  # recorded in the result JSON (HFLM already has it)
            device=device,
            bootstrap_iters=0,
            log_samples=False,
        )
    finally:
        model.to(original_device)
        model.train(was_training)
    return results
