"""Small charts drawn on the server as SVG: no script, nothing to load, and they print.

Each chart is self-contained: sizes, colours and fonts are SVG presentation attributes (the
console's CSP forbids `style` attributes and elements, not these), so it looks the same on any
page that embeds it. Each is an image with a title and a description that says every number in
words (`role="img"`, `aria-labelledby`), and every bar carries its number as text, so nothing
is told by colour alone; the series also differ by outline and hatching, which survive a
black-and-white printer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import count
from typing import Any

from markupsafe import Markup, escape

FONT = (
    '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", '
    "system-ui, sans-serif"
)
INK = "#1f2933"
MUTED = "#52606d"
GRID = "#d9e2ec"

_ids = count(1)


@dataclass(frozen=True)
class Series:
    """One series of a bar chart: its name (the legend's words) and how its bars are drawn."""

    name: str
    fill: str
    stroke: str
    hatch: bool = False


# the three series of the weekly chart: an outlined bar, a solid bar, a hatched bar
BOOKED = Series("预约", fill="#dbeafe", stroke="#1d4ed8")
ATTENDED = Series("到场", fill="#0b6e4f", stroke="#0b6e4f")
NO_SHOWS = Series("爽约", fill="#b42318", stroke="#b42318", hatch=True)


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(
    x: float, y: float, words: str, *, size: int = 12, fill: str = INK, anchor: str = "start", bold: bool = False
) -> str:
    weight = ' font-weight="600"' if bold else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{weight}>'
        f"{escape(words)}</text>"
    )


def axis(highest: int, most_ticks: int = 5) -> tuple[int, int]:
    """(step, ticks) of a whole-number axis that reaches `highest`: the step is 1, 2 or 5 × 10ⁿ,
    the smallest that needs at most `most_ticks` ticks; an empty chart gets 0–4."""
    if highest <= 0:
        return 1, 4
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            ticks = -(-highest // step)
            if ticks <= most_ticks:
                return step, ticks
        power *= 10


def _open(width: int, height: int, title: str, description: str, prefix: str) -> tuple[list[str], str]:
    ident = f"{prefix}-{next(_ids)}"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="linli-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'font-family="{escape(FONT)}" data-chart="{prefix}">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(description)}</desc>',
    ], ident


def _swatch(series: Series, x: float, y: float, w: float, h: float, pattern: str) -> str:
    fill = f"url(#{pattern})" if series.hatch else series.fill
    return (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{escape(fill)}" '
        f'stroke="{escape(series.stroke)}" stroke-width="1.5"/>'
    )


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    values: Sequence[Sequence[int]],
    *,
    description: str,
    empty: str = "没有数据",
    width: int = 760,
    height: int = 300,
) -> Markup:
    """Bars side by side per label (a week), one per series, each with its number above it.
    `values[s][i]` is series `s` at label `i`. Groups that are all zero get no bars or numbers."""
    assert all(len(row) == len(labels) for row in values) and len(values) == len(series)
    parts, ident = _open(width, height, title, description, "bars")
    hatch = f"{ident}-hatch"
    hatched = next((s for s in series if s.hatch), None)
    if hatched is not None:
        parts.append(
            f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{escape(hatched.stroke)}" stroke-width="3"/></pattern></defs>'
        )
    left, right, top, bottom = 44, 12, 44, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    # the legend, in words and with the bars' own look
    x = left
    for s in series:
        parts.append(_swatch(s, x, 12, 16, 12, hatch))
        parts.append(_text(x + 22, 23, s.name, size=13))
        x += 22 + 14 * len(s.name) + 24
    highest = max((v for row in values for v in row), default=0)
    if highest == 0:
        parts.append(_text(left + plot_w / 2, top + plot_h / 2, empty, size=14, fill=MUTED, anchor="middle"))
    step, ticks = axis(highest)
    ceiling = step * ticks
    for t in range(ticks + 1):
        value = step * t
        y = top + plot_h - plot_h * t / ticks
        parts.append(
            f'<line x1="{left}" y1="{_n(y)}" x2="{left + plot_w}" y2="{_n(y)}" stroke="{INK if t == 0 else GRID}" '
            f'stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, str(value), size=12, fill=MUTED, anchor="end"))
    group_w = plot_w / max(len(labels), 1)
    bar_w = min(18.0, (group_w - 8) / max(len(series), 1))
    for i, label in enumerate(labels):
        group_x = left + i * group_w
        bars_x = group_x + (group_w - bar_w * len(series)) / 2
        shown = any(row[i] for row in values)
        for s_index, s in enumerate(series):
            value = values[s_index][i]
            if not shown:
                continue
            bar_h = plot_h * value / ceiling
            bx = bars_x + s_index * bar_w
            if value:
                parts.append(_swatch(s, bx + 1, top + plot_h - bar_h, bar_w - 2, bar_h, hatch))
            parts.append(_text(bx + bar_w / 2, top + plot_h - bar_h - 4, str(value), size=11, anchor="middle"))
        for line, words in enumerate(label.split("\n")):
            parts.append(
                _text(group_x + group_w / 2, top + plot_h + 17 + 15 * line, words, size=12, fill=MUTED, anchor="middle")
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every word and colour in it went through escape()


def funnel(
    title: str,
    stages: Sequence[tuple[str, int]],
    *,
    description: str,
    width: int = 640,
    row: int = 40,
) -> Markup:
    """Stages as centred bars, widest first as a funnel narrows; each stage's name on the left
    and its number on the right, so the figures read without the bars."""
    label_w, number_w, pad = 130, 70, 10
    height = row * len(stages) + pad * 2
    parts, _ident = _open(width, height, title, description, "funnel")
    plot_x, plot_w = label_w, width - label_w - number_w
    highest = max((v for _, v in stages), default=0) or 1
    shades = ("#0b6e4f", "#1f7a5c", "#338a6b", "#4f9c7f", "#6fb094", "#90c4ab")
    for i, (name, value) in enumerate(stages):
        y = pad + i * row
        bar_w = max(plot_w * value / highest, 2.0 if value else 0.0)
        centre = plot_x + plot_w / 2
        parts.append(_text(label_w - 10, y + row / 2 + 5, name, size=14, anchor="end"))
        parts.append(
            f'<rect x="{_n(centre - plot_w / 2)}" y="{_n(y + 4)}" width="{_n(plot_w)}" height="{_n(row - 8)}" '
            f'fill="#f5f7fa" stroke="{GRID}" stroke-width="1"/>'
        )
        if bar_w:
            parts.append(
                f'<rect x="{_n(centre - bar_w / 2)}" y="{_n(y + 4)}" width="{_n(bar_w)}" height="{_n(row - 8)}" '
                f'fill="{shades[i % len(shades)]}" stroke="{INK}" stroke-width="0.5"/>'
            )
        parts.append(_text(width - number_w + 10, y + row / 2 + 6, str(value), size=16, anchor="start", bold=True))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every word and colour in it went through escape()


# -- the console's pictures ------------------------------------------------------------------------

LOOP_STAGES = (
    ("booked", "预约"),
    ("attended", "到场"),
    ("posts", "发布动态"),
    ("shares", "分享"),
    ("share_opens", "打开分享"),
    ("bookings_from_shares", "分享带来预约"),
)


def week_label(start: date, current: bool) -> str:
    return f"{start.month}/{start.day}" + ("\n本周" if current else "")


def weekly_chart(weeks: Sequence[Mapping[str, Any]]) -> Markup:
    """Bookings, attendance and no-shows per week (the weeks of `dashboard.today`)."""
    said = [
        f"{w['week_start'].month}月{w['week_start'].day}日那周{'（本周）' if w['current'] else ''}："
        f"{w['activities']}场活动，预约{w['booked']}，到场{w['attended']}，爽约{w['no_shows']}"
        for w in weeks
        if w["activities"]
    ]
    description = f"近{len(weeks)}周（每周从周一算起）已开始的活动的预约、到场和爽约人数。" + (
        "；".join(said) + "。" if said else "这段时间没有已开始的活动。"
    )
    return grouped_bars(
        f"近{len(weeks)}周活动参与",
        [week_label(w["week_start"], w["current"]) for w in weeks],
        [BOOKED, ATTENDED, NO_SHOWS],
        [[int(w[key]) for w in weeks] for key in ("booked", "attended", "no_shows")],
        description=description,
        empty="这段时间没有已开始的活动",
    )


def loop_funnel(figures: Mapping[str, Any]) -> Markup:
    """An activity's loop (`feed.loop.activity_loop`) as a funnel."""
    stages = [(name, int(figures[key])) for key, name in LOOP_STAGES]
    description = f"“{figures['title']}”的传播闭环：" + "，".join(f"{name}{value}" for name, value in stages) + "。"
    return funnel(f"传播闭环：{figures['title']}", stages, description=description)
