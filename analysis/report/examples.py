"""The per-example view: one self-contained HTML page of explained examples, words coloured by every method.

For each run (dataset x model x seed) the page holds up to ``max_examples`` explained examples
(the first by id); for each, every method's *signed* score of every word (red positive, blue
negative, white zero), as a share of the method's largest |score| on that example, with the
value on hover, and the prediction and the label; words known to matter (a planted shortcut
token, a human rationale) are underlined. Selects pick dataset, model, seed and example
(a small inline script, no CDN). Datasets under a content warning are left out unless the config
shows their examples (:func:`analysis.report.data.examples_shown`). The page keeps within
``max_bytes``: it halves the examples per run until it fits, and says so.

Scores are stored twice: as integers in [-999, 999] of each method's largest |score| on the
example (with that maximum), which set the colour, and rounded to three significant digits,
sign kept, which the hover shows (a score a thousand times smaller than the example's largest
would read 0 from the integers); words are stored once per dataset and example. The data are
embedded as JSON with every ``<`` escaped (:func:`embedded_json`), so no text can end or
reopen a script. Publishing marks which examples its sampled data hold
(:func:`mark_published`); the page written with the study claims nothing about them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.plots.style import method_label, sort_methods

log = logging.getLogger(__name__)

MAX_EXAMPLES = 12
"""Examples per run shown at most (the first by id)."""
MAX_WORDS = 160
"""Words per example shown at most (the first ones; the rest are counted)."""
MAX_BYTES = 4_000_000
"""Size budget of the page."""
DATA_NOTE = ("Every explained example's scores are in its run's importance.parquet (results/<study>/<dataset>/<model>/"
             "<seed>/); a published report's data/importance.parquet holds those that fit its size budget (its DATA.md "
             "says which).")
"""What the page says of where its examples' scores are, until publishing says which it holds (:func:`mark_published`)."""
DATA_BLOCK = re.compile(r'(<script type="application/json" id="data">)(.*?)(</script>)', re.S)
COLUMNS = ["example_id", "method", "family", "signed", "word_index", "word", "score", "predicted", "label",
           "n_words", "dataset", "model", "seed"]


def _label_names(config: dict[str, Any], dataset: str) -> list[str]:
    from analysis.data import dataset_spec

    try:
        return list(dataset_spec(config, dataset).label_names)
    except (KeyError, ValueError):
        return []


PLANTED = "the planted shortcut token"
RATIONALE = "the annotators' rationale"
BY_CONSTRUCTION = "the words that decide the label by construction"
MARKED = "the words the data mark as deciding (gt_mask)"


def known_causes(config: dict[str, Any], explain_paths: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """Per dataset, the words known to matter in each explained example: ``{"kind": what they are,
    "examples": {example_id: [word indices]}}``, for the datasets that know any.

    A planted shortcut (``shortcut_index`` >= 0) is the token the label was made to follow; otherwise
    ``gt_mask``: the human rationale of a dataset read from a source, or the deciding words of a
    generated one. Examples without any are left out.
    """
    from analysis.data import dataset_spec

    known: dict[str, dict[str, Any]] = {}
    for path in explain_paths:
        table = pd.read_parquet(path)
        if table.empty:
            continue
        dataset = str(table["dataset"].iloc[0])
        marked: dict[str, list[int]] = {}
        if "shortcut_index" in table:
            kind = PLANTED
            for example_id, index in zip(table["example_id"], table["shortcut_index"]):
                if pd.notna(index) and int(index) >= 0:
                    marked[str(example_id)] = [int(index)]
        else:
            try:
                kind = BY_CONSTRUCTION if dataset_spec(config, dataset).generator is not None else RATIONALE
            except (KeyError, ValueError):  # not a dataset of this config: say only what the data say
                kind = MARKED
            for example_id, mask in zip(table["example_id"], table["gt_mask"]):
                words = [i for i, v in enumerate(mask if mask is not None else []) if int(v)]
                if words:
                    marked[str(example_id)] = words
        if marked:
            known[dataset] = {"kind": kind, "examples": marked}
    return known


def examples_data(config: dict[str, Any], frames: Sequence[pd.DataFrame], *, max_examples: int = MAX_EXAMPLES,
                  max_words: int = MAX_WORDS, order: dict[str, Sequence[str]] | None = None,
                  known: dict[str, dict[str, Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The page's data (runs, examples, scores, words once per dataset) and the datasets left out.

    Each run shows its first ``max_examples`` examples in its dataset's ``order`` (None: by id);
    ``known`` (:func:`known_causes`) marks the words known to matter, and names their kind for the
    datasets shown. A method's scores on an example are ``[max |score|, integers in [-999, 999] of
    it (the colour), scores to three significant digits (the hover)]``, None where a word has none.
    """
    from analysis.report.data import examples_shown, first_examples

    runs, texts, methods, hidden = [], {}, {}, []
    for frame in frames:
        if frame.empty:
            continue
        for (dataset, model, seed), run in frame.groupby(["dataset", "model", "seed"], sort=True):
            if not examples_shown(config, str(dataset)):
                hidden.append(str(dataset))
                continue
            ids = first_examples(run["example_id"].unique(), (order or {}).get(str(dataset)), max_examples)
            run = run[run["example_id"].isin(ids)]
            words = texts.setdefault(str(dataset), {})
            examples = []
            for example_id in ids:
                example = run[run["example_id"] == example_id]
                first = example.iloc[0]
                if example_id not in words:
                    tokens = example.drop_duplicates("word_index").sort_values("word_index")
                    words[example_id] = [str(w) for w in tokens["word"].head(max_words)]
                shown = len(words[example_id])
                scores = {}
                for method, part in example.groupby("method", sort=False):
                    values = part.set_index("word_index")["score"].astype(float)
                    scale = float(np.nanmax(np.abs(values.to_numpy()))) if values.notna().any() else 0.0
                    grid = values.reindex(range(shown))
                    quantised = [None if not np.isfinite(v) else (0 if scale == 0 else int(round(999 * v / scale)))
                                 for v in grid.to_numpy()]
                    shown_values = [None if not np.isfinite(v) else float(f"{v:.3g}") for v in grid.to_numpy()]
                    scores[str(method)] = [float(f"{scale:.4g}"), quantised, shown_values]
                    methods.setdefault(str(method), [method_label(method), str(part["family"].iloc[0]),
                                                     bool(part["signed"].iloc[0])])
                cause = (known or {}).get(str(dataset), {}).get("examples", {}).get(str(example_id))
                examples.append({"id": str(example_id), "label": int(first["label"]),
                                 "predicted": int(first["predicted"]), "n": int(first["n_words"]), "scores": scores,
                                 **({"known": [i for i in cause if i < shown]} if cause else {})})
            runs.append({"dataset": str(dataset), "model": str(model), "seed": int(seed),
                         "labels": _label_names(config, str(dataset)), "examples": examples})
    kinds = {dataset: entry["kind"] for dataset, entry in (known or {}).items() if dataset in texts}
    data = {"runs": runs, "texts": texts, "methods": methods, "order": sort_methods(methods), "known": kinds,
            "published": DATA_NOTE}
    return data, sorted(set(hidden))


def embedded_json(data: dict[str, Any]) -> str:
    """``data`` as JSON to embed in ``<script type="application/json">``: every ``<`` escaped as ``\\u003c``
    (JSON's own escape; ``JSON.parse`` reads it back), so no text (``</script>``, ``<!--<script>``) can end the
    block or put the HTML parser into a script state that swallows the page's script."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def page_data(page: str) -> dict[str, Any]:
    """The data embedded in a page :func:`write_examples_page` wrote."""
    match = DATA_BLOCK.search(page)
    if match is None:
        raise ValueError("not a per-example page of this code version (no embedded data block); rerun the "
                         "examples_page rule")
    return json.loads(match[2])


def mark_published(page: str, published: Collection[tuple[str, str, int, str]], *,
                   where: str = "data/importance.parquet") -> tuple[str, int, int]:
    """The page with each example marked as held by the published data (``published``: (dataset, model, seed,
    example id)) or not, and its note on the data saying how many are; returns the page, the examples it shows
    and how many of them the data hold."""
    data = page_data(page)
    shown = held = 0
    for run in data["runs"]:
        for example in run["examples"]:
            example["in_data"] = (run["dataset"], run["model"], int(run["seed"]), example["id"]) in published
            shown, held = shown + 1, held + example["in_data"]
    if held == shown:
        data["published"] = f"The published data ({where}) hold the scores of every example shown here."
    else:
        data["published"] = (f"The published data ({where}) are a sample, to keep the report within its size "
                             f"budget: they hold {held:,} of the {shown:,} run x example pairs shown here (each "
                             "example says whether); every explained example's scores are in its run's "
                             "importance.parquet under results/.")
    match = DATA_BLOCK.search(page)
    return page[:match.start(2)] + embedded_json(data) + page[match.end(2):], shown, held


def write_examples_page(config: dict[str, Any], *, importance_paths: Sequence[str | Path], out_html: str | Path,
                        max_examples: int = MAX_EXAMPLES, max_words: int = MAX_WORDS, max_bytes: int = MAX_BYTES,
                        summary_link: str | None = "summary.html", order: dict[str, Sequence[str]] | None = None,
                        known: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write the per-example page from the per-run ``importance`` tables; returns its path.

    ``order`` (each dataset's explain order) picks the examples shown: the first of it, the
    same for every model and seed and among the published data's sample; without it, the
    first by id. Only those examples' rows are read. ``known`` (:func:`known_causes`)
    underlines the words known to matter (a planted token, a human rationale).
    """
    from analysis.report.data import read_sample
    from analysis.report.templates import EXAMPLES_SCRIPT, EXAMPLES_STYLE, examples_template

    frames = [read_sample(path, order, max_examples, columns=COLUMNS) for path in importance_paths]
    title = f"Per-example view: {config.get('title', config.get('study', 'study'))}"
    which = ("the first in each dataset's explain order, a stratified random order: the same examples for every "
             "model and seed" if order else "the first by id")
    cap = max_examples
    while True:
        data, hidden = examples_data(config, frames, max_examples=cap, max_words=max_words, order=order, known=known)
        notes = [f"Up to {cap} explained examples per run ({which}) and the first {max_words} words of each are "
                 "shown."]
        if hidden:
            notes.append(f"Left out under a content warning: {', '.join(hidden)} (set report.show_offensive_examples: "
                         "true to show them).")
        page = examples_template().render(
            title=title, summary_link=summary_link, notes=notes, style=EXAMPLES_STYLE, script=EXAMPLES_SCRIPT,
            intro=("Each explained example's words coloured by each method's signed score for the predicted class "
                   "(red: supports it, blue: speaks against it; attention weights are never negative), as a share "
                   "of that method's largest |score| on the example."
                   + (" Underlined: words known to matter (" + "; ".join(
                       f"{dataset}: {kind}" for dataset, kind in sorted(data["known"].items())) + ")."
                      if data["known"] else "")),
            data=embedded_json(data))
        if len(page.encode()) <= max_bytes or cap <= 1:
            break
        cap = max(1, cap // 2)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    log.info("wrote %s (%.2f MB, %d runs, up to %d examples each)", out, out.stat().st_size / 1e6, len(data["runs"]),
             cap)
    if len(page.encode()) > max_bytes:
        log.warning("%s is %.2f MB at one example per run, over its %.2f MB budget: publishing will refuse it; "
                    "explain fewer runs or methods", out, len(page.encode()) / 1e6, max_bytes / 1e6)
    return out
