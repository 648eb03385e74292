"""What every report page shares: the Jinja environment and its number filters, charts
as divs, safe file names, plotly.js written once, and whole-or-nothing page writes."""

from __future__ import annotations

import uuid
from pathlib import Path

import plotly.offline
from jinja2 import Environment, PackageLoader, Undefined, select_autoescape
from markupsafe import Markup

PLOTLY_FILE = "plotly.min.js"


def _format(spec: str):
    def apply(value, *args):
        missing = value is None or isinstance(value, Undefined)
        return "—" if missing else spec.format(value, *args)

    return apply


def environment() -> Environment:
    templates = Environment(
        loader=PackageLoader("pipelines.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    templates.filters |= {
        "usd": _format("${:,.2f}"),
        "usd4": _format("${:,.4f}"),
        "pct": _format("{:.1%}"),
        "num": _format("{:,.0f}"),
        "q": _format("{:.3f}"),
        "q4": _format("{:.4f}"),
        "sortkey": lambda value: "" if value is None or isinstance(value, Undefined) else value,
    }
    return templates


def chart_html(fig, div_id: str) -> Markup:
    """A figure as a div for a page that loads plotly.js itself (see ensure_plotly)."""
    html = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return Markup(html)


def ensure_plotly(folder: Path) -> str:
    """plotly.js, written once into `folder`; returns the name pages load it by."""
    target = folder / PLOTLY_FILE
    if not target.exists():
        write_whole(target, plotly.offline.get_plotlyjs())
    return PLOTLY_FILE


def write_whole(path: Path, text: str) -> None:
    """Write whole or not at all: a re-run never leaves a half-written page."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
