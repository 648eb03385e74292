"""DataFrame → plotly Figure (or inline SVG). Pure; the data is aggregated before it gets
here (weeks, months), so the report stays small."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl
from markupsafe import Markup, escape
from plotly.subplots import make_subplots

LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 55, "r": 20, "t": 45, "b": 40},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}
VERDICT_COLOURS = {
    "keep": "#2e7d32",
    "watch": "#e69500",
    "retire": "#b03a2e",
    "insufficient data": "#8a94a0",
}


def quadrant(agents: pl.DataFrame) -> go.Figure:
    """Quality against target (y) vs cost per resolved case as a multiple of the human
    baseline (x, log): bubble area = cases; lines at the baseline (x = 1) and target (y = 0).
    `agents`: agent_name, n_cases, verdict, quality_mean, quality_target,
    cost_per_resolved_case_usd, human_baseline_usd_per_case."""
    rows = agents.filter(
        pl.col("quality_mean").is_not_null()
        & pl.col("quality_target").is_not_null()
        & (pl.col("cost_per_resolved_case_usd") > 0)
        & (pl.col("human_baseline_usd_per_case") > 0)
    ).with_columns(
        x=pl.col("cost_per_resolved_case_usd") / pl.col("human_baseline_usd_per_case"),
        y=pl.col("quality_mean") - pl.col("quality_target"),
    )
    largest = max(rows["n_cases"].max() or 1, 1)
    fig = go.Figure()
    for verdict, colour in VERDICT_COLOURS.items():
        part = rows.filter(pl.col("verdict") == verdict)
        if part.is_empty():
            continue
        fig.add_scatter(
            x=part["x"].round(4).to_list(),
            y=part["y"].round(4).to_list(),
            mode="markers+text",
            name=verdict,
            text=part["agent_name"].to_list(),
            textposition="top center",
            customdata=part["n_cases"].to_list(),
            hovertemplate="%{text}<br>%{x:.2f}× baseline, quality %{y:+.3f} vs target"
            "<br>%{customdata:,} cases<extra></extra>",
            marker={
                "size": [6 + 34 * math.sqrt(n / largest) for n in part["n_cases"].to_list()],
                "color": colour,
                "opacity": 0.7,
                "line": {"width": 1, "color": "#fff"},
            },
        )
    fig.add_vline(x=1, line_dash="dash", line_color="#555", annotation_text="human baseline")
    fig.add_hline(y=0, line_dash="dot", line_color="#555", annotation_text="quality target")
    fig.update_layout(
        title="Quality vs cost per resolved case (bubble: cases)",
        height=460,
        xaxis={"type": "log", "title": "cost per resolved case ÷ human baseline"},
        yaxis={"title": "quality − target"},
        **LAYOUT,
    )
    return fig


def spend_over_time(spend: pl.DataFrame, by: str) -> go.Figure:
    """Weekly computed spend stacked by `by` (agent_name or model); calls with no agent
    or model form their own stack, labelled as such."""
    label = "agent" if by == "agent_name" else "model"
    named = spend.with_columns(pl.col(by).fill_null(f"(no {label})"))
    weekly = named.group_by("week_start", by).agg(pl.col("cost_usd").sum()).sort("week_start", by)
    fig = go.Figure()
    for name in sorted(weekly[by].unique().to_list()):
        part = weekly.filter(pl.col(by) == name)
        fig.add_bar(
            x=part["week_start"].to_list(), y=part["cost_usd"].round(2).to_list(), name=name
        )
    fig.update_layout(
        barmode="stack", title=f"Computed spend per week, by {label}", height=380,
        yaxis_title="USD", **LAYOUT,
    )  # fmt: skip
    return fig


def quality_trends(weeks: pl.DataFrame) -> go.Figure:
    """Weekly mean quality, one small panel per agent, its target as a dashed line."""
    agents = sorted(weeks.filter(pl.col("quality_mean").is_not_null())["agent_name"].unique())
    cols = 4
    rows = max(math.ceil(len(agents) / cols), 1)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=agents, shared_xaxes=True,
                        vertical_spacing=0.6 / rows, horizontal_spacing=0.05)  # fmt: skip
    for index, agent in enumerate(agents):
        part = weeks.filter(pl.col("agent_name") == agent)
        row, col = index // cols + 1, index % cols + 1
        fig.add_scatter(
            x=part["week_start"].to_list(), y=part["quality_mean"].round(4).to_list(),
            mode="lines+markers", line={"color": "#2f5d8a"}, marker={"size": 4},
            name=agent, showlegend=False, row=row, col=col,
        )  # fmt: skip
        target = part["quality_target"].drop_nulls()
        if len(target):
            fig.add_hline(y=target[0], line_dash="dash", line_color="#b03a2e", row=row, col=col)
    fig.update_layout(title="Weekly quality per agent (dashed: target)",
                      height=170 * rows + 80, **LAYOUT)  # fmt: skip
    fig.update_annotations(font_size=11)
    return fig


def agent_trends(weeks: pl.DataFrame, target: float | None, baseline: float | None) -> go.Figure:
    """One agent's weekly three numbers: cases, quality vs target, cost per resolved case
    vs the human baseline."""
    titles = ("cases", "quality", "cost per resolved case (USD)")
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=titles)  # fmt: skip
    x = weeks["week_start"].to_list()
    fig.add_bar(x=x, y=weeks["n_cases"].to_list(), marker_color="#9db4d3", row=1, col=1)
    fig.add_scatter(x=x, y=weeks["quality_mean"].round(4).to_list(), mode="lines+markers",
                    line={"color": "#2f5d8a"}, row=2, col=1)  # fmt: skip
    fig.add_scatter(x=x, y=weeks["cost_per_resolved_case_usd"].round(4).to_list(),
                    mode="lines+markers", line={"color": "#c0392b"}, row=3, col=1)  # fmt: skip
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#555", row=2, col=1,
                      annotation_text="target", annotation_position="top left")  # fmt: skip
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dash", line_color="#555", row=3, col=1,
                      annotation_text="human baseline", annotation_position="top left")  # fmt: skip
    fig.update_layout(title="Weekly trends", height=560, showlegend=False, **LAYOUT)
    return fig


def sparkline(values: list[float | None], width: int = 90, height: int = 22) -> Markup:
    """A tiny inline SVG line of `values` (nulls skipped). Hand-written: a plotly chart per
    table row would weigh ~10 kB each and need its own script."""
    points = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(points) < 2:
        return Markup("")
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = (high - low) or 1.0
    step = (width - 2) / (len(values) - 1)
    path = " ".join(
        f"{1 + i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in points
    )
    title = escape(f"{points[0][1]:.4g} → {points[-1][1]:.4g}")
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{title}</title><polyline fill="none" stroke="#2f5d8a" '
        f'stroke-width="1.5" points="{path}"/></svg>'
    )
