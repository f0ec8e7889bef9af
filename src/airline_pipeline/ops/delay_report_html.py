"""The delay report as one self-contained HTML page: charts (matplotlib, inlined as PNG) and tables.

Names in the data are data, never markup: HTML is escaped, and chart labels have matplotlib's ``$``
(math mode) escaped.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import textwrap
from typing import TYPE_CHECKING, Any

from airline_pipeline import __version__
from airline_pipeline.ops.delay_report import MAX_DAILY_TABLE_ROWS, DelayReport, as_date
from airline_pipeline.ops.delay_report_sql import ON_TIME_MINUTES

if TYPE_CHECKING:
    import pandas as pd

# --- charts ------------------------------------------------------------------------------------------

_DARK, _LIGHT, _ACCENT = "#1f5f99", "#9cc3e6", "#d9822b"


def _label(text: Any, width: int = 38) -> str:
    """Chart labels only (tables keep full names): airport names lose their boilerplate, then get cut.

    A ``$`` is escaped: to matplotlib a pair of them is math mode, and a lone one fails to parse.
    """
    short = re.sub(r"\s+Airport$", "", str(text)).replace("International", "Intl")
    return textwrap.shorten(short, width=width, placeholder="…").replace("$", r"\$")


def _png(figure: Any) -> str:
    """A figure as a ``data:`` URI: the report must open offline, without sibling files."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(rows: int, *, columns: int = 1, width: float = 11.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font-cache notes are not ours to print
    figure = Figure(figsize=(width, max(2.4, 0.27 * rows + 1.2)), layout="constrained")
    axes = figure.subplots(1, columns, sharey=True, squeeze=False)[0]
    return figure, axes


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e3e3e3", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _group_labels(frame: pd.DataFrame, label_column: str) -> list[str]:
    """Group names with their flight count: a carrier with 3 flights should not read like one with 3,000."""
    return [f"{_label(value)}  (n={int(n):,})" for value, n in zip(frame[label_column], frame["flights"])]


def delay_chart(frame: pd.DataFrame, label_column: str, title: str) -> str:
    """Average (dark) and p90 (light) delay, departure and arrival side by side, worst at the top."""
    data = frame.sort_values("avg_arr_delay", ascending=True, na_position="first")
    labels = _group_labels(data, label_column)
    figure, axes = _figure(len(data), columns=2)
    for ax, measure, name in zip(axes, ("dep_delay", "arr_delay"), ("Departure", "Arrival")):
        positions = range(len(data))
        ax.barh(positions, data[f"p90_{measure}"].fillna(0), color=_LIGHT, height=0.75, label="p90")
        ax.barh(positions, data[f"avg_{measure}"].fillna(0), color=_DARK, height=0.45, label="average")
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_yticks(list(positions), labels)
        ax.set_title(f"{name} delay (minutes)", fontsize=10, loc="left")
        _style(ax)
    axes[1].legend(loc="lower right", fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=12, x=0.01, horizontalalignment="left")
    return _png(figure)


def on_time_chart(frame: pd.DataFrame, label_column: str, overall: float, title: str) -> str:
    """On-time share per group with the overall share as a reference line."""
    data = frame.sort_values("on_time_share", ascending=True, na_position="first")
    figure, (ax,) = _figure(len(data))
    shares = data["on_time_share"].fillna(0) * 100
    ax.barh(range(len(data)), shares, color=_DARK, height=0.6)
    for position, share in enumerate(shares):
        ax.text(share + 0.8, position, f"{share:.0f}%", va="center", fontsize=8)
    ax.axvline(overall * 100, color=_ACCENT, linestyle="--", linewidth=1.2, label=f"all flights {overall:.0%}")
    ax.set_yticks(list(range(len(data))), _group_labels(data, label_column))
    ax.set_xlim(0, 108)
    ax.set_xlabel(f"% of arrived flights with arrival delay <= {ON_TIME_MINUTES} min", fontsize=9)
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    ax.set_title(title, fontsize=12, loc="left")
    _style(ax)
    return _png(figure)


def routes_chart(routes: pd.DataFrame, title: str) -> str:
    data = routes.iloc[::-1]
    figure, (ax,) = _figure(len(data))
    labels = [f"{_label(dep, 28)} → {_label(arr, 28)}" for dep, arr in zip(data["dep_airport"], data["arr_airport"])]
    ax.barh(range(len(data)), data["p90_arr_delay"], color=_LIGHT, height=0.75, label="p90")
    ax.barh(range(len(data)), data["avg_arr_delay"], color=_DARK, height=0.45, label="average")
    for position, (avg, arrived) in enumerate(zip(data["avg_arr_delay"], data["arrived"])):
        ax.text(max(avg, 0) + 1, position, f"{avg:.0f} min · n={arrived:,}", va="center", fontsize=8, color="#222")
    ax.set_yticks(list(range(len(data))), labels)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_xlabel("arrival delay (minutes)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title(title, fontsize=12, loc="left")
    _style(ax)
    return _png(figure)


def daily_chart(daily: pd.DataFrame, title: str) -> str:
    """Flights per day (bars) and the on-time share (line): spots a bad day or a half-loaded one."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11.0, 3.4), layout="constrained")
    ax = figure.subplots()
    days = [as_date(value) for value in daily["flight_date"]]
    ax.bar(range(len(days)), daily["flights"], color=_LIGHT, label="flights")
    ax.set_ylabel("flights (bars)", fontsize=9)
    share = ax.twinx()
    share.plot(range(len(days)), daily["on_time_share"] * 100, color=_DARK, marker="o", markersize=3, label="on time")
    share.set_ylim(0, 100)
    share.set_ylabel("% on time (line)", fontsize=9, color=_DARK)
    step = -(-len(days) // 14)  # at most 14 labels, however long the range
    pattern = "%d %b" if days[0].year == days[-1].year else "%d %b %Y"
    ax.set_xticks(list(range(0, len(days), step)), [f"{day:{pattern}}" for day in days[::step]], fontsize=8)
    ax.set_title(title, fontsize=12, loc="left")
    ax.spines[["top"]].set_visible(False)
    share.spines[["top"]].set_visible(False)
    return _png(figure)


# --- HTML --------------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 0;
       background: #f4f5f7; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-top: 12px; border-top: 1px solid #e3e3e3; }
.meta, .note { color: #5f6368; font-size: 12.5px; margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0 8px; }
.card { background: #f4f7fb; border-radius: 6px; padding: 10px 12px; }
.card .value { font-size: 20px; font-weight: 600; color: #1f5f99; }
.card .label { font-size: 12px; color: #5f6368; }
img { display: block; max-width: 100%; height: auto; margin: 8px 0; }
table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 8px 0 4px; }
table.data th { background: #eef1f5; text-align: right; padding: 5px 8px; font-weight: 600; white-space: nowrap; }
table.data td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #eceff3; white-space: nowrap; }
table.data th:first-child, table.data td:first-child,
table.routes th:nth-child(2), table.routes td:nth-child(2) { text-align: left; white-space: normal; }
table.data tr:nth-child(even) td { background: #fafbfc; }
details summary { cursor: pointer; color: #1f5f99; font-size: 13px; margin: 6px 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 12.5px; color: #3c4043; }
dt { font-weight: 600; }
dd { margin: 0; }
"""

_HEADINGS = {
    "flights": "Flights",
    "arrived": "Arrived",
    "cancelled": "Cancelled",
    "diverted": "Diverted",
    "on_time": "On time",
    "on_time_share": "On-time share",
    "avg_dep_delay": "Avg dep delay",
    "p90_dep_delay": "p90 dep delay",
    "avg_arr_delay": "Avg arr delay",
    "p90_arr_delay": "p90 arr delay",
    "carrier": "Carrier",
    "dep_airport": "Departure airport",
    "arr_airport": "Arrival airport",
    "flight_date": "Date",
}


def _cell(column: str, value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "n/a"
    if column == "on_time_share":
        return f"{value:.1%}"
    if column.startswith(("avg_", "p90_")):
        return f"{value:.1f}"
    if column in ("flights", "arrived", "cancelled", "diverted", "on_time"):
        return f"{int(value):,}"
    return str(value)[:10] if column == "flight_date" else str(value)


def _table(frame: pd.DataFrame, *, css: str = "data") -> str:
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [_cell(column, value) for value in shown[column]]
    shown = shown.rename(columns=_HEADINGS)
    return str(shown.to_html(index=False, escape=True, border=0, classes=css))


def _card(value: str, label: str) -> str:
    return f'<div class="card"><div class="value">{html.escape(value)}</div><div class="label">{label}</div></div>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def render_html(report: DelayReport, *, source: str = "") -> tuple[str, int]:
    """The report as one self-contained HTML document; returns it and the number of charts."""
    o = report.overview
    first, last = report.date_from or report.first_date, report.date_to or report.last_date
    charts = [
        _img(delay_chart(report.by_carrier, "carrier", "Delay by carrier"), "delay by carrier"),
        _img(on_time_chart(report.by_carrier, "carrier", o["on_time_share"], "On-time share by carrier"), "on time"),
        _img(delay_chart(report.by_airport, "dep_airport", "Delay by departure airport"), "delay by airport"),
    ]
    routes_html = f"<p class='note'>No route has {report.min_route_flights} arrived flights in this range.</p>"
    if len(report.routes):
        charts.append(_img(routes_chart(report.routes, "Worst routes by average arrival delay"), "worst routes"))
        routes_html = charts[-1] + _table(report.routes, css="data routes")
    daily_html = ""
    if len(report.daily) > 1:
        charts.append(_img(daily_chart(report.daily, "Flights and on-time share per day"), "per day"))
        daily_html = charts[-1]
    if len(report.daily) <= MAX_DAILY_TABLE_ROWS:
        daily_html += (
            f"<details><summary>Numbers per day ({len(report.daily)})</summary>{_table(report.daily)}</details>"
        )
    else:
        daily_html += f"<p class='note'>{len(report.daily)} days: the per-day numbers are in report.csv.</p>"
    span = f"{first:%d %b %Y}" if first == last else f"{first:%d %b %Y} &ndash; {last:%d %b %Y}"
    cards = "".join(
        (
            _card(f"{o['flights']:,}", "flights loaded"),
            _card(f"{o['on_time_share']:.1%}", f"on time (arr delay &le; {ON_TIME_MINUTES} min)"),
            _card(f"{o['avg_arr_delay']:.1f} min", "average arrival delay"),
            _card(f"{o['p90_arr_delay']:.0f} min", "p90 arrival delay"),
            _card(f"{o['days']:,} / {o['files']:,}", "days / files"),
            _card(f"{o['cancelled']:,}", "cancelled (no delays)"),
            _card(f"{o['diverted']:,}", "diverted (no arrival delay)"),
            _card(f"{o['rejected_rows']:,}", "rows rejected at load"),
        )
    )
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flight delay report {first.isoformat()} to {last.isoformat()}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>Flight delays, {span}</h1>
<p class="meta">Requested range: {report.date_from or "start"} to {report.date_to or "end"} · data from
{report.first_date.isoformat()} to {report.last_date.isoformat()} · {html.escape(source)} ·
generated {report.generated_at:%Y-%m-%d %H:%M} UTC by airline-pipeline {__version__}</p>
<section class="cards">{cards}</section>
<h2>By carrier</h2>
{charts[0]}
{charts[1]}
{_table(report.by_carrier)}
<h2>By departure airport</h2>
{charts[2]}
{_table(report.by_airport)}
<h2>Worst routes</h2>
<p class="note">Highest average arrival delay among routes with at least {report.min_route_flights:,} arrived
flights (flights with an airport unknown to airports_dim are left out).</p>
{routes_html}
<h2>By day</h2>
{daily_html}
<h2>Definitions</h2>
<dl>
<dt>On time</dt><dd>arrival delay &le; {ON_TIME_MINUTES} minutes; the share is over arrived flights.</dd>
<dt>Arrived</dt><dd>flights with an arrival delay: the base of every arrival average, p90 and share.</dd>
<dt>Cancelled</dt><dd>no departure and no arrival delay (both empty in the file); excluded from averages.</dd>
<dt>Diverted</dt><dd>a departure delay but no arrival delay; excluded from arrival numbers.</dd>
<dt>p90</dt><dd>90th percentile, linear interpolation (PERCENTILE_CONT 0.9): 1 flight in 10 was later.</dd>
<dt>Negative delay</dt><dd>early departure or arrival.</dd>
</dl>
</main>
</body>
</html>
"""
    return document, len(charts)
