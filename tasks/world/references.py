"""Reference captions for the embedded world, written from the facts in each benchmark's public format.

- VATEX: ``{"videoID": id, "enCap": [10 one-sentence captions]}``, the ten genuinely varied: object
  order, sentence frame, verb phrases, synonyms and optional background / camera clauses all change.
- VDC: five captions per clip, one per dimension (``short``, ``detailed``, ``background``,
  ``main_object``, ``camera``), with the field names of AuroraCap's ``VDC_1k.jsonl``.
- VDD: one long description (``{"video_name", "question", "answer"}`` as lmms-eval's ``video_dc499``).

Paraphrase choices are seeded from the clip (``random.Random`` on a string, stable across runs), so the
same clip always gets the same references. The vocabulary is small and closed (every word is one the
exact-fact judge knows), which is what the tiny model's tokenizer is trained on; it lives in
``phrases.py``.

What each caption states (the judge's ``DIMENSION_FACTS`` grades exactly these, so every reference is a
perfect caption for its dimension): VATEX and ``short`` every object's shape, colour and motion (size is
optional); ``detailed`` and VDD every object's size, colour, shape and motion plus background and camera;
``main_object`` the main object's four facts; ``background`` / ``camera`` that one fact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.api.tasks import CaptionExample, TaskData
from synpo_bench.tasks.world.clips import DEFAULT_FRAME_SIZE, DEFAULT_FRAMES, world_clips
from synpo_bench.tasks.world.phrases import (
    BACKGROUND_ADJECTIVES,
    BACKGROUND_PHRASES,
    CAMERA_NOUN_PHRASES,
    CAMERA_SENTENCES,
    COLOUR_WORDS,
    MOTION_PARTICIPLES,
    MOTION_VERBS,
    SHAPE_WORDS,
    SIZE_WORDS,
)

DIMENSION_PROMPTS: dict[str, str] = {
    "caption": "describe the video in one sentence.",
    "short": "describe the video briefly.",
    "detailed": "describe the video in detail.",
    "background": "describe the background of the video.",
    "main_object": "describe the main object of the video.",
    "camera": "describe the camera motion in the video.",
    "description": "give a long detailed description of the video.",
}
"""The instruction for each caption dimension (VATEX: caption; VDC: short .. camera; VDD: description)."""

VDC_DIMENSIONS: tuple[str, ...] = ("short", "detailed", "background", "main_object", "camera")
N_VATEX_CAPTIONS = 10

# ------------------------------------------------------------------------------------ phrase builders


def _rng(facts: ClipFacts, purpose: str) -> random.Random:
    return random.Random(f"{facts.clip_id}:{facts.texture_seed}:{purpose}")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun_phrase(obj: ObjectFacts, rng: random.Random, with_size: bool) -> str:
    """'a small red circle' (size included when asked, else now and then)."""
    words = []
    if with_size or rng.random() < 0.3:
        words.append(rng.choice(SIZE_WORDS[obj.size]))
    words.append(rng.choice(COLOUR_WORDS[obj.colour]))
    words.append(rng.choice(SHAPE_WORDS[obj.shape]))
    return f"{_article(words[0])} {' '.join(words)}"


def _object_clause(obj: ObjectFacts, rng: random.Random, with_size: bool) -> str:
    """A clause stating the object and its motion, in one of several word orders."""
    verb = rng.choice(MOTION_VERBS[obj.motion])
    participle = rng.choice(MOTION_PARTICIPLES[obj.motion])
    shape = rng.choice(SHAPE_WORDS[obj.shape])
    colour = rng.choice(COLOUR_WORDS[obj.colour])
    size = rng.choice(SIZE_WORDS[obj.size]) + " " if with_size or rng.random() < 0.3 else ""
    forms = (
        f"{_noun_phrase(obj, rng, with_size)} {verb}",
        f"{participle} is {_noun_phrase(obj, rng, with_size)}",
        f"{_article(size or shape)} {size}{shape} coloured {colour} {verb}",
        f"there is {_noun_phrase(obj, rng, with_size)} {participle}",
    )
    return rng.choice(forms)


def _object_noun_phrase(obj: ObjectFacts, rng: random.Random, with_size: bool) -> str:
    """The object and its motion as a noun phrase: 'a red circle moving left', '... that moves left'."""
    if rng.random() < 0.5:
        return f"{_noun_phrase(obj, rng, with_size)} {rng.choice(MOTION_PARTICIPLES[obj.motion])}"
    return f"{_noun_phrase(obj, rng, with_size)} that {rng.choice(MOTION_VERBS[obj.motion])}"


def _join(clauses: Sequence[str], rng: random.Random) -> str:
    """Join clauses: 'A and B', 'A while B', 'A; B', 'A as B', 'A, B, and C'."""
    if len(clauses) == 1:
        return clauses[0]
    joiner = rng.choice((" and ", " while ", ", and ", "; ", " as "))
    if joiner in (" and ", ", and "):
        return ", ".join(clauses[:-1]) + joiner + clauses[-1]
    return joiner.join(clauses)


def _list(phrases: Sequence[str], rng: random.Random) -> str:
    """Join noun phrases: 'A and B', 'A, B and C', 'A, B, and C'."""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + rng.choice((" and ", ", and ")) + phrases[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + "."


def _shuffled(objects: Sequence[ObjectFacts], rng: random.Random) -> list[ObjectFacts]:
    order = list(objects)
    rng.shuffle(order)
    return order


def _one_sentence(facts: ClipFacts, rng: random.Random, extras: bool) -> str:
    """One sentence naming every object with its colour and motion; with ``extras`` sometimes more."""
    clauses = [_object_clause(obj, rng, with_size=False) for obj in _shuffled(facts.objects, rng)]
    if rng.random() < 0.35:  # a list of noun phrases instead of clauses
        phrases = [_object_noun_phrase(obj, rng, with_size=False) for obj in _shuffled(facts.objects, rng)]
        opener = rng.choice(("the video shows", "we see", "in this clip we see", "the clip shows"))
        body = f"{opener} {_list(phrases, rng)}"
    else:
        body = _join(clauses, rng)
    if extras:
        extra = rng.random()
        if extra < 0.25:
            body = f"{body} on {rng.choice(BACKGROUND_PHRASES[facts.background])}"
        elif extra < 0.45:
            body = f"{body} against {rng.choice(BACKGROUND_PHRASES[facts.background])}"
        elif extra < 0.65:
            body = f"{rng.choice(CAMERA_SENTENCES[facts.camera])} while {body}"
        elif extra < 0.8:
            body = f"{body}, filmed by {rng.choice(CAMERA_NOUN_PHRASES[facts.camera])}"
    return _sentence(body)


def _background_sentence(facts: ClipFacts, rng: random.Random) -> str:
    adjective = rng.choice(BACKGROUND_ADJECTIVES[facts.background])
    phrase = rng.choice(BACKGROUND_PHRASES[facts.background])
    return _sentence(
        rng.choice(
            (
                f"the background is {adjective}",
                f"the scene is set against {phrase}",
                f"{phrase} fills the whole frame",
                f"behind the objects there is {phrase}",
                f"everything happens on {phrase}",
            )
        )
    )


def _camera_sentence(facts: ClipFacts, rng: random.Random) -> str:
    sentence = rng.choice(CAMERA_SENTENCES[facts.camera])
    return _sentence(
        rng.choice((sentence, f"{sentence} throughout the clip", f"{sentence} during the video"))
    )


def _main_object_sentence(facts: ClipFacts, rng: random.Random) -> str:
    obj = facts.main_object
    noun = _noun_phrase(obj, rng, with_size=True)
    verb = rng.choice(MOTION_VERBS[obj.motion])
    participle = rng.choice(MOTION_PARTICIPLES[obj.motion])
    return _sentence(
        rng.choice(
            (
                f"the main object is {noun} that {verb}",
                f"{noun} is the main subject and it {verb}",
                f"the main subject of the video is {noun} {participle}",
                f"{participle} is the main object, {noun}",
                f"the most prominent object is {noun}, which {verb}",
            )
        )
    )


def _detailed_object_sentences(facts: ClipFacts, rng: random.Random) -> list[str]:
    """Either one clause per object, or an introduction followed by what each object does."""
    objects = _shuffled(facts.objects, rng)
    if rng.random() < 0.5:
        return [_sentence(_object_clause(obj, rng, with_size=True)) for obj in objects]
    intro = _list([_noun_phrase(obj, rng, with_size=True) for obj in objects], rng)
    opener = rng.choice(("the video shows", "the clip contains", "we can see", "in this video there is"))
    sentences = [_sentence(f"{opener} {intro}")]
    for obj in objects:
        shape = rng.choice(SHAPE_WORDS[obj.shape])
        sentences.append(
            _sentence(
                f"the {rng.choice(COLOUR_WORDS[obj.colour])} {shape} {rng.choice(MOTION_VERBS[obj.motion])}"
            )
        )
    return sentences


# ----------------------------------------------------------------------------------------- formats


def vatex_captions(facts: ClipFacts, n: int = N_VATEX_CAPTIONS) -> list[str]:
    """``n`` distinct one-sentence captions (VATEX's ``enCap``)."""
    rng = _rng(facts, "vatex")
    captions: list[str] = []
    for _attempt in range(20 * n):
        caption = _one_sentence(facts, rng, extras=True)
        if caption not in captions:
            captions.append(caption)
        if len(captions) == n:
            break
    return captions


def vatex_entry(facts: ClipFacts) -> dict[str, object]:
    return {"videoID": facts.clip_id, "enCap": vatex_captions(facts)}


def vdc_captions(facts: ClipFacts) -> dict[str, str]:
    """The five VDC dimensions, keyed by dimension name."""
    rng = _rng(facts, "vdc")
    detailed = _detailed_object_sentences(facts, rng)
    extras = [_background_sentence(facts, rng), _camera_sentence(facts, rng)]
    rng.shuffle(extras)
    detailed = [*extras[:1], *detailed, *extras[1:]] if rng.random() < 0.3 else [*detailed, *extras]
    return {
        "short": _one_sentence(facts, rng, extras=False),
        "detailed": " ".join(detailed),
        "background": _background_sentence(facts, rng),
        "main_object": _main_object_sentence(facts, rng),
        "camera": _camera_sentence(facts, rng),
    }


def vdc_entry(facts: ClipFacts) -> dict[str, str]:
    """One line of AuroraCap's ``VDC_1k.jsonl``: ``video_name`` and ``<dimension>_caption`` fields."""
    captions = vdc_captions(facts)
    return {
        "video_name": f"{facts.clip_id}.mp4",
        **{f"{dim}_caption": text for dim, text in captions.items()},
    }


def vdd_description(facts: ClipFacts) -> str:
    """A long description: setting, every object with all its facts, the camera, in varied order."""
    rng = _rng(facts, "vdd")
    objects = _shuffled(facts.objects, rng)
    nouns = _list([_noun_phrase(obj, rng, with_size=True) for obj in objects], rng)
    setting = rng.choice(BACKGROUND_PHRASES[facts.background])
    opening = rng.choice(
        (f"the video shows {nouns} on {setting}", f"this clip takes place on {setting}, where we see {nouns}")
    )
    sentences = [_sentence(opening)]
    for obj in objects:
        shape = rng.choice(SHAPE_WORDS[obj.shape])
        colour = rng.choice(COLOUR_WORDS[obj.colour])
        verb = rng.choice(MOTION_VERBS[obj.motion])
        sentences.append(
            _sentence(rng.choice((f"the {colour} {shape} {verb}", f"the {shape} that is {colour} {verb}")))
        )
    camera = [_camera_sentence(facts, rng)]
    adjective = rng.choice(BACKGROUND_ADJECTIVES[facts.background])
    closing = _sentence(
        rng.choice(
            (
                f"the {adjective} background stays visible behind them",
                "nothing else appears in the scene",
                "the scene stays simple from start to end",
            )
        )
    )
    body = camera + sentences if rng.random() < 0.3 else sentences + camera
    return " ".join([*body, closing])


def vdd_entry(facts: ClipFacts) -> dict[str, str]:
    """One entry as lmms-eval's ``video_dc499`` holds it: video name, question, answer."""
    return {
        "video_name": facts.clip_id,
        "question": DIMENSION_PROMPTS["description"],
        "answer": vdd_description(facts),
    }


REFERENCE_WRITERS: dict[str, Callable[[ClipFacts], list[str]]] = {
    "caption": vatex_captions,
    **{dim: (lambda facts, dim=dim: [vdc_captions(facts)[dim]]) for dim in VDC_DIMENSIONS},
    "description": lambda facts: [vdd_description(facts)],
}
"""dimension -> the references of a clip for that dimension."""


# ---------------------------------------------------------------------------------- embedded task data


def clip_examples(facts: ClipFacts, dimensions: Sequence[str]) -> list[CaptionExample]:
    """One example per dimension of a clip, with the prompt and the references of that dimension."""
    return [
        CaptionExample(facts.clip_id, dim, DIMENSION_PROMPTS[dim], tuple(REFERENCE_WRITERS[dim](facts)))
        for dim in dimensions
    ]


def embedded_task_data(
    task: str,
    dimensions: Sequence[str],
    *,
    seed: int,
    size: str,
    n_frames: int = DEFAULT_FRAMES,
    frame_size: int = DEFAULT_FRAME_SIZE,
) -> TaskData:
    """The embedded world as one task: the same clips (ids, frames, facts) for every task."""
    train, test = world_clips(seed, size, n_frames, frame_size)
    return TaskData(
        task=task,
        frames={clip.clip_id: clip.frames for clip in (*train, *test)},
        train=[example for clip in train for example in clip_examples(clip.facts, dimensions)],
        eval=[example for clip in test for example in clip_examples(clip.facts, dimensions)],
        synthetic=True,
        facts={clip.clip_id: clip.facts for clip in (*train, *test)},
        source=f"synthetic(seed={seed}, size={size})",
    )
