"""The exact judge's lexicon: the words and phrases a caption may use, and the facts they state.

A phrase lexicon (longest match first) turns words into facts: shape nouns ("circle", "ball", "triangular
shape") anchor an object mention; colour, size and motion words ("violet", "big", "drifts to the left",
"up and down", "does not move") are attributes; background words ("stripes", "checkerboard", "polka dot")
and zooms ("zooms in", "pulls back") are global facts; "camera" / "view" / "shot" / "pans" anchor the
camera.

Paraphrases: besides every form the world's reference writer uses (``world/phrases.py``), the lexicon
knows synonyms a model could learn elsewhere ("scarlet", "azure", "sphere", "cube", "pyramid", "ascends",
"plummets", "bobs", "dollies in", "chessboard"); a synonym is listed only where it names one value of
the world without doubt ("lime", "amber", "rectangle", "oval" are not). A word outside ``KNOWN_WORDS``
(the closed vocabulary) is never guessed at: it states no fact, the parse lists it
(``ParsedCaption.unknown_words``) and it costs fluency in the rater.

Negation: ``NEGATORS`` ("not", "no", "never", "neither", "nor", "without", "isn't", ...) open a negated
scope (the parser's rules); "or" / "nor" join the values of a scope or of a hedge ("red or blue").
"""

from __future__ import annotations

import re


def _forms(kind: str, value: str, phrases: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """``phrases`` separated by "|" -> (kind, value)."""
    return {tuple(phrase.split()): (kind, value) for phrase in phrases.split("|")}


_ZOOM = ("zoom", "zooms", "zooming", "zoomed")
_DOLLY = ("dolly", "dollies", "dollying", "dollied")

LEXICON: dict[tuple[str, ...], tuple[str, str]] = {
    **_forms("shape", "circle", "circle|circles|disc|discs|disk|disks|ball|balls|round shape|round object"),
    **_forms("shape", "circle", "circular shape|circular object|sphere|spheres|orb|orbs"),
    **_forms("shape", "square", "square|squares|box|boxes|block|blocks|square shape|square object|cube"),
    **_forms("shape", "square", "cubes"),
    **_forms("shape", "triangle", "triangle|triangles|triangular shape|triangular object|pyramid|pyramids"),
    **_forms("colour", "red", "red|crimson|scarlet|ruby|cherry|vermilion|reddish"),
    **_forms("colour", "green", "green|emerald|jade|greenish"),
    **_forms("colour", "blue", "blue|azure|navy|cobalt|sapphire|bluish|blueish"),
    **_forms("colour", "yellow", "yellow|golden|gold|lemon|yellowish"),
    **_forms("colour", "purple", "purple|violet|lavender|lilac|mauve|plum|amethyst|purplish"),
    **_forms("colour", "orange", "orange|tangerine|orangish"),
    **_forms("size", "small", "small|little|tiny|smaller|miniature|petite|smallish"),
    **_forms("size", "large", "large|big|huge|larger|bigger|giant|enormous|massive|sizable"),
    **_forms("motion", "left", "left|leftward|leftwards"),
    **_forms("motion", "right", "right|rightward|rightwards"),
    **_forms("motion", "up", "up|upward|upwards|rises|rise|rising|climbs|climbing|rose|ascends|ascend"),
    **_forms("motion", "up", "ascending|ascended|soars|soaring|lifts|lifting"),
    **_forms(
        "motion", "down", "down|downward|downwards|falls|fall|falling|sinks|sink|sinking|drops|dropping"
    ),
    **_forms("motion", "down", "fell|sank|dropped|descends|descend|descending|descended|plummets"),
    **_forms("motion", "down", "plummeting"),
    **_forms("motion", "still", "still|stationary|motionless|static|fixed|steady|unmoving|in place|at rest"),
    **_forms("motion", "still", "does not move|doesnt move|did not move|not moving|never moves"),
    **_forms("motion", "still", "immobile|frozen|stays put|without moving"),
    **_forms(
        "motion", "bouncing", "bounces|bounce|bouncing|bounced|up and down|hops|hop|hopping|jumps|jumping"
    ),
    **_forms("motion", "bouncing", "bobs|bob|bobbing|leaps|leaping|rises and falls|rising and falling"),
    **_forms("background", "black", "black|dark"),
    **_forms("background", "gray", "gray|grey|grayish|greyish"),
    **_forms("background", "striped", "striped|stripes|stripy|stripe|banded|pinstriped"),
    **_forms("background", "checkered", "checkered|chequered|checkerboard|checks|checked|chessboard"),
    **_forms("background", "dotted", "dotted|dots|dot|spotted|polka dot|polka dots|speckled"),
    **_forms("camera", "zoom in", "|".join(f"{verb} in" for verb in _ZOOM) + "|pushes in|push in|pushing in"),
    **_forms("camera", "zoom in", "|".join(f"{verb} in" for verb in _DOLLY)),
    **_forms(
        "camera", "zoom out", "|".join(f"{verb} out" for verb in _ZOOM) + "|pulls back|pull back|pulls out"
    ),
    **_forms("camera", "zoom out", "|".join(f"{verb} out" for verb in _DOLLY)),
    **_forms("camera_anchor", "camera", "camera|view|shot|viewpoint|lens"),
    **_forms("camera_anchor", "pan", "pan|pans|panning|panned"),
}
LONGEST_PHRASE = max(len(phrase) for phrase in LEXICON)

BOUNDARY_WORDS = frozenset({"and", "while", "as", "whereas", "but", "then", "meanwhile"})
PRONOUNS = frozenset({"it", "which", "that", "who", "they", "its"})
NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "neither",
        "nor",
        "without",
        "none",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "doesnt",
        "dont",
        "didnt",
        "cannot",
        "cant",
    }
)
"""Words that negate the facts after them (the parser's negation rule)."""
NEGATION_SKIPPED = frozenset({"a", "an", "the", "any", "to", "towards", "toward", "on", "in", "coloured"})
"""Words a negated scope passes over before its first fact ("not to the left", "not a triangle")."""
ALTERNATIVE_WORDS = frozenset({"or", "nor", "either"})
"""Words that join alternatives ("red or blue"): the values around them form one stated set."""


def word_set(text: str) -> frozenset[str]:
    """The words of ``text`` (split at white space) as a set."""
    return frozenset(text.split())


FUNCTION_WORDS = (
    word_set(
        """
    a an the this these those there here is are was were be been being has have it its they them
    that which who what where when of on in to by with against behind across over into from at for
    through around near next beside about we you see sees seen can shows show showing shown video clip
    scene frame whole entire main subject object objects thing shape shapes most prominent everything
    happens fills set takes take place where contains contain filmed recorded background backdrop
    plain pattern vertical covered coloured colored colour color keeps keep keeps slowly quickly
    slow steadily gently throughout during start end nothing else appears appear stays stay remains remain
    visible simple moves move moving slides slide sliding drifts drift drifting travels travel
    traveling travelling heads head heading floats float floating stands standing sits sitting staying
    holds hold holding one another other also same time too very all just only not no never out back
    first does do did goes go going went
    """
    )
    | BOUNDARY_WORDS
    | PRONOUNS
    | NEGATORS
    | ALTERNATIVE_WORDS
)
KNOWN_WORDS = FUNCTION_WORDS | {word for phrase in LEXICON for word in phrase}
PUNCTUATION = frozenset(".,;:!?")
_TOKEN = re.compile(r"[a-z]+|[.,;:!?]|[^\sa-z.,;:!?]+")


def tokenize(text: str) -> list[str]:
    """Lower-case words and punctuation marks; apostrophes vanish ("doesn't" -> "doesnt"), hyphens split."""
    cleaned = text.lower().replace("'", "").replace("\u2019", "").replace("-", " ")
    return _TOKEN.findall(cleaned)
