"""A controlled synthetic sentiment task whose deciding words are known by construction.

Why this task exists
--------------------
Agreement between attention and causal importance (GUIDE sections 3-4) only says how
two explanations relate; neither is known to be right. Section 5 of the guide asks for
ground truth: inputs whose cause is known, so that a faithful importance method can be
scored by where it ranks that cause (rank of the deciding word, top-1 accuracy, share of
importance mass on it), as with planted shortcuts (Bastings et al. 2022, *Will you find
these shortcuts?*; Zhou et al. 2022). This module writes such a task itself, with its
own small lexicon and templates, so nothing depends on a download.

Every sentence holds exactly one sentiment adjective ("wonderful", "dreadful") and,
with probability ``negation_rate``, a full negator ("not", "never") directly governing
it (only intensifiers may stand between them). The label is

    label = polarity(sentiment word) XOR negated        (1 = positive, 0 = negative)

Everything else -- the subject noun, the template, intensifiers ("very", "truly"),
distractor clauses ("although the soundtrack was blue") -- is drawn independently of
the label and contains no sentiment word and no negator, so in the data-generating
process it carries no information about the label. The ground-truth mask ``gt_mask``
marks the sentiment word and, when present, the negator.

Two properties make the task useful for faithfulness tests:

* A model that reaches (near) perfect accuracy must read the sentiment word: it is the
  only source of label information. Record accuracy next to any ground-truth figure
  (GUIDE section 6): the mask describes the task, and it describes the model only to the
  extent that the model has learned the rule.
* The negator alone is independent of the label (``negated`` is drawn independently of
  the label), yet it flips the decision: its effect exists only in interaction with the
  sentiment word. Methods that score words one at a time against a baseline may treat
  it differently from the sentiment word, and the mask keeps both.

The vocabulary is small, so identical sentences can occur within and across splits,
mostly among short sentences without distractors; the rule, not memorised sentences, is
what the task tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.seeding import derive_seed

# --------------------------------------------------------------------------------------
# Lexicon. Every word is a single lowercase token; the groups are pairwise disjoint and
# no template word belongs to any of the sentiment or negator groups (checked by
# :func:`check_lexicon`, which the tests call).
# --------------------------------------------------------------------------------------

POSITIVE_WORDS: tuple[str, ...] = (
    "wonderful", "excellent", "brilliant", "superb", "delightful", "fantastic", "great", "good",
    "enjoyable", "charming", "beautiful", "moving", "impressive", "gripping", "lovely", "outstanding",
    "marvelous", "splendid", "terrific", "engaging", "remarkable", "stunning", "pleasant", "magnificent",
    "captivating",
)
NEGATIVE_WORDS: tuple[str, ...] = (
    "dreadful", "terrible", "awful", "horrible", "boring", "dull", "bad", "poor",
    "tedious", "disappointing", "mediocre", "clumsy", "annoying", "painful", "weak", "bland",
    "lifeless", "forgettable", "tiresome", "abysmal", "atrocious", "dismal", "unpleasant", "pathetic",
    "shallow",
)
#: Full negators only: "hardly", "barely", "no" and the like are graded or attach to nouns.
NEGATORS: tuple[str, ...] = ("not", "never")
#: Degree adverbs; they never change the label.
INTENSIFIERS: tuple[str, ...] = ("very", "truly", "rather", "quite", "really", "extremely", "fairly", "so")
#: Subjects of the sentiment clause and of distractor clauses.
SUBJECT_NOUNS: tuple[str, ...] = (
    "film", "movie", "plot", "cast", "soundtrack", "script", "ending", "dialogue", "cinematography",
    "pacing", "director", "lighting", "editing", "story", "sequel", "screenplay", "setting", "finale",
    "opening", "costume",
)
#: Descriptive, non-evaluative adjectives for distractor clauses.
NEUTRAL_ADJECTIVES: tuple[str, ...] = (
    "long", "short", "blue", "green", "red", "grey", "recent", "french", "italian", "german",
    "quiet", "rainy", "cloudy", "late", "early", "small", "large", "crowded", "old", "modern",
)

LABEL_NAMES: tuple[str, str] = ("negative", "positive")

# --------------------------------------------------------------------------------------
# Templates. Slots: {noun} subject noun; {phrase} the sentiment phrase
# "[negator] [intensifier] sentiment-word"; {noun2} a distractor noun; {neutral} a
# neutral adjective. Main templates hold exactly one {phrase}; distractor templates none.
# --------------------------------------------------------------------------------------

MAIN_TEMPLATES: tuple[str, ...] = (
    "the {noun} was {phrase}",
    "i thought the {noun} was {phrase}",
    "overall the {noun} is {phrase}",
    "this {noun} felt {phrase}",
    "we found the {noun} {phrase}",
    "in my opinion the {noun} was {phrase}",
    "i would say that the {noun} is {phrase}",
    "to me the {noun} seemed {phrase}",
    "{phrase} is the word for the {noun}",
    "{phrase} is how i would describe the {noun}",
    "the {noun} of this picture turned out {phrase}",
    "honestly the {noun} was {phrase} from start to finish",
)
DISTRACTORS_BEFORE: tuple[str, ...] = (
    "although the {noun2} was {neutral}",
    "we watched it on a {neutral} evening",
    "since the {noun2} was {neutral}",
    "after a {neutral} day at work",
    "while the theatre was {neutral}",
    "given that the {noun2} looked {neutral}",
)
DISTRACTORS_AFTER: tuple[str, ...] = (
    "and the {noun2} felt {neutral}",
    "even though the {noun2} was {neutral}",
    "and we saw it on a {neutral} evening",
    "but the {noun2} was {neutral}",
    "while the room stayed {neutral}",
    "and the {noun2} was mostly {neutral}",
)


def sentiment_words() -> dict[str, int]:
    """Every sentiment word of the lexicon with its polarity (1 positive, 0 negative)."""
    polarity = {word: 1 for word in POSITIVE_WORDS}
    polarity.update({word: 0 for word in NEGATIVE_WORDS})
    return polarity


_POLARITY = sentiment_words()
_NEGATORS = frozenset(NEGATORS)
_INTENSIFIERS = frozenset(INTENSIFIERS)


def label_of(words: Sequence[str]) -> int:
    """Re-derive the label of a sentence from its words with the task's rule.

    The sentence must hold exactly one sentiment word; it is negated when a negator
    stands directly before it, with only intensifiers in between. Any other negator is
    an error, as is a sentence with zero or several sentiment words: such sentences are
    outside the task, and raising keeps this an honest oracle for the generator.
    """
    words = [str(w) for w in words]
    positions = [i for i, w in enumerate(words) if w in _POLARITY]
    if len(positions) != 1:
        raise ValueError(f"expected exactly one sentiment word, found {len(positions)} in {' '.join(words)!r}")
    (position,) = positions
    j = position - 1
    while j >= 0 and words[j] in _INTENSIFIERS:
        j -= 1
    governing = j if j >= 0 and words[j] in _NEGATORS else None
    stray = [i for i, w in enumerate(words) if w in _NEGATORS and i != governing]
    if stray:
        raise ValueError(f"negator at position {stray[0]} does not govern the sentiment word in {' '.join(words)!r}")
    return _POLARITY[words[position]] ^ int(governing is not None)


def check_lexicon() -> None:
    """Raise if the lexicon's groups overlap or a template word is a sentiment word or negator."""
    groups = {
        "positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS, "negators": NEGATORS,
        "intensifiers": INTENSIFIERS, "nouns": SUBJECT_NOUNS, "neutral": NEUTRAL_ADJECTIVES,
    }
    seen: dict[str, str] = {}
    for name, words in groups.items():
        for word in words:
            if not word or word != word.lower() or len(word.split()) != 1:
                raise ValueError(f"lexicon word {word!r} ({name}) must be one lowercase token")
            if word in seen and seen[word] != name:
                raise ValueError(f"word {word!r} is in both {seen[word]!r} and {name!r}")
            seen[word] = name
    decisive = set(_POLARITY) | _NEGATORS
    for template in MAIN_TEMPLATES + DISTRACTORS_BEFORE + DISTRACTORS_AFTER:
        fixed = [w for w in template.split() if not w.startswith("{")]
        bad = decisive.intersection(fixed)
        if bad:
            raise ValueError(f"template {template!r} contains decisive words {sorted(bad)}")
    for template in MAIN_TEMPLATES:
        if template.split().count("{phrase}") != 1:
            raise ValueError(f"main template {template!r} must hold exactly one {{phrase}}")
    for template in DISTRACTORS_BEFORE + DISTRACTORS_AFTER:
        if "{phrase}" in template or "{noun}" in template.split():
            raise ValueError(f"distractor template {template!r} may use only {{noun2}} and {{neutral}}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic task.

    ``negation_rate``: probability that a sentence is negated. ``distractor_rate``:
    probability that a sentence has any distractor clause; it then has between 1 and
    ``max_distractors`` of them (at most the number of distractor templates), each
    before or after the main clause; ``max_distractors=0`` turns distractors off.
    ``intensifier_rate``: probability of an intensifier before the sentiment word
    (intensifiers never change the label). ``balance``: exactly
    ``n // 2`` examples of each label (the odd one out, for odd ``n``, is drawn at random);
    otherwise each label is a fair coin.
    """

    n_examples: int
    negation_rate: float = 0.3
    distractor_rate: float = 0.5
    max_distractors: int = 2
    intensifier_rate: float = 0.3
    balance: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if int(self.n_examples) != self.n_examples or self.n_examples < 0:
            raise ValueError(f"n_examples must be a non-negative integer, got {self.n_examples!r}")
        for name in ("negation_rate", "distractor_rate", "intensifier_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
        if int(self.max_distractors) != self.max_distractors or self.max_distractors < 0:
            raise ValueError(f"max_distractors must be a non-negative integer, got {self.max_distractors!r}")
        if self.max_distractors > len(DISTRACTORS_BEFORE) + len(DISTRACTORS_AFTER):
            raise ValueError(f"max_distractors is at most {len(DISTRACTORS_BEFORE) + len(DISTRACTORS_AFTER)}")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, rng: np.random.Generator, phrase: list[tuple[str, int]] | None = None) -> list[tuple[str, int]]:
    """Expand a template into (word, mask) pairs; only the phrase's words can be marked."""
    out: list[tuple[str, int]] = []
    for token in template.split():
        if token == "{phrase}":
            assert phrase is not None
            out.extend(phrase)
        elif token in ("{noun}", "{noun2}"):
            out.append((_pick(rng, SUBJECT_NOUNS), 0))
        elif token == "{neutral}":
            out.append((_pick(rng, NEUTRAL_ADJECTIVES), 0))
        else:
            out.append((token, 0))
    # "a" before a vowel-initial word becomes "an" ("an italian evening")
    return [("an", m) if w == "a" and k + 1 < len(out) and out[k + 1][0][0] in "aeiou" else (w, m)
            for k, (w, m) in enumerate(out)]


def _example(rng: np.random.Generator, label: int, config: SyntheticConfig) -> tuple[list[tuple[str, int]], bool, int]:
    negated = bool(rng.random() < config.negation_rate)
    polarity = label ^ int(negated)
    sentiment = _pick(rng, POSITIVE_WORDS if polarity == 1 else NEGATIVE_WORDS)
    phrase: list[tuple[str, int]] = []
    if negated:
        phrase.append((_pick(rng, NEGATORS), 1))
    if rng.random() < config.intensifier_rate:
        phrase.append((_pick(rng, INTENSIFIERS), 0))
    phrase.append((sentiment, 1))
    pairs = _fill(_pick(rng, MAIN_TEMPLATES), rng, phrase)

    n_distractors = 0
    if config.max_distractors > 0 and rng.random() < config.distractor_rate:
        n_distractors = int(rng.integers(1, config.max_distractors + 1))
    # each distractor goes before or after the main clause; no template repeats in a sentence
    before: list[tuple[str, int]] = []
    after: list[tuple[str, int]] = []
    unused_before = [DISTRACTORS_BEFORE[k] for k in rng.permutation(len(DISTRACTORS_BEFORE))]
    unused_after = [DISTRACTORS_AFTER[k] for k in rng.permutation(len(DISTRACTORS_AFTER))]
    for _ in range(n_distractors):
        coin = rng.random() < 0.5
        if (coin and unused_before) or not unused_after:
            before.extend(_fill(unused_before.pop(), rng))
        else:
            after.extend(_fill(unused_after.pop(), rng))
    return before + pairs + after, negated, n_distractors


def generate(config: SyntheticConfig, *, split: str, offset: int = 0) -> pd.DataFrame:
    """Generate ``config.n_examples`` sentences of the synthetic task for ``split``.

    Returns one row per example with columns example_id (``synthetic-{split}-{i}``, ``i``
    counting from ``offset``), text (lowercase words joined by single spaces, no
    punctuation, so ``text.split()`` gives ``words``), words, n_words, label (1 positive,
    0 negative), label_name, gt_mask (1 on the sentiment word and on its negator), negated
    and n_distractors. ``dataset`` and ``split`` columns of the ``examples`` table are
    left to the caller.

    The draw is deterministic: a NumPy generator seeded from
    ``derive_seed(config.seed, split)`` and ``offset``. Different splits (and different
    offsets) give independent samples; ``offset`` keeps ids of batches generated
    separately apart, it does not reproduce a slice of one larger call.
    """
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must be a non-empty string, got {split!r}")
    if int(offset) != offset or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
    n = int(config.n_examples)
    rng = np.random.default_rng([derive_seed(config.seed, split), int(offset)])
    if config.balance:
        labels = np.array([0] * (n // 2) + [1] * (n // 2) + ([int(rng.integers(2))] if n % 2 else []), dtype=int)
        rng.shuffle(labels)
    else:
        labels = rng.integers(0, 2, size=n)

    rows = []
    for i, label in enumerate(labels.tolist()):
        pairs, negated, n_distractors = _example(rng, int(label), config)
        words = [w for w, _ in pairs]
        rows.append({
            "example_id": f"synthetic-{split}-{offset + i}",
            "text": " ".join(words),
            "words": words,
            "n_words": len(words),
            "label": int(label),
            "label_name": LABEL_NAMES[int(label)],
            "gt_mask": [m for _, m in pairs],
            "negated": negated,
            "n_distractors": n_distractors,
        })
    columns = ["example_id", "text", "words", "n_words", "label", "label_name", "gt_mask", "negated", "n_distractors"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"n_words": "int64", "label": "int64", "negated": "bool", "n_distractors": "int64"})


def generate_examples(n_examples: int, *, seed: int, split: str, settings: dict | None = None) -> pd.DataFrame:
    """The ``synthetic`` dataset's generator (``generated_by: synthetic``): rows of ``split`` with an ``id`` column.

    ``settings`` are the entry's ``generator`` settings (:class:`SyntheticConfig` fields).
    """
    raw = generate(SyntheticConfig(n_examples=int(n_examples), seed=seed, **dict(settings or {})), split=split)
    return raw.assign(id=raw["example_id"])
