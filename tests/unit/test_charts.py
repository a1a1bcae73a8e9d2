"""The console's server-drawn charts (``shared/shell/console/charts.py``): the numbers, the
accessible names, escaping, and the table that goes with every chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from leadrelay.shared.shell.console.charts import (
    BarChart,
    Series,
    Table,
    bar_chart_svg,
    chart_table,
    format_number,
    side_by_side,
    table_html,
)

SVG = "{http://www.w3.org/2000/svg}"


def leads_chart(**overrides: object) -> BarChart:
    values = dict(categories=("rep-a", "rep-b", "rep-c"), current=(10, 4, 0), proposed=(5, 5, 4),
                  chart_id="per-rep", title="Leads per rep", description="Current vs proposed",
                  current_name="current", proposed_name="proposed", category_label="rep", value_label="leads")
    values.update(overrides)
    categories, current, proposed = values.pop("categories"), values.pop("current"), values.pop("proposed")
    return side_by_side(categories, current, proposed, **values)  # type: ignore[arg-type]


def test_a_bar_per_rep_and_series_whose_length_is_proportional_to_its_value():
    root = ET.fromstring(str(bar_chart_svg(leads_chart())))
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 6
    widths = {(bar.get("data-series"), bar.findtext(f"{SVG}title").split(" — ")[0]): float(bar.get("width"))
              for bar in bars}
    assert widths[("current", "rep-a")] == pytest.approx(2 * widths[("proposed", "rep-a")])  # 10 = 2 x 5
    assert widths[("current", "rep-c")] == 0
    assert widths[("current", "rep-a")] > widths[("proposed", "rep-b")] > 0
    assert widths[("proposed", "rep-a")] == pytest.approx(widths[("proposed", "rep-b")])


def test_the_svg_is_labelled_by_its_title_and_description_and_every_bar_says_its_value():
    root = ET.fromstring(str(bar_chart_svg(leads_chart())))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "per-rep-title per-rep-desc"
    assert root.find(f"{SVG}title").get("id") == "per-rep-title"
    assert root.find(f"{SVG}title").text == "Leads per rep"
    assert root.find(f"{SVG}desc").text == "Current vs proposed"
    titles = [bar.findtext(f"{SVG}title") for bar in root.findall(f".//{SVG}rect[@class='bar']")]
    assert "rep-a — current: 10 leads" in titles and "rep-c — proposed: 4 leads" in titles


def test_text_from_a_policy_is_escaped_everywhere():
    hostile = '<script>alert("x")</script>&'
    chart = leads_chart(categories=(hostile, "b", "c"), title=hostile, description=hostile, current_name=hostile)
    svg = str(bar_chart_svg(chart))
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # still well-formed XML
    assert root.find(f"{SVG}title").text == hostile
    html = str(table_html(chart_table(chart)))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_an_all_zero_chart_draws_empty_bars_rather_than_dividing_by_zero():
    root = ET.fromstring(str(bar_chart_svg(leads_chart(current=(0, 0, 0), proposed=(0, 0, 0)))))
    assert {bar.get("width") for bar in root.findall(f".//{SVG}rect[@class='bar']")} == {"0.0"}


def test_the_chart_id_cannot_break_out_of_its_attribute():
    svg = str(bar_chart_svg(leads_chart(chart_id='a" onload="x')))
    assert 'onload="x' not in svg
    assert ET.fromstring(svg).get("id") == "a--onload--x"


def test_the_paired_table_holds_the_same_numbers():
    table = chart_table(leads_chart())
    assert table.caption == "Leads per rep"
    assert table.columns == ("rep", "current", "proposed")
    assert table.rows == (("rep-a", "10", "5"), ("rep-b", "4", "5"), ("rep-c", "0", "4"))
    assert table.numeric == (False, True, True)
    html = str(table_html(table))
    assert "<caption>Leads per rep</caption>" in html
    assert '<th scope="row">rep-a</th><td class="num">10</td><td class="num">5</td>' in html


def test_a_series_must_have_a_value_per_category_and_none_negative():
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        BarChart("c", "t", "d", ("a", "b", "c"), (Series("s", (1.0, 2.0)),))
    with pytest.raises(ValueError, match="negative"):
        BarChart("c", "t", "d", ("a",), (Series("s", (-1.0,)),))
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        Table("t", ("a", "b"), (("x",),))


def test_counts_read_as_counts_and_ratios_with_two_decimals():
    assert format_number(12.0) == "12"
    assert format_number(0.3333) == "0.33"
