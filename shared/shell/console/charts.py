"""Charts for the console, drawn on the server as SVG: no script, no CDN, readable by a screen reader.

Every chart is paired with a table holding the same numbers (:func:`chart_table`), so nothing a
chart says is only in its picture. An SVG carries ``role="img"``, a ``<title>`` and a ``<desc>``
it is labelled by, and a ``<title>`` on every bar ("rep-a — proposed: 12"), which browsers show
as a tooltip. Every text is escaped: rep ids and rule names come from a policy someone typed.

Pure: numbers in, markup out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["BarChart", "Series", "Table", "bar_chart_svg", "chart_table", "format_number", "side_by_side",
           "table_html"]

# Series colours (Okabe-Ito: told apart with the common colour-vision deficiencies), in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


@dataclass(frozen=True)
class Series:
    """One set of values, one per category of the chart (``current``, ``proposed``)."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars: one group per category (a rep), one bar per series in each group."""

    chart_id: str  # unique on the page: the ids of the title and description derive from it
    title: str
    description: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    category_label: str = ""  # the table's first column heading
    value_label: str = ""  # what the values count ("leads")

    def __post_init__(self) -> None:
        for series in self.series:
            if len(series.values) != len(self.categories):
                raise ValueError(f"series {series.name!r} has {len(series.values)} values "
                                 f"for {len(self.categories)} categories")
            if any(value < 0 for value in series.values):
                raise ValueError(f"series {series.name!r} has a negative value: bars start at 0")


@dataclass(frozen=True)
class Table:
    """A table's model: the caption, the headings, the rows of cell texts (escaped when rendered),
    and which columns hold numbers (aligned right)."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row has {len(row)} cells for {len(self.columns)} columns")
        if self.numeric and len(self.numeric) != len(self.columns):
            raise ValueError("numeric must say for every column whether it holds numbers")

    def is_numeric(self, column: int) -> bool:
        return bool(self.numeric) and self.numeric[column]


def format_number(value: float) -> str:
    """``12`` for whole numbers, else two decimals: counts read as counts."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def chart_table(chart: BarChart) -> Table:
    """The chart's numbers as a table: a row per category, a column per series."""
    rows = tuple(
        (category, *(format_number(series.values[index]) for series in chart.series))
        for index, category in enumerate(chart.categories)
    )
    return Table(caption=chart.title, columns=(chart.category_label, *(series.name for series in chart.series)),
                 rows=rows, numeric=(False, *(True for _ in chart.series)))


# Geometry, in SVG user units (the SVG scales to its container's width through its viewBox).
_WIDTH = 640
_LABEL_WIDTH = 150
_VALUE_GAP = 40  # room right of the longest bar for its value
_BAR = 14
_BAR_GAP = 2
_GROUP_GAP = 10
_TOP = 34  # room for the legend
_BOTTOM = 8
_CHARS_IN_LABEL = 22


def _id(text: str) -> str:
    """A safe XML id from the chart's id."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text) or "chart"


def _short(label: str) -> str:
    return label if len(label) <= _CHARS_IN_LABEL else label[: _CHARS_IN_LABEL - 1] + "…"


def bar_chart_svg(chart: BarChart) -> Markup:
    """The chart as an inline SVG element."""
    base = _id(chart.chart_id)
    groups = len(chart.categories)
    per_group = max(len(chart.series), 1) * (_BAR + _BAR_GAP) - _BAR_GAP
    height = _TOP + groups * (per_group + _GROUP_GAP) + _BOTTOM
    largest = max((value for series in chart.series for value in series.values), default=0.0)
    span = _WIDTH - _LABEL_WIDTH - _VALUE_GAP
    scale = span / largest if largest > 0 else 0.0

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{base}" role="img" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{base}-title {base}-desc">',
        f'<title id="{base}-title">{escape(chart.title)}</title>',
        f'<desc id="{base}-desc">{escape(chart.description)}</desc>',
    ]
    # The legend: a swatch and the series name, left to right.
    x = _LABEL_WIDTH
    for position, series in enumerate(chart.series):
        colour = PALETTE[position % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}" aria-hidden="true"/>')
        parts.append(f'<text x="{x + 16}" y="18" font-size="12" class="legend">{escape(series.name)}</text>')
        x += 24 + 8 * len(series.name)
    y = _TOP
    for index, category in enumerate(chart.categories):
        parts.append(f'<g class="bar-group"><text x="{_LABEL_WIDTH - 6}" y="{y + per_group / 2 + 4:.1f}" '
                     f'font-size="12" text-anchor="end" class="category">'
                     f'<title>{escape(category)}</title>{escape(_short(category))}</text>')
        for position, series in enumerate(chart.series):
            value = series.values[index]
            colour = PALETTE[position % len(PALETTE)]
            length = value * scale
            label = f"{category} — {series.name}: {format_number(value)}"
            if chart.value_label:
                label += f" {chart.value_label}"
            parts.append(f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{_BAR}" fill="{colour}" '
                         f'class="bar" data-series="{escape(series.name)}" data-value="{format_number(value)}">'
                         f'<title>{escape(label)}</title></rect>')
            parts.append(f'<text x="{_LABEL_WIDTH + length + 4:.1f}" y="{y + _BAR - 3}" font-size="11" '
                         f'class="value" aria-hidden="true">{format_number(value)}</text>')
            y += _BAR + _BAR_GAP
        y += _GROUP_GAP - _BAR_GAP
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def table_html(table: Table, *, table_class: str = "data") -> Markup:
    """The table as HTML (a caption, headings with ``scope``, numbers aligned right)."""
    head = "".join(f'<th scope="col"{_num(table, i)}>{escape(name)}</th>' for i, name in enumerate(table.columns))
    body = []
    for row in table.rows:
        cells = [f'<th scope="row">{escape(row[0])}</th>' if row else ""]
        cells += [f"<td{_num(table, i + 1)}>{escape(cell)}</td>" for i, cell in enumerate(row[1:])]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return Markup(f'<table class="{escape(table_class)}"><caption>{escape(table.caption)}</caption>'
                  f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _num(table: Table, column: int) -> str:
    return ' class="num"' if table.is_numeric(column) else ""


def side_by_side(categories: Sequence[str], current: Sequence[float], proposed: Sequence[float], *,
                 chart_id: str, title: str, description: str, current_name: str, proposed_name: str,
                 category_label: str = "", value_label: str = "") -> BarChart:
    """A chart of two series over the same categories: what is in force, and what is proposed."""
    return BarChart(chart_id=chart_id, title=title, description=description, categories=tuple(categories),
                    series=(Series(current_name, tuple(float(v) for v in current)),
                            Series(proposed_name, tuple(float(v) for v in proposed))),
                    category_label=category_label, value_label=value_label)
