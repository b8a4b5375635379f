"""Small server-side SVG charts for the console's overview widgets: no JavaScript, no dependencies.

Every function returns one ``<svg>`` element as a string, ready to be inlined into a page:

* ``role="img"`` with an ``aria-label`` (the title), plus ``<title>`` and a ``<desc>`` that spells out
  every data point, so a screen reader gets the numbers, not just "image";
* all text (labels, titles) is XML-escaped;
* the data shapes carry ``data-label`` / ``data-value`` so tests and scripts can read them back;
* colours are plain ``fill`` / ``stroke`` attributes, so a chart looks right without any CSS.

With no data (or only zeros where zero means "nothing to draw"), each chart renders ``empty_chart``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Final

WIDTH: Final = 480
HEIGHT: Final = 220
INK: Final = "#1c2330"
MUTED: Final = "#5d6776"
GRID: Final = "#d9dee6"
ACCENT: Final = "#0b5cad"
# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito, darkened a little).
PALETTE: Final = (
    "#0b5cad",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#b38600",
    "#56b4e9",
    "#6b3fa0",
    "#5d6776",
)
EMPTY_TEXT: Final = "No traffic yet"

Formatter = Callable[[float], str]


def format_number(value: float) -> str:
    """``12`` for whole numbers, otherwise three significant digits (``0.0123``, ``1.25``, ``312``)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}"


def format_bytes(value: float) -> str:
    """``512 B``, ``1.5 kB``, ``12.3 MB`` (decimal units, like network traffic counters)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{format_number(round(value, 1) if unit != 'B' else value)} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _f(v: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attrs(**attrs: str | float | None) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = _f(value) if isinstance(value, float) else str(value)
        parts.append(f'{name}="{escape(text, quote=True)}"')
    return " ".join(parts)


def _open(title: str, desc: str, kind: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f"{_attrs(viewBox=f'0 0 {width} {height}', aria_label=title)} "
        f'preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]


def _text(x: float, y: float, content: str, *, cls: str, anchor: str = "middle", size: int = 11) -> str:
    return (
        f"<text {_attrs(class_=cls, x=float(x), y=float(y), text_anchor=anchor, font_size=size, fill=MUTED)}>"
        f"{escape(content)}</text>"
    )


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k that is >= value (a readable axis maximum)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        nice = step * 10.0**exp
        if nice >= value * (1 - 1e-9):
            return nice
    return 10.0 ** (exp + 1)


def empty_chart(
    title: str, message: str = EMPTY_TEXT, *, width: int = WIDTH, height: int = HEIGHT, kind: str = "empty"
) -> str:
    """The placeholder a widget shows before there is anything to draw."""
    out = _open(
        title, f"{title}: {message}", f"empty chart-{kind}" if kind != "empty" else "empty", width, height
    )
    out.append(
        f"<rect {_attrs(x=0.5, y=0.5, width=float(width - 1), height=float(height - 1), rx=6, fill='none', stroke=GRID, stroke_dasharray='4 4')}/>"
    )
    out.append(_text(width / 2, height / 2 + 5, message, cls="empty-text", size=14))
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- line chart


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
    value_format: Formatter = format_number,
    empty_text: str = EMPTY_TEXT,
    max_x_labels: int = 8,
) -> str:
    """A line through ``points`` in the order given (x = position, y = value; negatives count as 0).

    Used for Traffic Monitoring: one point per hour, the label being the hour.
    """
    if not points:
        return empty_chart(title, empty_text, width=width, height=height, kind="line")
    values = [max(0.0, float(v)) for _, v in points]
    left, right, top, bottom = 52.0, 14.0, 14.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_ceiling(max(values))
    suffix = f" {unit}" if unit else ""
    desc = f"{title}. " + "; ".join(
        f"{label}: {value_format(v)}{suffix}" for (label, _), v in zip(points, values, strict=True)
    )
    out = _open(title, desc, "line", width, height)

    out.append('<g class="y-axis">')
    for i in range(5):
        v = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f"<line {_attrs(x1=left, x2=left + plot_w, y1=y, y2=y, stroke=GRID, stroke_width=1)}/>")
        out.append(_text(left - 6, y + 4, value_format(v), cls="y-label", anchor="end", size=10))
    if unit:
        out.append(_text(4, top - 2, unit, cls="unit", anchor="start", size=10))
    out.append("</g>")

    n = len(points)

    def x_at(i: int) -> float:
        return left + plot_w / 2 if n == 1 else left + plot_w * i / (n - 1)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    coords = [(x_at(i), y_at(v)) for i, v in enumerate(values)]
    out.append(
        f"<polyline {_attrs(class_='series', fill='none', stroke=ACCENT, stroke_width=2, stroke_linejoin='round')} "
        f'points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in coords)}"/>'
    )
    step = max(1, math.ceil(n / max_x_labels))
    out.append('<g class="x-axis">')
    out.append(
        f"<line {_attrs(x1=left, x2=left + plot_w, y1=top + plot_h, y2=top + plot_h, stroke=MUTED, stroke_width=1)}/>"
    )
    for i, (label, _) in enumerate(points):
        if i % step == 0 or i == n - 1:
            out.append(_text(x_at(i), height - bottom + 16, _clip(label, 12), cls="x-label", size=10))
    out.append("</g>")
    out.append('<g class="points">')
    for (label, _), v, (x, y) in zip(points, values, coords, strict=True):
        out.append(
            f"<circle {_attrs(class_='point', cx=x, cy=y, r=3, fill=ACCENT, data_label=label, data_value=repr(v))}>"
            f"<title>{escape(f'{label}: {value_format(v)}{suffix}')}</title></circle>"
        )
    out.append("</g></svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- bar chart


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
    value_format: Formatter = format_number,
    empty_text: str = EMPTY_TEXT,
) -> str:
    """Vertical bars in the order given, each with its value printed above it and its label below.

    Heights are proportional to the values (the tallest bar fills the plot). Used for Top 5 OT
    Protocols, where the value is the number of devices using the protocol.
    """
    values = [max(0.0, float(v)) for _, v in items]
    if not items or max(values) <= 0:
        return empty_chart(title, empty_text, width=width, height=height, kind="bar")
    left, right, top, bottom = 12.0, 12.0, 22.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(values)
    suffix = f" {unit}" if unit else ""
    desc = f"{title}. " + "; ".join(
        f"{label}: {value_format(v)}{suffix}" for (label, _), v in zip(items, values, strict=True)
    )
    out = _open(title, desc, "bar", width, height)
    slot = plot_w / len(items)
    bar_w = min(slot * 0.6, 72.0)
    base = top + plot_h
    out.append(
        f"<line {_attrs(class_='baseline', x1=left, x2=left + plot_w, y1=base, y2=base, stroke=MUTED, stroke_width=1)}/>"
    )
    max_chars = max(4, int(slot / 6.5))
    for i, ((label, _), v) in enumerate(zip(items, values, strict=True)):
        h = plot_h * v / top_value
        x = left + slot * i + (slot - bar_w) / 2
        cx = x + bar_w / 2
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<g class="bar-group"><rect {_attrs(class_="bar", x=x, y=base - h, width=bar_w, height=h, rx=2, fill=colour, data_label=label, data_value=repr(v))}>'
            f"<title>{escape(f'{label}: {value_format(v)}{suffix}')}</title></rect>"
        )
        out.append(_text(cx, base - h - 5, value_format(v), cls="bar-value", size=11))
        out.append(
            _text(cx, height - bottom + 16, _clip(label, max_chars), cls="bar-label", size=11) + "</g>"
        )
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- pie chart


def pie_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
    value_format: Formatter = format_number,
    empty_text: str = EMPTY_TEXT,
    max_slices: int = 6,
    other_label: str = "Other",
    colours: Mapping[str, str] | None = None,
) -> str:
    """Slices clockwise from 12 o'clock, largest first, with a legend (label, share, value).

    Items beyond ``max_slices - 1`` are folded into one "Other" slice; zero or negative items are left
    out. ``colours`` fixes a label's colour (a severity's), else the palette's in turn. Used for
    Traffic By Port (bytes per port or port alias) and assets by highest CVSS severity.
    """
    fixed = colours or {}
    clean = sorted(((label, float(v)) for label, v in items if v > 0), key=lambda kv: -kv[1])
    if not clean:
        return empty_chart(title, empty_text, width=width, height=height, kind="pie")
    if len(clean) > max_slices:
        rest = sum(v for _, v in clean[max_slices - 1 :])
        clean = [*clean[: max_slices - 1], (other_label, rest)]
    total = sum(v for _, v in clean)
    r = min(height / 2 - 12, width * 0.22)
    cx, cy = 12 + r, height / 2
    desc = f"{title}. " + "; ".join(
        f"{label}: {value_format(v)} ({v / total * 100:.1f}%)" for label, v in clean
    )
    out = _open(title, desc, "pie", width, height)
    out.append('<g class="slices">')
    start = 0.0
    for i, (label, v) in enumerate(clean):
        sweep = 360.0 * v / total
        end = start + sweep
        colour = fixed.get(label, PALETTE[i % len(PALETTE)])
        tip = f"<title>{escape(f'{label}: {value_format(v)} ({v / total * 100:.1f}%)')}</title>"
        common = _attrs(
            class_="slice", fill=colour, stroke="#fff", stroke_width=1, data_label=label, data_value=repr(v)
        )
        if len(clean) == 1:
            out.append(f"<circle {common} {_attrs(cx=cx, cy=cy, r=r)}>{tip}</circle>")
        else:
            x1, y1 = _polar(cx, cy, r, start)
            x2, y2 = _polar(cx, cy, r, end)
            large = 1 if sweep > 180 else 0
            d = f"M {_f(cx)} {_f(cy)} L {_f(x1)} {_f(y1)} A {_f(r)} {_f(r)} 0 {large} 1 {_f(x2)} {_f(y2)} Z"
            out.append(f'<path {common} d="{d}">{tip}</path>')
        start = end
    out.append("</g>")
    out.append('<g class="legend">')
    lx = cx + r + 24
    row_h = 20.0
    ly = cy - row_h * len(clean) / 2 + 4
    max_chars = max(8, int((width - lx - 18) / 6.2))
    for i, (label, v) in enumerate(clean):
        y = ly + i * row_h
        out.append(
            f"<rect {_attrs(class_='swatch', x=lx, y=y, width=12, height=12, rx=2, fill=fixed.get(label, PALETTE[i % len(PALETTE)]))}/>"
        )
        text = f"{label} — {v / total * 100:.1f}% ({value_format(v)})"
        out.append(
            f"<text {_attrs(class_='legend-label', x=lx + 18, y=y + 10, font_size=11, fill=INK, data_label=label)}>"
            f"{escape(_clip(text, max_chars))}</text>"
        )
    out.append("</g></svg>")
    return "\n".join(out)


def _polar(cx: float, cy: float, r: float, degrees: float) -> tuple[float, float]:
    """The point at ``degrees`` clockwise from 12 o'clock (SVG's y axis points down)."""
    rad = math.radians(degrees)
    return cx + r * math.sin(rad), cy - r * math.cos(rad)


# ---------------------------------------------------------------- stacked bar chart


def stacked_bar_chart(
    columns: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
    value_format: Formatter = format_number,
    empty_text: str = EMPTY_TEXT,
    max_x_labels: int = 8,
) -> str:
    """One bar per column (a day), stacked from the bottom in the order of ``series``: each series is
    ``(label, one value per column, colour)``, and the legend names them above the plot.

    Used for the dashboard's open alerts per day, by severity and by engine.
    """
    if not columns or not any(v > 0 for _, values, _ in series for v in values):
        return empty_chart(title, empty_text, width=width, height=height, kind="stacked")
    left, right, bottom = 40.0, 10.0, 30.0
    # the legend first: as many rows as its entries need (about 6 px a character at 10 px)
    places: list[tuple[float, float]] = []
    lx, ly = left, 6.0
    for label, _, _ in series:
        need = 14 + 6.0 * len(label)
        if lx > left and lx + need > width - right:
            lx, ly = left, ly + 16
        places.append((lx, ly))
        lx += need + 12
    top = ly + 24
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(max(0.0, float(values[i])) for _, values, _ in series) for i in range(len(columns))]
    y_max = _nice_ceiling(max(totals))
    desc = f"{title}. " + "; ".join(
        f"{col}: "
        + ", ".join(f"{label} {value_format(values[i])}" for label, values, _ in series if values[i] > 0)
        for i, col in enumerate(columns)
        if totals[i] > 0
    )
    out = _open(title, desc, "stacked", width, height)
    out.append('<g class="legend">')
    for (label, _, colour), (x, y) in zip(series, places, strict=True):
        out.append(f"<rect {_attrs(class_='swatch', x=x, y=y, width=10, height=10, rx=2, fill=colour)}/>")
        out.append(
            f"<text {_attrs(class_='legend-label', x=x + 14, y=y + 9, font_size=10, fill=INK)}>{escape(label)}</text>"
        )
    out.append("</g>")
    out.append('<g class="y-axis">')
    for i in range(5):
        v = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f"<line {_attrs(x1=left, x2=left + plot_w, y1=y, y2=y, stroke=GRID, stroke_width=1)}/>")
        out.append(_text(left - 6, y + 4, value_format(v), cls="y-label", anchor="end", size=10))
    out.append("</g>")
    n = len(columns)
    slot = plot_w / n
    bar_w = max(2.0, min(slot * 0.7, 40.0))
    base = top + plot_h
    step = max(1, math.ceil(n / max_x_labels))
    for i, col in enumerate(columns):
        x = left + slot * i + (slot - bar_w) / 2
        y = base
        out.append(f'<g class="column" data-label="{escape(col, quote=True)}">')
        for label, values, colour in series:
            v = max(0.0, float(values[i]))
            if v <= 0:
                continue
            h = plot_h * v / y_max
            y -= h
            out.append(
                f"<rect {_attrs(class_='bar', x=x, y=y, width=bar_w, height=h, fill=colour, data_label=f'{col} {label}', data_value=repr(v))}>"
                f"<title>{escape(f'{col}, {label}: {value_format(v)}')}</title></rect>"
            )
        if i % step == 0 or i == n - 1:
            out.append(_text(x + bar_w / 2, height - bottom + 16, _clip(col, 10), cls="x-label", size=10))
        out.append("</g>")
    out.append(
        f"<line {_attrs(class_='baseline', x1=left, x2=left + plot_w, y1=base, y2=base, stroke=MUTED, stroke_width=1)}/>"
    )
    out.append("</svg>")
    return "\n".join(out)
