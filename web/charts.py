"""Server-side inline SVG charts (no JavaScript, no CDN): one small line chart per forecast group."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dropml.usecases.forecast import ForecastSeries

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_Y = 640, 220, 72, 16, 28
COLOURS = {"actual": "#2563eb", "predicted": "#ea580c"}


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _label(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def series_svg(series: ForecastSeries, target: str) -> str:
    """One group's actual (blue) and predicted (orange, dashed) lines over time, with axes, as an SVG element."""
    points = series.points
    times = [_seconds(p["time"]) for p in points]
    values = [p[k] for p in points for k in ("actual", "predicted") if p[k] is not None]
    title = f"{escape(series.group)}: actual and predicted {escape(target)}"
    if not points or not values:
        empty = '<text x="8" y="24">no points</text>'
        return f'<svg role="img" aria-label="{title}" width="{WIDTH}" height="40">{empty}</svg>'
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    t_span, v_span = (t1 - t0) or 1.0, (v1 - v0) or 1.0

    def x(t: float) -> float:
        return PAD_LEFT + (t - t0) / t_span * (WIDTH - PAD_LEFT - PAD_RIGHT)

    def y(v: float) -> float:
        return HEIGHT - PAD_Y - (v - v0) / v_span * (HEIGHT - 2 * PAD_Y)

    bottom, right = HEIGHT - PAD_Y, WIDTH - PAD_RIGHT
    parts = [
        f'<svg class="forecast-chart" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg" data-group="{escape(series.group)}">',
        f"<title>{title}</title>",
        f'<line x1="{PAD_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#94a3b8"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_Y}" x2="{PAD_LEFT}" y2="{HEIGHT - PAD_Y}" stroke="#94a3b8"/>',
    ]
    for value in (v0, (v0 + v1) / 2, v1):
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">{_label(value)}</text>'
        )
    for when, anchor in ((t0, "start"), (t1, "end")):
        day = datetime.fromtimestamp(when).date().isoformat()
        parts.append(f'<text x="{x(when):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11">{day}</text>')
    for kind, colour in COLOURS.items():
        line = " ".join(
            f"{x(t):.1f},{y(p[kind]):.1f}" for t, p in zip(times, points, strict=True) if p[kind] is not None
        )
        dash = ' stroke-dasharray="5 3"' if kind == "predicted" else ""
        parts.append(
            f'<polyline class="{kind}" fill="none" stroke="{colour}" stroke-width="1.8"{dash} points="{line}"/>'
        )
    parts.append(f'<text x="{PAD_LEFT + 8}" y="16" font-size="13" font-weight="600">{escape(series.group)}</text>')
    parts.append("</svg>")
    return "".join(parts)
