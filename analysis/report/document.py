"""One document model for the study report: blocks rendered once to markdown and once to HTML.

A report is a :class:`Document`: a title, front matter (the answer, on the first screen) and
:class:`Section` s, each with an id that the table of contents links to. Sections are made of
blocks: :class:`Paragraph`, :class:`BulletList`, :class:`Findings`, :class:`Table` (sortable,
filterable, folded), :class:`Figure` (a file with its caption and alt text), :class:`Details`
(folded blocks) and :class:`Group` (a titled subsection). Text in blocks uses one small inline
markup, read the same way by both renderers: ``**bold**``, ``*italic*``, ```code``` and
``[text](target)``; table cells are plain text unless their column is listed in
``Table.markup``.

:func:`render_markdown` and :func:`render_html` are the only renderers (the page shells are
jinja2 templates in :mod:`analysis.report.templates`); a section never writes markdown or HTML
itself. Figures are linked from markdown by :func:`relative_link` (relative to the document)
and embedded in HTML as compact PNGs (:func:`compact_png`) at :func:`~analysis.plots.kit.display_width`.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.plots.kit import STORED_WIDTH_PX, display_width

log = logging.getLogger(__name__)

FOLD_ABOVE = 25
"""Tables with more rows are folded (``<details>``) unless a block says otherwise."""
SORTABLE_ABOVE = 8
"""Tables with more rows are sortable and filterable in HTML unless a block says otherwise."""
HTML_BUDGET_BYTES = 4_000_000
"""Largest self-contained HTML page: :func:`render_html` stores figures smaller (:data:`FIT_STEPS`) to stay within it."""


@dataclass(frozen=True)
class FigureFit:
    """How an HTML page stores its figures: the widest stored width and the colour count, for figures
    shown open and for those inside folded blocks (:class:`Details`)."""

    open_width: int = STORED_WIDTH_PX
    folded_width: int = STORED_WIDTH_PX
    open_colors: int = 256
    folded_colors: int = 256


FIT_STEPS = (FigureFit(), FigureFit(folded_width=1000), FigureFit(folded_width=800), FigureFit(folded_width=640),
             FigureFit(1000, 640), FigureFit(1000, 480), FigureFit(1000, 480, 128, 128), FigureFit(1000, 480, 128, 64))
"""Figure storage tried in turn until the page fits its budget: figures inside folded blocks shrink first,
then the open ones, to about 1.1x their display width (never below it); then all use 128 colours (smooth
colour maps band slightly), and last the folded ones 64."""


# ------------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Paragraph:
    """Running text (inline markup). ``style``: "" | "lead" (the answer) | "warning" | "note"."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Item:
    """A list item with optional sub-items."""

    text: str
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class BulletList:
    """A bulleted list of texts (or :class:`Item` s with sub-items)."""

    items: tuple[str | Item, ...]

    def __init__(self, items: Sequence[str | Item]) -> None:
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Findings:
    """Statements generated from the numbers (each carries its estimates and tests)."""

    items: tuple[str, ...]
    id: str = ""

    def __init__(self, items: Sequence[str], id: str = "") -> None:  # noqa: A002
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "id", id)


COLUMN_LABELS = {
    "pair_kind": "pair kind", "mean_low": "95% low", "mean_high": "95% high", "median_low": "median 95% low",
    "median_high": "median 95% high", "share_significant": "share with per-example p < 0.05",
    "n_eval": "examples evaluated", "n_truncated": "texts truncated", "max_length": "max tokens",
    "max_ratio": "largest weight x n", "tvd_from_uniform": "distance from uniform (TVD)",
    "near_uniform_seeds": "seeds near uniform", "aopc_comprehensiveness": "AOPC comprehensiveness",
    "aopc_sufficiency": "AOPC sufficiency", "forward_passes_per_example": "forward passes per example",
    "ig_gap_median": "IG completeness gap (median)", "ig_gap_max": "IG completeness gap (largest)",
    "ig_not_converged": "IG examples over tolerance", "one_seed_seconds": "seconds for one seed",
    "max_rss_mib": "peak memory (MiB)",
    "rows_kept": "rows kept", "rows_read": "rows read", "rows_available": "rows available",
    "label_counts": "label counts", "dropped_other_classes": "dropped (other classes)",
    "dropped_empty": "dropped (empty)",
}
"""Display names of the raw column names the report's tables show; the published CSV tables keep the raw names."""


def column_label(column: object) -> str:
    """A table column as the reader sees it: :data:`COLUMN_LABELS`, else the name with underscores as spaces."""
    name = str(column)
    return COLUMN_LABELS.get(name, name.replace("_", " "))


@dataclass
class Table:
    """A table; long ones are folded and, in HTML, sortable and filterable.

    ``folded``/``sortable``/``filterable`` left at None follow :data:`FOLD_ABOVE` and
    :data:`SORTABLE_ABOVE`. ``markup`` lists columns whose cells use the inline markup (links);
    ``column_classes`` gives a CSS class to every cell of a column (HTML only); ``groups`` is
    a header row of (label, number of columns) above the column names (in markdown, each
    column name is prefixed with its group's label).
    """

    frame: pd.DataFrame
    caption: str = ""
    folded: bool | None = None
    sortable: bool | None = None
    filterable: bool | None = None
    markup: tuple[str, ...] = ()
    column_classes: dict[str, str] = field(default_factory=dict)
    groups: tuple[tuple[str, int], ...] = ()
    digits: int = 3
    id: str = ""

    @property
    def is_folded(self) -> bool:
        return len(self.frame) > FOLD_ABOVE if self.folded is None else self.folded

    @property
    def is_sortable(self) -> bool:
        return len(self.frame) > SORTABLE_ABOVE if self.sortable is None else self.sortable

    @property
    def is_filterable(self) -> bool:
        return len(self.frame) > SORTABLE_ABOVE if self.filterable is None else self.filterable

    def cells(self) -> list[list[str]]:
        """Every cell as display text (NaN blank, floats with ``digits`` decimals)."""
        return [[format_cell(v, self.digits) for v in row] for row in self.frame.itertuples(index=False)]

    def header(self) -> list[str]:
        names = [column_label(c) for c in self.frame.columns]
        if not self.groups:
            return names
        labels = [label for label, span in self.groups for _ in range(span)]
        return [f"{g}: {c}" if g else c for g, c in zip(labels, names)]


@dataclass(frozen=True)
class Figure:
    """A figure file with its caption (inline markup) and alt text; skipped where the file is missing."""

    path: str | Path | None
    caption: str
    alt: str = ""
    key: str = ""
    style: str = ""  # "hero": the first screen's figure
    id: str = ""

    @property
    def exists(self) -> bool:
        return self.path is not None and Path(self.path).is_file()

    @property
    def alt_text(self) -> str:
        return plain_text(self.alt or self.caption)


@dataclass
class Details:
    """Blocks folded under a one-line summary."""

    summary: str
    blocks: list[Block]


@dataclass
class Group:
    """A titled subsection (its id is assigned from the title when empty)."""

    title: str
    blocks: list[Block]
    id: str = ""


Block = Paragraph | BulletList | Findings | Table | Figure | Details | Group


@dataclass
class Section:
    """One titled part of the report, built from blocks by a registered builder.

    ``findings`` are the section's generated statements (shown where its blocks put them,
    and logged); ``tables`` are written beside the summary as CSV; ``order`` places it;
    ``id`` (from the title when empty) is what the table of contents links to. ``lead``
    (sentences in plain words) and ``front`` (blocks: a verdict table, a figure) go on the
    report's first screen, the answer, before any section.
    """

    title: str
    blocks: list[Block] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    order: int = 50
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    id: str = ""
    lead: list[str] = field(default_factory=list)
    front: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.id = self.id or slug(self.title)

    @property
    def markdown(self) -> str:
        """This section alone as markdown (figure paths as given)."""
        return MarkdownRenderer().blocks(self.blocks, level=3)

    @property
    def html(self) -> str:
        """This section alone as HTML (figures embedded)."""
        return HtmlRenderer().blocks(self.blocks, level=3)


@dataclass
class Document:
    """The whole report: title, front matter (first screen), sections in order."""

    title: str
    sections: list[Section]
    front: list[Block] = field(default_factory=list)
    subtitle: str = ""
    front_id: str = "answer"
    front_title: str = "The answer"
    footer: list[Block] = field(default_factory=list)

    def assign_ids(self) -> None:
        """Give every section and group a unique id (stable: from titles, in document order)."""
        taken: set[str] = {self.front_id}
        for section in self.sections:
            section.id = _unique(section.id or slug(section.title), taken)
            for group in walk_groups(section.blocks):
                group.id = _unique(group.id or f"{section.id}-{slug(group.title)}", taken)

    def toc(self) -> list[tuple[str, str]]:
        return [(self.front_id, self.front_title), *[(s.id, s.title) for s in self.sections]]


FINDINGS_FOLD_ABOVE = 6
"""A section with more generated findings shows them folded."""


def findings_block(items: Sequence[str], *, what: str = "generated findings", id: str = "") -> Block:  # noqa: A002
    """``items`` as a :class:`Findings` block, folded under a summary when there are many."""
    block = Findings(items, id=id)
    if len(items) <= FINDINGS_FOLD_ABOVE:
        return block
    return Details(f"All {len(items)} {what}", [block])


def walk(blocks: Sequence[Block]) -> Iterator[Block]:
    """Every block, depth first (the contents of Details and Group after the container)."""
    for block in blocks:
        yield block
        if isinstance(block, (Details, Group)):
            yield from walk(block.blocks)


def walk_groups(blocks: Sequence[Block]) -> Iterator[Group]:
    return (block for block in walk(blocks) if isinstance(block, Group))


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def slug(text: str) -> str:
    """An id from a title: lower case, words joined by hyphens (``"Causal tests"`` -> ``"causal-tests"``)."""
    words = re.findall(r"[a-z0-9]+", str(text).lower())
    return "-".join(words[:8]) or "section"


# ------------------------------------------------------------------------ inline text
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*\\])\*(?![\w*])")


def inline_html(text: str) -> str:
    """The inline markup as HTML (everything else escaped)."""
    parts = _CODE.split(str(text))
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        escaped = html.escape(part, quote=False)
        escaped = _LINK.sub(lambda m: f'<a href="{m[2]}">{m[1]}</a>', escaped)
        escaped = _BOLD.sub(r"<b>\1</b>", escaped)
        escaped = _ITALIC.sub(r"<i>\1</i>", escaped)
        out.append(escaped.replace("\\*", "*"))
    return "".join(out)


def inline_markdown(text: str) -> str:
    """The inline markup for markdown: as written, with ``<`` and ``>`` outside code spans as entities.

    (GitHub would drop ``<mask>`` as an unknown tag.)
    """
    parts = _CODE.split(str(text).replace("\n", " "))
    return "".join(f"`{part}`" if index % 2 else part.replace("<", "&lt;").replace(">", "&gt;")
                   for index, part in enumerate(parts))


def plain_text(text: str) -> str:
    """The text without its inline markup (for alt text, titles and search)."""
    text = _LINK.sub(r"\1", str(text))
    text = _CODE.sub(r"\1", text)
    text = _BOLD.sub(r"\1", text)
    return _ITALIC.sub(r"\1", text).replace("\\*", "*")


def escape_markup(text: str) -> str:
    """Text that must be read literally inside marked-up text (``*`` and backticks escaped)."""
    return str(text).replace("*", "\\*").replace("`", "'")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for one: ``counted(2, "seed") == "2 seeds"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def format_cell(value: Any, digits: int = 3) -> str:
    """A table cell as text: NaN/None blank, floats with ``digits`` decimals, booleans yes/no."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.{digits}f}"
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
        return float(value)
    return None


# ------------------------------------------------------------------------------ images
def compact_png(path: str | Path, *, max_width: int = STORED_WIDTH_PX, colors: int = 256) -> bytes:
    """The figure at most ``max_width`` px wide, as a ``colors``-colour PNG when that is smaller (about 4x), else as is.

    Figures are flat colours, text and smooth colour maps, which 256 colours without dithering
    keep visually intact; a wider figure is first resized (Lanczos) to the width rule of
    :mod:`analysis.plots.kit`. The full file stays beside the results.
    """
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        rgb = image.convert("RGB")
        resized = rgb.width > max_width
        if resized:
            rgb = rgb.resize((max_width, max(1, round(rgb.height * max_width / rgb.width))), Image.Resampling.LANCZOS)
        palette = rgb.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue() if (resized or out.tell() < len(raw)) else raw


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its header."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def relative_link(target: str | Path, document: str | Path) -> str:
    """The link from the file ``document`` to ``target``, relative and with forward slashes (for markdown)."""
    start = Path(os.path.abspath(document)).parent
    relative = os.path.relpath(os.path.abspath(target), start)
    return Path(relative).as_posix().replace(" ", "%20").replace("(", "%28").replace(")", "%29")


# --------------------------------------------------------------------------- markdown
class MarkdownRenderer:
    """Blocks to GitHub-flavoured markdown; figures linked relative to ``document`` (as given when None)."""

    def __init__(self, document: str | Path | None = None) -> None:
        self.document = document

    def link(self, path: str | Path) -> str:
        return relative_link(path, self.document) if self.document is not None else Path(path).as_posix()

    def blocks(self, blocks: Sequence[Block], *, level: int) -> str:
        return "\n".join(part for block in blocks if (part := self.block(block, level=level)))

    def block(self, block: Block, *, level: int) -> str:
        if isinstance(block, Paragraph):
            text = inline_markdown(block.text)
            return f"> **{text}**\n" if block.style == "warning" else f"{text}\n"
        if isinstance(block, Findings):
            anchor = f'<a id="{block.id}"></a>\n\n' if block.id else ""
            return anchor + "".join(f"- {inline_markdown(t)}\n" for t in block.items)
        if isinstance(block, BulletList):
            lines = []
            for item in block.items:
                item = item if isinstance(item, Item) else Item(item)
                lines.append(f"- {inline_markdown(item.text)}")
                lines += [f"  - {inline_markdown(child)}" for child in item.children]
            return "\n".join(lines) + "\n"
        if isinstance(block, Table):
            return self.table(block)
        if isinstance(block, Figure):
            if not block.exists:
                return ""
            alt = block.alt_text.replace("[", "(").replace("]", ")")
            anchor = f'<a id="{block.id}"></a>\n\n' if block.id else ""
            return f"{anchor}![{alt}]({self.link(block.path)})\n\n*{inline_markdown(block.caption)}*\n"
        if isinstance(block, Details):
            return (f"<details><summary>{html.escape(plain_text(block.summary))}</summary>\n\n"
                    f"{self.blocks(block.blocks, level=level)}\n</details>\n")
        if isinstance(block, Group):
            anchor = f'<a id="{block.id}"></a>\n\n' if block.id else ""
            return f"{anchor}{'#' * level} {inline_markdown(block.title)}\n\n{self.blocks(block.blocks, level=level + 1)}"
        raise TypeError(f"not a report block: {block!r}")

    def table(self, table: Table) -> str:
        caption = f"{inline_markdown(table.caption)}\n\n" if table.caption and not table.is_folded else ""
        if table.frame.empty:
            return f"{caption}_no rows_\n"
        header = [_md_cell(h) for h in table.header()]
        markup = {i for i, c in enumerate(table.frame.columns) if c in table.markup}
        rows = ["| " + " | ".join(inline_markdown(c).replace("|", "\\|") if i in markup else _md_cell(c)
                                  for i, c in enumerate(cells)) + " |" for cells in table.cells()]
        text = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows]) + "\n"
        anchor = f'<a id="{table.id}"></a>\n\n' if table.id else ""
        if table.is_folded:  # HTML inside markdown: the summary renders as the HTML page's does, links kept
            summary = inline_html(table.caption or "Table") + f" ({len(table.frame)} rows)"
            return f"{anchor}<details><summary>{summary}</summary>\n\n{text}\n</details>\n"
        return anchor + caption + text


def _md_cell(text: str) -> str:
    return (str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("*", "\\*")
            .replace("<", "&lt;").replace(">", "&gt;"))


def render_markdown(document: Document, path: str | Path | None = None) -> str:
    """The document as markdown; figure links relative to ``path`` (the file it will be written to)."""
    from analysis.report.templates import markdown_template

    document.assign_ids()
    for section in [*document.sections, None]:
        blocks = section.blocks if section is not None else [*document.front, *document.footer]
        for block in walk(blocks):
            if isinstance(block, Figure) and not block.exists:  # dropped with its caption; links to it break
                log.warning("figure %s (%s) is missing and left out of the report%s", block.id or "(no id)",
                            block.path, f" section {section.title!r}" if section is not None else "")
    renderer = MarkdownRenderer(path)
    return markdown_template().render(
        title=inline_markdown(document.title), subtitle=inline_markdown(document.subtitle),
        toc=" · ".join(f"[{inline_markdown(title)}](#{id_})" for id_, title in document.toc()),
        front_id=document.front_id, front=renderer.blocks(document.front, level=3),
        sections=[{"id": s.id, "title": inline_markdown(s.title), "body": renderer.blocks(s.blocks, level=3)}
                  for s in document.sections],
        footer=renderer.blocks(document.footer, level=3),
    ).strip() + "\n"


# -------------------------------------------------------------------------------- HTML
class HtmlRenderer:
    """Blocks to HTML; figures embedded as compact PNGs (one encoding per file and storage, however often shown).

    Figures are stored as ``fit`` says, open ones and those inside folded blocks (:class:`Details`)
    each at their own width and colour count. An open figure keeps the display width of its
    full-size file; a folded one shrinks with its stored width.
    """

    def __init__(self, fit: FigureFit = FigureFit()) -> None:
        self._images: dict[tuple[str, int, int], tuple[str, int]] = {}
        self.fit = fit
        self._folded = 0

    def image(self, path: str | Path) -> tuple[str, int]:
        """(data URI, display width in px) of a figure file."""
        folded = bool(self._folded)
        width = self.fit.folded_width if folded else self.fit.open_width
        colors = self.fit.folded_colors if folded else self.fit.open_colors
        key = (str(Path(path).resolve()), width, colors)
        if key not in self._images:
            data = compact_png(path, max_width=width, colors=colors)
            stored = png_size(data)[0]
            if not folded:
                with open(path, "rb") as handle:
                    shown = display_width(min(png_size(handle.read(24))[0], STORED_WIDTH_PX))
            else:
                shown = display_width(stored) if width == STORED_WIDTH_PX else min(display_width(stored), stored)
            self._images[key] = (f"data:image/png;base64,{base64.b64encode(data).decode()}", shown)
        return self._images[key]

    def blocks(self, blocks: Sequence[Block], *, level: int) -> str:
        return "".join(self.block(block, level=level) for block in blocks)

    def block(self, block: Block, *, level: int) -> str:
        if isinstance(block, Paragraph):
            css = f' class="{block.style}"' if block.style else ""
            return f"<p{css}>{inline_html(block.text)}</p>"
        if isinstance(block, Findings):
            ident = f' id="{block.id}"' if block.id else ""
            return f'<ul class="findings"{ident}>' + "".join(f"<li>{inline_html(t)}</li>" for t in block.items) + "</ul>"
        if isinstance(block, BulletList):
            parts = []
            for item in block.items:
                item = item if isinstance(item, Item) else Item(item)
                children = ("<ul>" + "".join(f"<li>{inline_html(c)}</li>" for c in item.children) + "</ul>"
                            if item.children else "")
                parts.append(f"<li>{inline_html(item.text)}{children}</li>")
            return "<ul>" + "".join(parts) + "</ul>"
        if isinstance(block, Table):
            return self.table(block)
        if isinstance(block, Figure):
            if not block.exists:
                return ""
            source, width = self.image(block.path)
            ident = f' id="{block.id}"' if block.id else ""
            css = f' class="{block.style}"' if block.style else ""
            return (f'<figure{ident}{css}><img alt="{html.escape(block.alt_text)}" width="{width}" src="{source}">'
                    f"<figcaption>{inline_html(block.caption)}</figcaption></figure>")
        if isinstance(block, Details):
            self._folded += 1
            try:
                inner = self.blocks(block.blocks, level=level)
            finally:
                self._folded -= 1
            return f"<details><summary>{inline_html(block.summary)}</summary>{inner}</details>"
        if isinstance(block, Group):
            tag = f"h{min(level, 6)}"
            ident = f' id="{block.id}"' if block.id else ""
            return (f"<section{ident}><{tag}>{inline_html(block.title)}</{tag}>"
                    f"{self.blocks(block.blocks, level=level + 1)}</section>")
        raise TypeError(f"not a report block: {block!r}")

    def table(self, table: Table) -> str:
        if table.frame.empty:
            caption = f"<p>{inline_html(table.caption)}</p>" if table.caption else ""
            return f"{caption}<p><em>no rows</em></p>"
        classes = ["t"] + (["sortable"] if table.is_sortable else [])
        head = ""
        if table.groups:
            head += "<tr>" + "".join(f'<th colspan="{span}" class="group">{html.escape(label)}</th>'
                                     for label, span in table.groups) + "</tr>"
        head += "<tr>" + "".join(f"<th>{html.escape(column_label(c))}</th>" for c in table.frame.columns) + "</tr>"
        markup = {i for i, c in enumerate(table.frame.columns) if c in table.markup}
        css = [table.column_classes.get(c, "") for c in table.frame.columns]
        body = []
        for raw, cells in zip(table.frame.itertuples(index=False), table.cells()):
            row = []
            for i, (value, text) in enumerate(zip(raw, cells)):
                attributes = f' class="{css[i]}"' if css[i] else ""
                number = _number(value)
                if number is not None:
                    attributes += f' data-v="{number:.6g}"'
                row.append(f"<td{attributes}>{inline_html(text) if i in markup else html.escape(text)}</td>")
            body.append("<tr>" + "".join(row) + "</tr>")
        ident = f' id="{table.id}"' if table.id else ""
        caption = f"<caption>{inline_html(table.caption)}</caption>" if table.caption and not table.is_folded else ""
        text = (f'<table{ident} class="{" ".join(classes)}">{caption}<thead>{head}</thead>'
                f'<tbody>{"".join(body)}</tbody></table>')
        if table.is_filterable:
            text = (f'<div class="filtered"><input class="filter" type="search" placeholder="filter rows" '
                    f'aria-label="filter rows">{text}</div>')
        text = f'<div class="scroll">{text}</div>'
        if table.is_folded:
            summary = inline_html(table.caption or "Table") + f" ({len(table.frame)} rows)"
            return f"<details><summary>{summary}</summary>{text}</details>"
        return text


def render_html(document: Document, *, max_bytes: int | None = HTML_BUDGET_BYTES) -> str:
    """The document as one self-contained HTML page (styles, script and figures inline).

    When the page is over ``max_bytes``, figures are stored smaller (:data:`FIT_STEPS`: folded ones
    first, narrower, then in fewer colours) until it fits; the smallest try is returned either way
    (publishing checks the budget and says what is large).
    """
    for fit in FIT_STEPS if max_bytes else FIT_STEPS[:1]:
        page = _render_page(document, HtmlRenderer(fit))
        if max_bytes is None or len(page.encode()) <= max_bytes:
            break
    return page


def _render_page(document: Document, renderer: HtmlRenderer) -> str:
    from analysis.report.templates import PAGE_SCRIPT, PAGE_STYLE, page_template

    document.assign_ids()
    return page_template().render(
        title=plain_text(document.title), heading=inline_html(document.title),
        subtitle=inline_html(document.subtitle), toc=[{"id": i, "title": plain_text(t)} for i, t in document.toc()],
        front_id=document.front_id, front=renderer.blocks(document.front, level=3),
        sections=[{"id": s.id, "title": inline_html(s.title), "body": renderer.blocks(s.blocks, level=3)}
                  for s in document.sections],
        footer=renderer.blocks(document.footer, level=3), style=PAGE_STYLE, script=PAGE_SCRIPT,
    )
