"""The lmms-eval bridge: score any in-memory policy on lmms-eval video tasks by name (``--tasks ...,lmms:``).

``evaluate_lmms`` wraps the policy as an ``lmms_eval.api.model.lmms`` object (``lmms_model.PolicyLMM``),
runs ``lmms_eval.evaluator.simple_evaluate`` and returns flat ``{"<task>/<metric>": value}`` floats
(names as in ``lm_eval.flatten_results``); lmms-eval's result JSON goes to ``lmms_eval_results.json``.

Tasks: the offline ones shipped in ``tasks/lmms_data`` (``synpo_vatex``, ``synpo_vdc``; see
``synpo_lmms_data.py``) need only an index of that folder (instant); any other name needs lmms-eval's
own index of about 2,000 tasks (10-50 s), built once per process and only when such a name is asked for.
Importing lmms-eval costs 20-50 s more, also once per process, and only in runs with ``lmms:`` tasks.

Judges: the shipped ``synpo_vdc`` grades with the run's judge (``active_judge``). lmms-eval's own VDC
tasks (``short_test`` .. ``camera_test``) grade through an SGLang server and its ``video_dc499`` (VDD)
through an OpenAI-compatible chat API; ``--judge URL --judge-model NAME`` is passed to both (their
modules' endpoint and model), the endpoint is checked before any training, and the result JSON records
the judge under ``synpo_bench``. Optional dependency: ``pip install -e '.[lmms]'`` (lmms-eval 0.7.3).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import json
import os
from collections.abc import Iterator
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from synpo_bench.api.errors import UserError
from synpo_bench.api.judges import Judge, make_judge
from synpo_bench.api.models import Policy
from synpo_bench.tasks.metrics.lm_eval import _quiet_stderr, flatten_results

if TYPE_CHECKING:
    from lmms_eval.tasks import TaskManager

LMMS_DATA_DIR = Path(__file__).resolve().parents[1] / "lmms_data"
"""The offline lmms-eval tasks shipped with synpo-bench (``tasks/lmms_data``)."""
RESULTS_FILE = "lmms_eval_results.json"
SGLANG_JUDGED = ("short_test", "detailed_test", "background_test", "main_object_test", "camera_test")
CHAT_JUDGED = ("video_dc499",)
INSTALL_HINT = "pip install -e '.[lmms]'"


class LMMSTaskError(ValueError, UserError):
    """An lmms-eval task that cannot run: lmms-eval missing, an unknown name, data or judge unavailable."""


# ------------------------------------------------------------------------------------------ the judge

_judge: Judge | None = None


def active_judge() -> Judge:
    """The judge the shipped ``synpo_vdc`` grades with: the run's, or the exact-fact judge outside a run."""
    return _judge if _judge is not None else make_judge("exact")


@contextlib.contextmanager
def _judging(judge: Judge | None) -> Iterator[None]:
    global _judge
    saved, _judge = _judge, judge
    try:
        yield
    finally:
        _judge = saved


# ---------------------------------------------------------------------------------------- task lookup


def lmms_eval_installed() -> bool:
    return importlib.util.find_spec("lmms_eval") is not None


def require_lmms_eval() -> None:
    """lmms-eval importable, with a filelock its ``simple_evaluate`` works with (3.x)."""
    if not lmms_eval_installed():
        raise LMMSTaskError(f"lmms: tasks need lmms-eval, which is not installed; {INSTALL_HINT}")
    if int(version("filelock").split(".")[0]) >= 4:
        raise LMMSTaskError(
            f"lmms-eval 0.7.3 fails with filelock {version('filelock')}; pip install 'filelock<4' "
            f"(or {INSTALL_HINT})"
        )


@lru_cache(maxsize=2)
def task_manager(include_builtin: bool) -> TaskManager:
    """An index of ``tasks/lmms_data``, plus lmms-eval's own tasks when asked (slow, cached)."""
    # lmms-eval's VDC and VDD task modules read HF_HOME at import; unset, it is the hub's default.
    from huggingface_hub import constants

    os.environ.setdefault("HF_HOME", constants.HF_HOME)
    from lmms_eval.tasks import TaskManager

    return TaskManager(include_path=str(LMMS_DATA_DIR), include_defaults=include_builtin)


def shipped_task_names() -> list[str]:
    return sorted(task_manager(include_builtin=False).all_subtasks)


def _manager_for(task_names: list[str]) -> TaskManager:
    shipped = task_manager(include_builtin=False)
    if all(name in shipped.all_tasks for name in task_names):
        return shipped
    return task_manager(include_builtin=True)


def _check_known(manager: TaskManager, name: str) -> None:
    if name in manager.all_tasks:
        return
    close = difflib.get_close_matches(name, manager.all_tasks, n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise LMMSTaskError(
        f"unknown lmms-eval task '{name}'{hint}; offline tasks: {', '.join(shipped_task_names())}"
    )


def _spec(manager: TaskManager, name: str) -> str | dict[str, Any]:
    """A shipped task with its data files made absolute (``datasets`` resolves them against the working
    directory); any other task by name."""
    config = manager._get_config(name) if name in shipped_task_names() else None
    if not config or "dataset_kwargs" not in config:
        return name
    files = config["dataset_kwargs"]["data_files"]
    absolute = {split: str(LMMS_DATA_DIR / file) for split, file in files.items()}
    return {"task": name, "dataset_kwargs": {**config["dataset_kwargs"], "data_files": absolute}}


def _dataset_of(manager: TaskManager, name: str) -> str:
    entry = manager.task_index.get(name) or {}
    path = entry.get("yaml_path") if isinstance(entry, dict) else None
    config = manager._get_config(name) if path else {}
    return str(config.get("dataset_path") or "its data set")


def _load_error(manager: TaskManager, name: str, error: BaseException) -> LMMSTaskError:
    first_line = next(iter(str(error).strip().splitlines()), "")
    reason = f"{type(error).__name__}: {first_line}"
    if name in SGLANG_JUDGED and isinstance(error, NameError):  # vdc/utils.py uses sglang at import
        return LMMSTaskError(
            f"lmms-eval task '{name}' needs sglang for its judge (pip install sglang) and an SGLang server "
            "given as --judge URL"
        )
    return LMMSTaskError(
        f"lmms-eval task '{name}' cannot run: its data set '{_dataset_of(manager, name)}' is not available "
        f"offline, or the task could not be built ({reason}); fill the Hugging Face cache (HF_HOME) with "
        f"network access, or use an offline task ({', '.join(shipped_task_names())})"
    )


def load_tasks(manager: TaskManager, task_names: list[str]) -> dict[str, Any]:
    """lmms-eval's task dict for the names (data sets loaded); any failure is an ``LMMSTaskError``."""
    from lmms_eval.tasks import get_task_dict

    built: dict[str, Any] = {}
    for name in task_names:
        _check_known(manager, name)
        try:
            built.update(get_task_dict([_spec(manager, name)], manager))
        except (Exception, SystemExit) as error:  # task modules call sys.exit on missing videos
            raise _load_error(manager, name, error) from None
    return built


def _check_judge(task_names: list[str], judge: str, judge_model: str | None) -> None:
    judged = [name for name in task_names if name in SGLANG_JUDGED + CHAT_JUDGED]
    if not judged:
        return
    if not judge.lower().startswith(("http://", "https://")):
        raise LMMSTaskError(
            f"lmms-eval task '{judged[0]}' grades with an LLM judge; give its endpoint: --judge URL "
            "--judge-model NAME (an SGLang or OpenAI-compatible server)"
        )
    try:
        httpx.get(f"{judge.rstrip('/')}/models", timeout=5.0)
    except httpx.HTTPError as error:
        raise LMMSTaskError(
            f"--judge {judge}: the judge endpoint of lmms-eval task '{judged[0]}' does not answer "
            f"({type(error).__name__})"
        ) from None


def check_lmms_tasks(task_names: list[str], judge: str = "exact", judge_model: str | None = None) -> None:
    """Fail fast, before any training: lmms-eval installed, every name known, its data and judge there."""
    require_lmms_eval()
    _check_judge(task_names, judge, judge_model)
    with _quiet_stderr():
        manager = _manager_for(task_names)
        load_tasks(manager, task_names)


# ------------------------------------------------------------------------------------------ evaluation


def _point_judges(tasks: list[Any], judge: str, judge_model: str | None) -> None:
    """lmms-eval's VDC and VDD modules hold their endpoint in module globals: aim them at ``--judge``."""
    base = judge.rstrip("/")
    for task in tasks:
        process = getattr(task.config, "process_results", None)
        names = getattr(process, "__globals__", None)
        if names is None:
            continue
        if "RuntimeEndpoint" in names and "llmms_eval" in names:  # lmms-eval's vdc/utils.py (SGLang)
            endpoint = names["RuntimeEndpoint"]
            root = base.removesuffix("/v1")
            names["RuntimeEndpoint"] = lambda _url, endpoint=endpoint, root=root: endpoint(root)
        if "API_URL" in names and "GPT_EVAL_MODEL_NAME" in names:  # video_detail_description/utils.py
            names["API_URL"] = f"{base}/chat/completions"
            names["GPT_EVAL_MODEL_NAME"] = judge_model or names["GPT_EVAL_MODEL_NAME"]


def _leaf_tasks(tasks: dict[str, Any]) -> Iterator[Any]:
    for value in tasks.values():
        if isinstance(value, dict):
            yield from _leaf_tasks(value)
        else:
            yield value


def evaluate_lmms(
    policy: Policy,
    task_names: list[str],
    *,
    frames: int,
    frame_size: int,
    judge: Judge | None = None,
    judge_spec: tuple[str, str | None] = ("exact", None),
    out_dir: Path | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    quiet: bool = False,
) -> dict[str, float]:
    """Score ``policy`` on lmms-eval tasks by name; returns ``{"<task>/<metric>": value}``.

    Videos are decoded to ``frames`` x ``frame_size``; ``judge`` grades the shipped ``synpo_vdc``,
    ``judge_spec`` (``--judge``, ``--judge-model``) is passed to lmms-eval's judged tasks. With ``out_dir``,
    lmms-eval's result JSON goes to ``out_dir/lmms_eval_results.json``.
    """
    require_lmms_eval()
    with _quiet_stderr() if quiet else contextlib.nullcontext(), _judging(judge):
        from lmms_eval import evaluator

        from synpo_bench.tasks.metrics.lmms_model import PolicyLMM

        manager = _manager_for(task_names)
        # Built here and handed over as objects: their judged modules are the ones aimed at --judge.
        tasks = list(_leaf_tasks(load_tasks(manager, task_names)))
        if judge_spec[0].lower().startswith(("http://", "https://")):
            _point_judges(tasks, *judge_spec)
        results = evaluator.simple_evaluate(
            model=PolicyLMM(policy, frames=frames, frame_size=frame_size, batch_size=batch_size),
            tasks=tasks,
            task_manager=manager,
            limit=limit,
            batch_size=batch_size,
            device=device,
            bootstrap_iters=0,
            log_samples=False,
        )
    if results is None:
        raise RuntimeError("lmms-eval returned no results (not the main process)")
    results = {**results, "synpo_bench": {"judge": judge_spec[0], "judge_model": judge_spec[1]}}
    if out_dir is not None:
        _write_results(results, Path(out_dir))
    return flatten_results(results)


def _write_results(results: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
    return path
