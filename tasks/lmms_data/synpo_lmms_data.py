"""The offline lmms-eval tasks shipped with synpo-bench: their files, how they are built and scored.

Clips ``test-00000`` .. ``test-00007`` of the embedded world (data seed 0: the default world's first
test clips), rendered at 8 frames of 32 x 32 and written as MPEG-4 files to ``videos/``, and two tasks
over them in the public benchmarks' formats:

- ``synpo_vatex`` (VATEX format: ``videoID``, ``enCap`` with ten English captions): one sentence per
  clip by greedy generation, scored with the COCO caption metrics of ``tasks/metrics/caption.py``
  (BLEU-4, METEOR, ROUGE-L, CIDEr, x100, corpus level), as lmms-eval's ``vatex_test`` is.
- ``synpo_vdc`` (VDC format: ``video_name`` and ``<dimension>_caption``, one document per clip and
  dimension): each VDC dimension's caption, graded VDCscore-style by the run's judge against the clip's
  ground-truth facts (rebuilt from the clip id and seed: ``accuracy`` in %, ``score`` 0-5); the exact-fact
  judge by default, the ``--judge`` endpoint when one is given.

Paths: the JSONL names each video relative to this folder (``doc_to_visual`` resolves it); lmms-eval
hands ``dataset_kwargs.data_files`` to ``datasets``, which resolves relative names against the working
directory, so ``tasks/metrics/lmms_eval.py`` passes the absolute ``data_files`` when it loads the tasks.

Rebuild (deterministic JSONL; a test checks it is current): ``python tasks/lmms_data/synpo_lmms_data.py``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent
VIDEO_DIR = DATA_DIR / "videos"
SEED = 0
N_CLIPS = 8
FRAMES, FRAME_SIZE = 8, 32
CAPTION_METRICS = {"BLEU_4": "BLEU-4", "METEOR": "METEOR", "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}
"""lmms-eval metric name -> the key of ``caption_scores`` (lmms-eval's VATEX names, without ``vatex_``)."""

# ------------------------------------------------------------------------------------------- documents


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [str(DATA_DIR / doc["video"])]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    return doc["prompt"]


def vatex_target(doc: dict[str, Any]) -> str:
    return doc["enCap"][0]


def vdc_target(doc: dict[str, Any]) -> str:
    return doc[f"{doc['dimension']}_caption"]


# ------------------------------------------------------------------------------------- VATEX: COCO


def vatex_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    item = {"id": doc["videoID"], "pred": results[0], "refs": list(doc["enCap"])}
    return dict.fromkeys(CAPTION_METRICS, item)


@lru_cache(maxsize=8)
def _corpus_scores(items: str) -> dict[str, float]:
    """The COCO metrics of one corpus, once for all four aggregations (METEOR runs Java)."""
    from synpo_bench.tasks.metrics.caption import caption_scores

    rows = json.loads(items)
    return caption_scores({r["id"]: r["pred"] for r in rows}, {r["id"]: r["refs"] for r in rows})


def _aggregate(metric: str, items: list[dict[str, Any]]) -> float:
    scores = _corpus_scores(json.dumps(items, sort_keys=True))
    return float(scores.get(CAPTION_METRICS[metric], float("nan")))  # METEOR: NaN without Java


def bleu4(items: list[dict[str, Any]]) -> float:
    return _aggregate("BLEU_4", items)


def meteor(items: list[dict[str, Any]]) -> float:
    return _aggregate("METEOR", items)


def rouge_l(items: list[dict[str, Any]]) -> float:
    return _aggregate("ROUGE_L", items)


def cider(items: list[dict[str, Any]]) -> float:
    return _aggregate("CIDEr", items)


# ------------------------------------------------------------------------------------ VDC: the judge


def vdc_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    from synpo_bench.tasks.metrics.facts import fact_accuracy, vdc_score
    from synpo_bench.tasks.metrics.lmms_eval import active_judge
    from synpo_bench.tasks.world.clips import sample_facts

    split, _, index = doc["clip_id"].rpartition("-")
    grade = active_judge().grade(results[0], sample_facts(split, int(index), doc["seed"]), doc["dimension"])
    return {"accuracy": fact_accuracy(grade), "score": vdc_score(grade)}


# ------------------------------------------------------------------------------------------ building


def build_documents(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """File name -> documents; the same seed always gives the same documents."""
    from synpo_bench.tasks.world.clips import sample_facts
    from synpo_bench.tasks.world.references import DIMENSION_PROMPTS, VDC_DIMENSIONS, vatex_entry, vdc_entry

    facts = [sample_facts("test", index, seed) for index in range(N_CLIPS)]
    vatex = [
        {**vatex_entry(f), "video": f"videos/{f.clip_id}.mp4", "prompt": DIMENSION_PROMPTS["caption"]}
        for f in facts
    ]
    vdc = [
        {
            **vdc_entry(f),
            "video": f"videos/{f.clip_id}.mp4",
            "clip_id": f.clip_id,
            "seed": seed,
            "dimension": dimension,
            "prompt": DIMENSION_PROMPTS[dimension],
        }
        for f in facts
        for dimension in VDC_DIMENSIONS
    ]
    return {"synpo_vatex.jsonl": vatex, "synpo_vdc.jsonl": vdc}


def to_jsonl(documents: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(document, ensure_ascii=False) + "\n" for document in documents)


def write_videos(seed: int = SEED) -> None:
    from synpo_bench.tasks.data.video import write_video
    from synpo_bench.tasks.world.clips import make_clips

    VIDEO_DIR.mkdir(exist_ok=True)
    for clip in make_clips("test", N_CLIPS, seed, n_frames=FRAMES, size=FRAME_SIZE):
        write_video(VIDEO_DIR / f"{clip.clip_id}.mp4", clip.frames)


def main() -> None:
    write_videos()
    for name, documents in build_documents().items():
        (DATA_DIR / name).write_text(to_jsonl(documents), encoding="utf-8")
        print(f"wrote {len(documents)} documents to {DATA_DIR / name}")


if __name__ == "__main__":
    main()
