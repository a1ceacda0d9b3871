"""COCO caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, through pycocoevalcap.

Scale: every value is multiplied by 100, as COCO caption tables print them. BLEU, METEOR and ROUGE-L lie
in 0-100; CIDEr-D (pycocoevalcap's ``Cider``, which already carries the x10 of the CIDEr-D definition)
is 100 x the usual CIDEr figure, e.g. 85.3 rather than 0.853.

As in the COCO evaluation, predictions and references are tokenised first (the Stanford PTB tokenizer,
lower-case, punctuation removed), then scored at corpus level: BLEU from pooled n-gram counts with the
"closest" reference length for the brevity penalty, METEOR from the METEOR 1.5 jar's aggregate, ROUGE-L
(LCS F-measure with beta = 1.2) averaged over ids, and CIDEr-D with document frequencies taken over the
references of the whole corpus (so a corpus of one id scores CIDEr 0: every n-gram has idf 0).

METEOR and the PTB tokenizer run Java. Without ``java`` on the PATH the scores are still computed,
honestly degraded: METEOR is left out (its key is absent, never a fake number) and a simple tokenizer
(lower-case, punctuation replaced by spaces) stands in for PTB. ``caption_metrics_implementation()``
says which of the two was used; reports print it beside the numbers.

``caption_metric_scores`` is the caption tasks' entry: one example per clip, predictions keyed by
(clip, dimension). ``caption_metric_items`` also returns, per example, the two metrics that are means of
per-caption values (``ITEM_CAPTION_METRICS``: ROUGE-L and CIDEr-D, pycocoevalcap's per-image scores, x100),
for paired comparisons; BLEU and METEOR are corpus-level aggregates with no per-caption value.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pycocoevalcap
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS, STANFORD_CORENLP_3_4_1_JAR

from synpo_bench.api.tasks import CaptionExample

CAPTION_METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
"""Every key ``caption_scores`` can return, in table order (METEOR is absent without Java)."""
SCALE = 100.0
ITEM_CAPTION_METRICS = ("ROUGE-L", "CIDEr")
"""The caption metrics that are the mean of a per-caption value (pycocoevalcap's per-image scores)."""


def caption_metric_scores(
    predictions: Mapping[tuple[str, str], str], examples: Sequence[CaptionExample]
) -> dict[str, float]:
    """COCO caption metrics of the predictions for ``examples`` (one example per clip)."""
    references = {example.clip_id: list(example.references) for example in examples}
    captions = {
        example.clip_id: predictions.get((example.clip_id, example.dimension), "") for example in examples
    }
    return dict(caption_scores(captions, references))


def caption_metric_items(
    predictions: Mapping[tuple[str, str], str], examples: Sequence[CaptionExample]
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """``caption_metric_scores`` and, per example (in order), its ROUGE-L and CIDEr-D (x100), whose means
    over the examples are the corpus ROUGE-L and CIDEr-D."""
    references = {example.clip_id: list(example.references) for example in examples}
    captions = {
        example.clip_id: predictions.get((example.clip_id, example.dimension), "") for example in examples
    }
    scores, per_id = _scores_and_items(captions, references)
    return scores, [per_id[example.clip_id] for example in examples]


def caption_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """Corpus-level caption metrics (x100) of ``predictions`` against ``references``, keyed by id.

    Every id of ``references`` is scored; an id without a prediction counts as the empty caption. A
    prediction whose id has no references is a ``ValueError`` (the two sides do not describe the same
    clips), as is an id whose references hold no word at all.
    """
    return _scores_and_items(predictions, references)[0]


def _scores_and_items(
    predictions: dict[str, str], references: dict[str, list[str]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The corpus scores (x100) and, per id, its ``ITEM_CAPTION_METRICS`` (x100)."""
    ids = _checked_ids(predictions, references)
    candidates = {key: _clean(predictions.get(key) or "") for key in ids}
    reference_lists = {key: [_clean(text) for text in references[key]] for key in ids}
    use_java = java_available()
    tokenize = _ptb_tokenize if use_java else _simple_tokenize
    res = tokenize({key: [text] for key, text in candidates.items()})
    gts = tokenize(reference_lists)
    _check_references_have_words(gts)
    raw, per_image = _raw_scores(gts, res, with_meteor=use_java)
    items = {
        key: {name: SCALE * float(per_image[name][index]) for name in ITEM_CAPTION_METRICS}
        for index, key in enumerate(gts)
    }
    return {name: SCALE * value for name, value in raw.items()}, items


def caption_metrics_implementation() -> str:
    """Which scorers and tokenizer ``caption_scores`` uses on this machine, for the report."""
    package = f"pycocoevalcap {_package_version()}"
    if java_available():
        return (
            f"{package}: BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr-D; Stanford PTB tokenizer (Java); scores x100"
        )
    return (
        f"{package}: BLEU-1..4, ROUGE-L, CIDEr-D; METEOR skipped (java not found); simple tokenizer "
        "(lower-case, punctuation stripped) instead of PTB; scores x100"
    )


def java_available() -> bool:
    """True when ``java`` runs the jars pycocoevalcap ships (METEOR 1.5 and the Stanford PTB tokenizer)."""
    return shutil.which("java") is not None and all(jar.is_file() for jar in _java_jars())


# --------------------------------------------------------------------------------------- input checks


def _checked_ids(predictions: dict[str, str], references: dict[str, list[str]]) -> list[str]:
    if not references:
        raise ValueError("caption_scores: no references given")
    unknown = sorted(set(predictions) - set(references), key=str)
    if unknown:
        shown = ", ".join(repr(key) for key in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"caption_scores: {len(unknown)} prediction id(s) have no references: {shown}; "
            "predictions and references must be keyed by the same clip ids"
        )
    for key, refs in references.items():
        if isinstance(refs, str) or not refs:
            raise ValueError(f"caption_scores: references[{key!r}] must be a non-empty list of strings")
    return list(references)


def _check_references_have_words(gts: dict[str, list[str]]) -> None:
    for key, refs in gts.items():
        if not any(ref.strip() for ref in refs):
            raise ValueError(f"caption_scores: the references of id {key!r} contain no words")


def _clean(text: str) -> str:
    """One line, no METEOR field separator: the Java scorers read line- and '|||'-delimited input."""
    return " ".join(str(text).replace("|||", " ").split())


# ---------------------------------------------------------------------------------------- tokenizers


def _ptb_tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's ``PTBTokenizer``, same jar, flags and punctuation list, fed through stdin.

    The library's wrapper writes a temporary file inside its own package folder (which fails on a
    read-only install) and lets the jar's progress line through to stderr on every call; this runs the
    same command with the sentences on stdin and stderr captured, so the tokens are identical.
    """
    keys = [key for key, texts in captions.items() for _ in texts]
    lines = [text for texts in captions.values() for text in texts]
    command = [
        "java",
        "-cp",
        STANFORD_CORENLP_3_4_1_JAR,
        "edu.stanford.nlp.process.PTBTokenizer",
        "-preserveLines",
        "-lowerCase",
        "-encoding",
        "utf-8",
    ]
    done = subprocess.run(
        command,
        cwd=_java_jars()[1].parent,
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    tokenized_lines = done.stdout.split("\n")[: len(lines)]
    if done.returncode != 0 or len(tokenized_lines) != len(lines):
        raise RuntimeError(f"caption_scores: the PTB tokenizer (java) failed: {done.stderr.strip()[-300:]}")
    punctuation = set(PUNCTUATIONS)
    tokenized: dict[str, list[str]] = {key: [] for key in captions}
    for key, line in zip(keys, tokenized_lines, strict=True):
        tokenized[key].append(" ".join(word for word in line.split(" ") if word and word not in punctuation))
    return tokenized


_PUNCTUATION = re.compile(r"[^\w\s]")


def _simple_tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    return {
        key: [" ".join(_PUNCTUATION.sub(" ", text.lower()).split()) for text in texts]
        for key, texts in captions.items()
    }


# ------------------------------------------------------------------------------------------ scorers


def _raw_scores(
    gts: dict[str, list[str]], res: dict[str, list[str]], *, with_meteor: bool
) -> tuple[dict[str, float], dict[str, Sequence[float]]]:
    """Corpus scores, and the per-image scores (in ``gts`` order) of the metrics that average them."""
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"BLEU-{n}": float(value) for n, value in enumerate(bleu, start=1)}
    if with_meteor:
        scores["METEOR"] = _meteor_score(gts, res)
    rouge, rouge_per_image = Rouge().compute_score(gts, res)
    cider, cider_per_image = Cider().compute_score(gts, res)
    scores["ROUGE-L"] = float(rouge)
    scores["CIDEr"] = float(cider)
    return scores, {"ROUGE-L": list(rouge_per_image), "CIDEr": list(cider_per_image)}


_meteor_lock = threading.Lock()


def _meteor_score(gts: dict[str, list[str]], res: dict[str, list[str]]) -> float:
    # The METEOR jar takes ~9 s to load its paraphrase table, so one process serves every call; a
    # process that died is replaced once.
    with _meteor_lock:
        try:
            return float(_meteor_process().compute_score(gts, res)[0])
        except (BrokenPipeError, ValueError):
            _meteor_process.cache_clear()
            return float(_meteor_process().compute_score(gts, res)[0])


@cache
def _meteor_process() -> Meteor:
    return Meteor()


def _java_jars() -> tuple[Path, Path]:
    root = Path(next(iter(pycocoevalcap.__path__)))
    return root / "meteor" / "meteor-1.5.jar", root / "tokenizer" / "stanford-corenlp-3.4.1.jar"


def _package_version() -> str:
    try:
        return version("pycocoevalcap")
    except PackageNotFoundError:
        return "(version unknown)"
