"""VDCscore fidelity (issue 12, item 2): the embedded VDC metric orders caption systems as VDCscore's
question-based reading does.

VDCscore (AuroraCap) asks questions drawn from the reference about each fact, answers them from the
caption, and reports the share answered right and a 0-5 score. The reading below is written here, apart
from the judge: each caption system states structured facts (which object it means, which values, what
it negates), the questions are asked of those statements directly, and the same statements are written
out as text for the judge to parse and grade through ``get_task("vdc")().evaluate``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import fmean

import pytest

from synpo_bench.api.facts import ClipFacts, ObjectFacts
from synpo_bench.api.tasks import TaskData, get_task
from synpo_bench.tasks.judges.exact import ExactFactJudge
from synpo_bench.tasks.world.clips import BACKGROUNDS, CAMERA_MOTIONS, COLOURS, MOTIONS, sample_facts
from synpo_bench.tasks.world.references import clip_examples

VDC = ("short", "detailed", "background", "main_object", "camera")
ASKED = {  # dimension -> (which objects, their attributes, background?, camera?)
    "short": ("all", ("shape", "colour", "motion"), False, False),
    "detailed": ("all", ("shape", "colour", "size", "motion"), True, True),
    "background": ("none", (), True, False),
    "main_object": ("main", ("shape", "colour", "size", "motion"), False, False),
    "camera": ("none", (), False, True),
}
NAMING_ORDER = ("shape", "colour", "motion", "size")  # "the circle", "the red object", ...
MOTION = {"left": "moves left", "right": "moves right", "up": "rises", "down": "falls"}
MOTION |= {"still": "stays still", "bouncing": "bounces"}
CAMERA = {"static": "is static", "pan left": "pans left", "pan right": "pans right"}
CAMERA |= {"zoom in": "zooms in", "zoom out": "zooms out"}


@dataclass
class Said:
    """One object as a caption states it: the clip object it means (None: invented), its values."""

    means: int | None
    shape: str
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # colour / size / motion
    denied_colour: str | None = None  # "... that is not red"

    def stated(self, attribute: str) -> set[str]:
        return {self.shape} if attribute == "shape" else set(self.values.get(attribute, ()))


@dataclass
class Statement:
    objects: list[Said]
    backgrounds: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()


def render(statement: Statement) -> str:
    sentences = []
    for said in statement.objects:
        words = [" or ".join(said.values.get(a, ())) for a in ("size", "colour")]
        noun = " ".join(word for word in ["a", *words, said.shape] if word)
        if said.denied_colour:
            noun += f" that is not {said.denied_colour}"
        motions = " or ".join(MOTION[m] for m in said.values.get("motion", ()))
        sentences.append(f"{noun} {motions}".strip())
    if statement.backgrounds:
        sentences.append("the background is " + " or ".join(statement.backgrounds))
    if statement.cameras:
        sentences.append("the camera " + " or ".join(CAMERA[c] for c in statement.cameras))
    return " ".join(s[0].upper() + s[1:] + "." for s in sentences)


# ------------------------------------------------------------------------------ VDCscore's reading


@dataclass(frozen=True)
class Question:
    attribute: str
    truth: frozenset[str]
    described: tuple[tuple[str, str], ...] = ()  # (attribute, value): how the question names the object


def description(obj: ObjectFacts, asked: str, others: list[ObjectFacts], graded: tuple[str, ...]):
    """The shortest way to name ``obj`` by its other graded facts that fits no other object."""
    usable = [a for a in NAMING_ORDER if a in graded and a != asked]
    if not others:
        return ()
    for n in range(1, len(usable) + 1):
        for names in itertools.combinations(usable, n):
            if all(any(getattr(o, a) != getattr(obj, a) for a in names) for o in others):
                return tuple((a, getattr(obj, a)) for a in names)
    return tuple((a, getattr(obj, a)) for a in usable)


def vdcscore_questions(facts: ClipFacts, dimension: str) -> list[Question]:
    which, attributes, background, camera = ASKED[dimension]
    objects = {"all": list(facts.objects), "main": [facts.main_object], "none": []}[which]
    out = []
    for obj in objects:
        for attribute in attributes:
            named = description(obj, attribute, [o for o in facts.objects if o is not obj], attributes)
            fits = [o for o in facts.objects if all(getattr(o, a) == v for a, v in named)]
            out.append(Question(attribute, frozenset(getattr(o, attribute) for o in fits), named))
    out += [Question("background", frozenset({facts.background}))] if background else []
    return out + ([Question("camera", frozenset({facts.camera}))] if camera else [])


def read_answer(question: Question, statement: Statement) -> set[str]:
    """Answer a question from what the caption states, as a careful reader would."""
    if question.attribute in ("background", "camera"):
        return set(getattr(statement, question.attribute + "s"))
    if not question.described:
        candidates = statement.objects
    else:
        fit = {}
        for i, said in enumerate(statement.objects):
            right = sum(value in said.stated(a) for a, value in question.described)
            wrong = sum(len(said.stated(a) - {value}) for a, value in question.described)
            if right:
                fit[i] = right - wrong
        candidates = [statement.objects[i] for i in fit if fit[i] == max(fit.values())]
    return {value for said in candidates for value in said.stated(question.attribute)}


def false_statements(statement: Statement, facts: ClipFacts) -> int:
    count = len(set(statement.backgrounds) - {facts.background}) + len(
        set(statement.cameras) - {facts.camera}
    )
    for said in statement.objects:
        for attribute in ("shape", "colour", "size", "motion"):
            truth = None if said.means is None else getattr(facts.objects[said.means], attribute)
            count += len(said.stated(attribute) - {truth})
    return count


def vdcscore(statement: Statement, facts: ClipFacts, dimension: str) -> tuple[float, float]:
    """(accuracy %, 0-5 score): each question scores 5 when answered exactly, else 0; every false
    statement counts as one more question answered wrong in the score."""
    asked = vdcscore_questions(facts, dimension)
    right = sum(read_answer(q, statement) == q.truth for q in asked)
    return 100.0 * right / len(asked), 5.0 * right / (len(asked) + false_statements(statement, facts))


# --------------------------------------------------------------------------------- caption systems


def full(facts: ClipFacts, index: int, **changes: tuple[str, ...]) -> Said:
    obj = facts.objects[index]
    values = {a: (getattr(obj, a),) for a in ("colour", "size", "motion")}
    return Said(index, obj.shape, values | changes)


def absent_colour(facts: ClipFacts, k: int = 0) -> str:
    return [c for c in COLOURS if c not in {o.colour for o in facts.objects}][k]


def other(values: tuple[str, ...], value: str) -> str:
    return next(v for v in values if v != value)


def objects(facts: ClipFacts, make: Callable[[int], Said]) -> list[Said]:
    return [make(i) for i in range(len(facts.objects))]


def rotated(facts: ClipFacts) -> list[Said]:
    colours = [o.colour for o in facts.objects]
    return objects(facts, lambda i: full(facts, i, colour=(colours[(i + 1) % len(colours)],)))


def negated(facts: ClipFacts, i: int) -> Said:
    said = full(facts, i, colour=())
    said.denied_colour = facts.objects[i].colour
    return said


SYSTEMS: dict[str, Callable[[ClipFacts], Statement]] = {
    "honest detailed": lambda f: Statement(objects(f, lambda i: full(f, i)), (f.background,), (f.camera,)),
    "honest short": lambda f: Statement([full(f, 0, size=())]),
    "honest plus an invented object": lambda f: Statement(
        [*objects(f, lambda i: full(f, i)), Said(None, "triangle", {"colour": (absent_colour(f),)})],
        (f.background,),
        (f.camera,),
    ),
    "wrong colours": lambda f: Statement(
        objects(f, lambda i: full(f, i, colour=(absent_colour(f, i),))), (f.background,), (f.camera,)
    ),
    "hedged": lambda f: Statement(
        objects(f, lambda i: full(f, i, colour=(f.objects[i].colour, absent_colour(f, i)))),
        (f.background, other(BACKGROUNDS, f.background)),
        (f.camera,),
    ),
    "rotated colours": lambda f: Statement(rotated(f), (f.background,), (f.camera,)),
    "partially right": lambda f: Statement(
        objects(f, lambda i: full(f, i, motion=(other(MOTIONS, f.objects[i].motion),))),
        (f.background,),
        (other(CAMERA_MOTIONS, f.camera),),
    ),
    "negated colours": lambda f: Statement(objects(f, lambda i: negated(f, i)), (f.background,), (f.camera,)),
    "blind constant": lambda f: Statement(
        [Said(None, s) for s in ("circle", "square", "triangle")], BACKGROUNDS, CAMERA_MOTIONS
    ),
    "empty": lambda f: Statement([]),
}


def clips(n: int = 48) -> TaskData:
    facts = {f.clip_id: f for f in (sample_facts("test", index, seed=1) for index in range(n))}
    examples = [example for f in facts.values() for example in clip_examples(f, VDC)]
    return TaskData("vdc", {}, [], examples, True, facts, "test")


def concordant(a: dict[str, float], b: dict[str, float]) -> list[tuple[str, str]]:
    """The pairs of systems the two orderings disagree on (ties must be ties in both)."""

    def sign(x: float) -> int:
        return (x > 1e-9) - (x < -1e-9)

    return [(p, q) for p, q in itertools.combinations(a, 2) if sign(a[p] - a[q]) != sign(b[p] - b[q])]


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    data, task = clips(), get_task("vdc")()
    results = {}
    for name, system in SYSTEMS.items():
        statements = {clip: system(facts) for clip, facts in data.facts.items()}
        predictions = {(e.clip_id, e.dimension): render(statements[e.clip_id]) for e in data.eval}
        metric = task.evaluate(predictions, data, ExactFactJudge())
        reading = {}
        for kind, index in (("accuracy", 0), ("score", 1)):
            per_dimension = [
                fmean(
                    vdcscore(statements[e.clip_id], data.facts[e.clip_id], d)[index]
                    for e in data.eval
                    if e.dimension == d
                )
                for d in VDC
            ]
            reading[f"mean_{kind}"] = fmean(per_dimension)
        results[name] = (metric, reading)
    return results


@pytest.mark.parametrize("metric", ["mean_accuracy", "mean_score"])
def test_the_vdc_metric_orders_systems_as_vdcscore_does(measured: dict, metric: str) -> None:
    embedded = {name: m[metric] for name, (m, _) in measured.items()}
    reading = {name: r[metric] for name, (_, r) in measured.items()}
    assert concordant(embedded, reading) == []
    assert len(set(round(v, 6) for v in reading.values())) >= 8  # the systems are told apart


def test_the_vdc_accuracy_is_vdcscore_accuracy(measured: dict) -> None:
    for name, (metric, reading) in measured.items():
        assert metric["mean_accuracy"] == pytest.approx(reading["mean_accuracy"]), name
    assert measured["honest detailed"][0]["mean_accuracy"] == 100.0
    assert measured["blind constant"][0]["mean_accuracy"] == 0.0
