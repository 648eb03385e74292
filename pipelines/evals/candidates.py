"""The flywheel: production cases that went wrong become eval dataset items.

A case is a candidate when it scored below the agent's quality target, escalated, fell
back, or ran inside a drift alert window. Per intent, the cases with the most reasons
come first (then the lowest score), up to `per_intent`, so every intent is represented
(stratified); ids already in the existing dataset are left out. Items carry ids,
intent, outcome and scores only: the lake keeps no prompt content unless retention is on,
and then it stays in the lake.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pipelines.db import connect
from pipelines.errors import UserError
from pipelines.increments import built_warehouse
from pipelines.names import file_stem
from pipelines.report.queries import month_bounds
from pipelines.report.render import MONTH, write_whole
from pipelines.settings import Settings

CANDIDATES_DIR = "eval_candidates"

CANDIDATES_SQL = """
with cases as (
    select c.*, a.quality_target,
        exists (
            select 1 from drift_daily as d
            where d.agent_name = c.agent_name and d.verdict = 'alert'
                and c.day between d.window_start and d.window_end
        ) as in_drift_window
    from fct_cases as c left join agents as a using (agent_name)
    where c.agent_name = $agent and c.day >= $month_start and c.day < $month_end
), flagged as (
    select *, list_filter([
            if(quality_score < quality_target, 'low score', null),
            if(outcome = 'escalated', 'escalated', null),
            if(is_fallback or outcome = 'fallback', 'fallback', null),
            if(in_drift_window, 'drifted window', null)
        ], lambda r: r is not null) as reasons
    from cases
)
select conversation_id as item_id, agent_name, coalesce(intent, '(none)') as intent, outcome,
    quality_score, quality_target, is_fallback, agent_version, day, cost_usd, reasons
from flagged
where len(reasons) > 0
qualify row_number() over (
    partition by intent order by len(reasons) desc, quality_score nulls last, conversation_id
) <= $per_intent
order by intent, len(reasons) desc, quality_score nulls last, item_id
"""


class CandidatesError(UserError, ValueError):
    """The candidates cannot be exported as asked; the message says why."""


def existing_ids(dataset: Path | None) -> set[str]:
    """item_id of every line of an existing eval dataset (JSONL)."""
    if dataset is None or not dataset.exists():
        return set()
    ids = set()
    for number, line in enumerate(dataset.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ids.add(str(json.loads(line)["item_id"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            message = f"{dataset}:{number}: item_id: not an eval item ({error})"
            raise CandidatesError(message) from None
    return ids


def select_candidates(con, agent: str, month: str, per_intent: int) -> pl.DataFrame:
    start, end = month_bounds(month)
    params = {"agent": agent, "month_start": start, "month_end": end, "per_intent": per_intent}
    return con.sql(CANDIDATES_SQL, params=params).pl()


def export_candidates(
    settings: Settings,
    agent: str,
    month: str,
    *,
    per_intent: int = 50,
    dataset: Path | None = None,
    output: Path | None = None,
) -> tuple[Path, int, int]:
    """Write the month's new candidates as JSONL; (path, written, already in the dataset)."""
    if not MONTH.match(month):
        raise CandidatesError(f"month must look like 2026-10, got {month!r}")
    warehouse = built_warehouse(settings.warehouse_path, CandidatesError)
    known = existing_ids(dataset)
    con = connect(warehouse, read_only=True)
    try:
        if not con.sql("select 1 from agents where agent_name = $a union all "
                       "select 1 from fct_cases where agent_name = $a limit 1",
                       params={"a": agent}).fetchall():  # fmt: skip
            raise CandidatesError(f"no agent {agent!r} in the registry or the cases")
        found = select_candidates(con, agent, month, per_intent)
    finally:
        con.close()
    fresh = found.filter(~pl.col("item_id").is_in(sorted(known)))
    target = output or settings.data_dir / CANDIDATES_DIR / f"{file_stem(agent)}-{month}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({**row, "source": "production", "month": month}, default=str)
        for row in fresh.to_dicts()
    ]
    write_whole(target, "".join(line + "\n" for line in lines))
    return target, fresh.height, found.height - fresh.height
