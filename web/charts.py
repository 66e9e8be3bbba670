"""Server-side inline SVG charts (no JavaScript, no CDN): lines over time with axes, dashed guides and a legend.

:func:`line_chart_svg` draws any set of series over time; the forecast page
draws one chart per group (:func:`series_svg`), the monitoring page its drift
shares and realized accuracy against the holdout (:func:`drift_svg`,
:func:`ranges_svg`, :func:`realized_svg`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dropml.usecases.forecast import ForecastSeries

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_Y = 640, 220, 72, 16, 28
COLOURS = {"actual": "#2563eb", "predicted": "#ea580c"}
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")
SOURCE_COLOURS = {"file": "#2563eb", "upload": "#16a34a", "traffic": "#9333ea"}


@dataclass(frozen=True)
class Series:
    """One line: (time in seconds, value) points, its name, colour and look."""

    name: str
    points: list[tuple[float, float]]
    colour: str
    css_class: str = ""
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True)
class Guide:
    """A horizontal dashed line at ``value`` (a threshold, a holdout score), labelled on the right."""

    value: float
    label: str
    colour: str = "#64748b"


@dataclass(frozen=True)
class Chart:
    """What to draw: a title, the series, the guides, and the chart's own attributes and value range."""

    title: str
    series: list[Series]
    guides: list[Guide] = field(default_factory=list)
    css_class: str = "chart"
    attributes: dict[str, str] = field(default_factory=dict)
    y_range: tuple[float, float] | None = None  # fixed bounds (shares: 0 to 1); None: from the values
    percent: bool = False  # label values as percentages
    legend: bool = True


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _label(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value:.0%}"
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _tick(seconds: float, span: float) -> str:
    """An x-axis label: the day, or the time of day when the chart covers less than two days."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if span >= 2 * 86400:
        return moment.date().isoformat()
    return moment.strftime("%H:%M UTC" if span >= 600 else "%H:%M:%S UTC")


def line_chart_svg(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` element (every text escaped)."""
    title = escape(chart.title)
    times = [t for s in chart.series for t, _ in s.points]
    values = [v for s in chart.series for _, v in s.points] + [g.value for g in chart.guides]
    attributes = "".join(f' {escape(k)}="{escape(v)}"' for k, v in chart.attributes.items())
    if not times or not values:
        empty = f'<text x="8" y="24">{title}: no points yet</text>'
        opening = f'<svg class="{chart.css_class}" role="img" aria-label="{title}"{attributes}'
        return f'{opening} width="{WIDTH}" height="40">{empty}</svg>'
    t0, t1 = min(times), max(times)
    v0, v1 = chart.y_range or (min(values), max(values))
    t_span, v_span = (t1 - t0) or 1.0, (v1 - v0) or 1.0

    def x(t: float) -> float:
        return PAD_LEFT + (t - t0) / t_span * (WIDTH - PAD_LEFT - PAD_RIGHT) if t1 > t0 else (PAD_LEFT + WIDTH) / 2

    def y(v: float) -> float:
        return HEIGHT - PAD_Y - (v - v0) / v_span * (HEIGHT - 2 * PAD_Y)

    bottom, right = HEIGHT - PAD_Y, WIDTH - PAD_RIGHT
    parts = [
        f'<svg class="{chart.css_class}" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"{attributes}>',
        f"<title>{title}</title>",
        f'<line x1="{PAD_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#94a3b8"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_Y}" x2="{PAD_LEFT}" y2="{HEIGHT - PAD_Y}" stroke="#94a3b8"/>',
    ]
    for value in (v0, (v0 + v1) / 2, v1):
        label = _label(value, chart.percent)
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    for when, anchor in ((t0, "start"), (t1, "end")) if t1 > t0 else ((t0, "middle"),):
        tick = _tick(when, t1 - t0)
        parts.append(f'<text x="{x(when):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11">{tick}</text>')
    for guide in chart.guides:
        level = f"{y(guide.value):.1f}"
        parts.append(
            f'<line class="guide" x1="{PAD_LEFT}" y1="{level}" x2="{right}" y2="{level}" stroke="{guide.colour}"'
            ' stroke-dasharray="2 3"/>'
        )
        parts.append(
            f'<text x="{right - 4}" y="{float(level) - 4:.1f}" text-anchor="end" font-size="10" fill="{guide.colour}">'
            f"{escape(guide.label)}</text>"
        )
    for series in chart.series:
        parts.extend(_series_parts(series, x, y))
    parts.append(f'<text x="{PAD_LEFT + 8}" y="16" font-size="13" font-weight="600">{title}</text>')
    if chart.legend:
        parts.extend(_legend(chart.series))
    parts.append("</svg>")
    return "".join(parts)


def _series_parts(series: Series, x: Any, y: Any) -> list[str]:
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series.points)
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    css = f' class="{escape(series.css_class)}"' if series.css_class else ""
    parts = [
        f'<polyline{css} data-series="{escape(series.name)}" fill="none" stroke="{series.colour}" stroke-width="1.8"'
        f'{dash} points="{line}"/>'
    ]
    if series.markers or len(series.points) == 1:
        parts.extend(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{series.colour}"><title>{escape(series.name)} '
            f"{_day(t)}: {v:.4g}</title></circle>"
            for t, v in series.points
        )
    return parts


def _legend(series: list[Series]) -> list[str]:
    parts, left = [], WIDTH - PAD_RIGHT
    for item in reversed(series):
        left -= 14 + 7 * len(item.name)
        parts.append(f'<rect x="{left}" y="8" width="10" height="10" fill="{item.colour}"/>')
        parts.append(f'<text x="{left + 13}" y="17" font-size="11">{escape(item.name)}</text>')
    return parts


# ── the forecast page ────────────────────────────────────────────────────────


def series_svg(series: ForecastSeries, target: str) -> str:
    """One group's actual (blue) and predicted (orange, dashed) lines over time, with axes, as an SVG element."""
    times = [_seconds(p["time"]) for p in series.points]
    lines = [
        Series(
            kind,
            [(t, p[kind]) for t, p in zip(times, series.points, strict=True) if p[kind] is not None],
            COLOURS[kind],
            css_class=kind,
            dashed=kind == "predicted",
        )
        for kind in ("actual", "predicted")
    ]
    chart = Chart(
        f"{series.group}: actual and predicted {target}",
        lines,
        css_class="forecast-chart",
        attributes={"data-group": series.group},
        legend=False,
    )
    return line_chart_svg(chart)


# ── the monitoring page ──────────────────────────────────────────────────────


def drift_svg(reports: list[dict[str, Any]], limit: float) -> str:
    """The share of drifted columns of each drift report, one line per kind of batch, the alert threshold dashed."""
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for report in reports:
        kind = (report.get("source") or {}).get("kind", "batch")
        by_kind.setdefault(kind, []).append((_seconds(report["time"]), float(report["drifted_share"] or 0.0)))
    series = [
        Series(kind, points, SOURCE_COLOURS.get(kind, PALETTE[-1]), css_class=f"drift-{kind}", markers=True)
        for kind, points in sorted(by_kind.items())
    ]
    chart = Chart(
        "Share of columns drifted",
        series,
        [Guide(limit, f"alert at {limit:.0%}", "#dc2626")],
        css_class="monitoring-chart drift-chart",
        y_range=(0.0, 1.0),
        percent=True,
    )
    return line_chart_svg(chart)


def ranges_svg(reports: list[dict[str, Any]]) -> str:
    """Per report: rows past the training range, categorical values never seen, missing values (shares)."""
    shares = {
        "outside range": "outside_range_share",
        "unknown categories": "unknown_category_share",
        "missing": "missing_share",
    }
    series = [
        Series(
            name,
            [(_seconds(r["time"]), float(r.get(field_name) or 0.0)) for r in reports],
            PALETTE[index + 1],
            css_class=field_name.replace("_", "-"),
            markers=True,
        )
        for index, (name, field_name) in enumerate(shares.items())
    ]
    return line_chart_svg(
        Chart("Rows and values training never saw", series, css_class="monitoring-chart ranges-chart", percent=True)
    )


def realized_svg(realized: list[dict[str, Any]]) -> str:
    """Per version: its realized rank metric each day (line) and its holdout score (dashed guide, same colour)."""
    series, guides = [], []
    metric = realized[0]["rank_metric"] if realized else "metric"
    for index, version in enumerate(realized):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (datetime.fromisoformat(d["day"]).replace(tzinfo=UTC).timestamp(), float(d["value"]))
            for d in version["days"]
            if d["value"] is not None
        ]
        role = " (challenger)" if version.get("challenger") else ""
        series.append(
            Series(f"v{version['version']}{role} realized", points, colour, css_class="realized", markers=True)
        )
        if version["holdout"] is not None:
            guides.append(Guide(float(version["holdout"]), f"v{version['version']} holdout", colour))
    chart = Chart(f"Realized {metric} against the holdout", series, guides, css_class="monitoring-chart realized-chart")
    return line_chart_svg(chart)
