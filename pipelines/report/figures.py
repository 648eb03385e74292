"""DataFrame → plotly Figure. Pure; the data is aggregated before it gets here."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def fleet_daily_cost(days: pl.DataFrame) -> go.Figure:
    """Stacked daily computed cost by agent."""
    fig = go.Figure()
    for agent in sorted(days["agent_name"].unique().to_list()):
        rows = days.filter(pl.col("agent_name") == agent)
        fig.add_bar(x=rows["day"].to_list(), y=rows["cost_usd"].round(4).to_list(), name=agent)
    fig.update_layout(
        barmode="stack", title="Computed LLM cost per day", height=380, yaxis_title="USD", **LAYOUT
    )
    return fig


def agent_trend(days: pl.DataFrame, agent: str, baseline_usd: float | None) -> go.Figure:
    """One agent's month: cases per day (bars) and cost per resolved case (line)."""
    rows = days.filter(pl.col("agent_name") == agent)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(
        x=rows["day"].to_list(),
        y=rows["n_cases"].to_list(),
        name="cases",
        marker_color="#9db4d3",
        secondary_y=False,
    )
    fig.add_scatter(
        x=rows["day"].to_list(),
        y=rows["cost_per_resolved_case_usd"].round(4).to_list(),
        name="cost per resolved case",
        mode="lines+markers",
        line={"color": "#c0392b"},
        secondary_y=True,
    )
    if baseline_usd is not None:
        fig.add_hline(
            y=baseline_usd,
            line_dash="dash",
            line_color="#555",
            secondary_y=True,
            annotation_text="human baseline",
            annotation_position="top left",
        )
    fig.update_layout(
        title=f"{agent}: volume and cost per resolved case", height=300, showlegend=False, **LAYOUT
    )
    fig.update_yaxes(title_text="cases", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="USD / resolved case", secondary_y=True, rangemode="tozero")
    return fig
