"""The console's server-side SVG charts: well-formed, accessible (an image with a title and a
description that says the numbers), every number written on the chart, no inline style (CSP), and
series told apart by more than colour."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from api.console import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    for element in root.iter():
        assert "style" not in element.attrib and element.tag != f"{SVG}style"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_the_axis_has_whole_steps_and_few_ticks():
    assert charts.axis(0) == (1, 4)
    assert charts.axis(3) == (1, 3)
    assert charts.axis(10) == (2, 5)
    assert charts.axis(13) == (5, 3)
    assert charts.axis(23) == (5, 5)
    assert charts.axis(101) == (50, 3)
    assert charts.axis(1234) == (500, 3)


def test_grouped_bars_write_every_number_and_the_legend():
    svg = charts.grouped_bars(
        "参与",
        ["一周", "两<周>&", "空周"],
        [charts.BOOKED, charts.ATTENDED, charts.NO_SHOWS],
        [[5, 12, 0], [4, 10, 0], [1, 0, 0]],
        description="说明 <b>",
    )
    root = parse(svg)
    words = texts(root)
    assert words[:3] == ["预约", "到场", "爽约"]  # the legend
    assert words[3:7] == ["0", "5", "10", "15"]  # the axis: 0–15 by 5
    assert words[7:] == ["5", "4", "1", "一周", "12", "10", "0", "两<周>&", "空周"]
    assert root.find(f"{SVG}desc").text == "说明 <b>"  # type: ignore[union-attr]
    # the no-shows are hatched (a pattern), the others solid: told apart without colour
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("height") not in ("12",)]
    assert any(r.get("fill", "").startswith("url(#") for r in bars)
    # a zero bar is drawn as nothing but its number; an all-zero group as nothing at all
    assert len([r for r in bars if r.get("fill") == charts.ATTENDED.fill]) == 2


def test_two_charts_on_a_page_do_not_share_ids():
    one = parse(charts.grouped_bars("a", ["x"], [charts.NO_SHOWS], [[1]], description="d"))
    two = parse(charts.grouped_bars("b", ["x"], [charts.NO_SHOWS], [[1]], description="d"))
    ids = lambda root: {e.get("id") for e in root.iter() if e.get("id")}  # noqa: E731
    assert ids(one) and not ids(one) & ids(two)


def test_an_empty_chart_says_so():
    root = parse(charts.grouped_bars("a", ["x", "y"], [charts.BOOKED], [[0, 0]], description="d", empty="没有活动"))
    assert "没有活动" in texts(root)


def test_the_weekly_chart_describes_the_weeks_in_words():
    weeks = [
        {
            "week_start": date(2026, 11, 23),
            "current": False,
            "activities": 0,
            "booked": 0,
            "attended": 0,
            "no_shows": 0,
        },
        {"week_start": date(2026, 11, 30), "current": True, "activities": 2, "booked": 7, "attended": 5, "no_shows": 1},
    ]
    root = parse(charts.weekly_chart(weeks))
    assert root.find(f"{SVG}title").text == "近2周活动参与"  # type: ignore[union-attr]
    assert "11月30日那周（本周）：2场活动，预约7，到场5，爽约1" in root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert {"11/23", "11/30", "本周", "7", "5", "1"} <= set(texts(root))


def test_the_funnel_names_each_stage_and_its_number():
    figures = {"title": "读书会", "booked": 20, "attended": 16, "posts": 3, "shares": 5, "share_opens": 40}
    figures["bookings_from_shares"] = 0
    root = parse(charts.loop_funnel(figures))
    assert texts(root) == [
        "预约",
        "20",
        "到场",
        "16",
        "发布动态",
        "3",
        "分享",
        "5",
        "打开分享",
        "40",
        "分享带来预约",
        "0",
    ]
    assert root.find(f"{SVG}desc").text == (  # type: ignore[union-attr]
        "“读书会”的传播闭环：预约20，到场16，发布动态3，分享5，打开分享40，分享带来预约0。"
    )
    # bars are centred and scaled to the largest stage; nothing is drawn for a zero
    widths = [
        float(r.get("width", 0))
        for r in root.iter(f"{SVG}rect")
        if r.get("fill", "").startswith("#") and r.get("fill") != "#f5f7fa"
    ]
    assert len(widths) == 5 and max(widths) == widths[4] and widths[0] == widths[4] / 2
