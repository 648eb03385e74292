"""The eval diff's I/O: each side's eval_results rows from the warehouse, the agent's
production volume, and the JSON + HTML written under reports/diffs/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from pipelines.db import connect
from pipelines.evals import diff, ledger
from pipelines.evals.diff import DiffError
from pipelines.increments import built_warehouse
from pipelines.names import file_stem
from pipelines.policy import eval_diff_policy
from pipelines.report.figures import LAYOUT
from pipelines.report.pages import (
    chart_html,
    ensure_plotly,
    environment,
    write_whole,
)
from pipelines.settings import Settings

DIFFS_DIR = "diffs"
VOLUME_DAYS = 30


@dataclass(frozen=True)
class DiffOutput:
    result: dict
    html: Path
    json: Path


def side_rows(con, agent: str, selector: str) -> pl.DataFrame:
    """The eval_results rows of a run id, else of every run with that variant label."""
    for column in ("run_id", "variant"):
        rows = con.sql(
            f"select * from eval_results where {column} = $s", params={"s": selector}
        ).pl()
        if not rows.is_empty():
            break
    else:
        known = con.sql(
            "select distinct run_id, variant from eval_results where agent_name = $a order by 1",
            params={"a": agent},
        ).fetchall()
        listed = ", ".join(f"{run} ({variant})" for run, variant in known) or "none"
        raise DiffError(f"no eval run or variant {selector!r}; runs of {agent}: {listed}")
    agents = sorted(set(rows["agent_name"].drop_nulls()))
    if agents != [agent]:
        raise DiffError(f"{selector!r} evaluates {', '.join(agents) or 'no agent'}, not {agent}")
    return rows


def monthly_cases(con, agent: str) -> int | None:
    """The agent's cases over the last VOLUME_DAYS days with production data."""
    (cases,) = con.sql(
        f"select sum(n_cases) from agent_daily where agent_name = $a and day > "
        f"(select max(day) from agent_daily) - {VOLUME_DAYS}",
        params={"a": agent},
    ).fetchall()[0]
    return None if cases is None else int(cases)


def run_diff(
    settings: Settings, agent: str, baseline: str, candidate: str, score: str = "quality"
) -> DiffOutput:
    """Compare two runs (or variants) of `agent`; write reports/diffs/<name>.{json,html}."""
    if baseline == candidate:
        raise DiffError("baseline and candidate are the same run")
    warehouse = built_warehouse(settings.warehouse_path, DiffError)
    policy = eval_diff_policy(settings.config_dir)
    con = connect(warehouse, read_only=True)
    try:
        sides = {name: side_rows(con, agent, name) for name in (baseline, candidate)}
        volume = monthly_cases(con, agent)
    finally:
        con.close()
    items = {name: diff.per_item(rows, score) for name, rows in sides.items()}
    pairs = diff.pair(items[baseline], items[candidate])
    result = {
        "agent": agent,
        "score": score,
        "baseline_run": baseline,
        "candidate_run": candidate,
        "runs": {name: _describe(rows) for name, rows in sides.items()},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **diff.compare(pairs, volume, policy),
        "policy": policy.__dict__,
    }
    out = settings.reports_dir / DIFFS_DIR
    out.mkdir(parents=True, exist_ok=True)
    name = file_stem(f"{agent}--{baseline}--vs--{candidate}", limit=150)
    json_path, html_path = out / f"{name}.json", out / f"{name}.html"
    write_whole(json_path, json.dumps(result, indent=2, default=str))
    ledger.record(settings.data_dir, name, result)
    chart = chart_html(_differences_figure(pairs.paired), "chart-diff")
    page = environment().get_template("diff.html.j2")
    html = page.render(r=result, chart=chart, plotly_src=ensure_plotly(out))
    write_whole(html_path, html)
    return DiffOutput(result, html_path, json_path)


def _describe(rows: pl.DataFrame) -> dict:
    def values(column: str) -> list[str]:
        return sorted(str(v) for v in rows[column].unique().drop_nulls())

    return {
        "runs": values("run_id"),
        "variants": values("variant"),
        "models": values("model"),
        "prompt_versions": values("prompt_version"),
        "datasets": values("dataset"),
        "cost_sources": values("cost_source"),
        "evaluated_until": rows["evaluated_at"].max(),
    }


def _differences_figure(paired: pl.DataFrame) -> go.Figure:
    differences = (paired["score_candidate"] - paired["score_baseline"]).round(4).to_list()
    fig = go.Figure(go.Histogram(x=differences, nbinsx=40, marker_color="#2f5d8a"))
    fig.add_vline(x=0, line_dash="dash", line_color="#555")
    fig.update_layout(title="Per-item quality difference (candidate − baseline)", height=320,
                      xaxis_title="difference", yaxis_title="items", **LAYOUT)  # fmt: skip
    return fig
