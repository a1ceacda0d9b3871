"""Option text -> settings: comma lists, task lists with lm-eval names, seeds, hyper-parameters.

Only the shape of the text is checked here (the option is named in the message); whether a well-formed
setting can work is ``synpo_bench.validation``'s job.
"""

from __future__ import annotations

from synpo_bench.api.errors import UserError
from synpo_bench.config import LMMS_PREFIX, NLP_PREFIX


def split_names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"{option} needs at least one name")
    return names


_SCORED_BY = {
    NLP_PREFIX: ("lm-eval", "nlp:synpo_mc,synpo_gen"),
    LMMS_PREFIX: ("lmms-eval", "lmms:synpo_vatex,synpo_vdc"),
}


def split_tasks(text: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``vdc,vatex,nlp:arc_easy,hellaswag,lmms:synpo_vatex`` -> training tasks, lm-eval tasks, lmms-eval
    tasks: a name with ``nlp:`` or ``lmms:`` starts a list of that kind, which runs to the next prefix;
    lm-eval tasks score each trained policy's language, lmms-eval tasks the whole policy on videos."""
    names = split_names(text, "--tasks")
    lists: dict[str, list[str]] = {"": [], NLP_PREFIX: [], LMMS_PREFIX: []}
    kind = ""
    for name in names:
        kind = next((prefix for prefix in (NLP_PREFIX, LMMS_PREFIX) if name.startswith(prefix)), kind)
        bare = name.removeprefix(kind).strip() if name.startswith(kind) else name
        if kind and not bare:
            library, example = _SCORED_BY[kind]
            raise UserError(f"--tasks: '{kind}' must be followed by {library} task names, e.g. {example}")
        lists[kind].append(bare)
    training, nlp, lmms = (tuple(dict.fromkeys(lists[k])) for k in ("", NLP_PREFIX, LMMS_PREFIX))
    if not training:
        raise UserError(
            f"--tasks: {names[0].partition(':')[0]}: tasks score the policies trained on a video task; add "
            f"one, e.g. --tasks vdc,{','.join(names)}, or train on text alone with --tasks textpref"
        )
    return training, nlp, lmms


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise UserError(f"--seeds '{text}' must be comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise UserError("--seeds needs at least one seed")
    return seeds


def parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    params: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        loss, dot, name = _param_key(key)
        value = _number(raw)
        if not sep or not dot or value is None:
            raise UserError(f"--param '{item}' must look like LOSS.NAME=NUMBER, e.g. synpo.alpha=20")
        params.setdefault(loss, {})[name] = value
    return params


def parse_tune(items: list[str]) -> dict[str, tuple[float, ...]]:
    """``["lr=1e-5,3e-5", "dpo.beta=0.05,0.1"]`` -> ``{"lr": (1e-05, 3e-05), "dpo.beta": (0.05, 0.1)}``.

    Keys are kept as written (``LOSS.PARAM`` the way ``--param`` reads it) and values in their order, an
    empty list or a repeated value included: whether they can be tuned is ``validation``'s to say."""
    tune: dict[str, tuple[float, ...]] = {}
    example = "e.g. --tune lr=1e-5,3e-5 or --tune dpo.beta=0.05,0.1"
    for item in items:
        key, sep, raw = item.partition("=")
        loss, dot, name = _param_key(key)
        key = f"{loss}.{name}" if dot else key.strip()
        if not sep or not key or (dot and not (loss and name)):
            raise UserError(f"--tune '{item}' must look like KEY=V1,V2,... ({example})")
        values = [part.strip() for part in raw.split(",") if part.strip()]
        numbers = [_number(value) for value in values]
        bad = [value for value, number in zip(values, numbers, strict=True) if number is None]
        if bad:
            raise UserError(f"--tune {key}: '{bad[0]}' is not a number ({example})")
        if key in tune:
            raise UserError(f"--tune {key} is given twice; list all its values once, e.g. {key}=1e-5,3e-5")
        tune[key] = tuple(number for number in numbers if number is not None)
    return tune


def _param_key(key: str) -> tuple[str, str, str]:
    """``" dpo . beta"`` -> (``dpo``, ``.``, ``beta``): a ``LOSS.NAME`` key, spaces dropped."""
    loss, dot, name = key.partition(".")
    return loss.strip(), dot, name.strip()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_key_values(items: list[str], option: str) -> tuple[tuple[str, str], ...]:
    """``["account=proj", "mem=32G"]`` -> ``(("account", "proj"), ("mem", "32G"))``, in order."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise UserError(f"{option} '{item}' must look like KEY=VALUE, e.g. account=myproject")
        pairs[key] = value
    return tuple(pairs.items())
