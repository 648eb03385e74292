"""The nightly's alerts, emitted once: drift (drift_daily / drift_weekly), guardrail
breaches (evaluator_daily / evaluator_weekly), SLO error-budget burns (slo_burn_daily) and
budget forecasts (budget_forecast_daily). Each mart marks the first row of an alert
episode `is_new_alert`; this module reads those rows, and a ledger
(DATA/alerts/sent.jsonl) remembers every alert ever emitted, so re-running the nightly
never sends the same alert twice.

The first run on a data dir (no ledger yet, e.g. the first nightly after a backfill of
months of history) announces only the alerts whose window ended in the last
FIRST_RUN_ANNOUNCE_DAYS days of the data; the older ones go into the ledger as
`backlog`, so past windows are never announced as new."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.db import connect
from pipelines.increments import local_copy
from pipelines.settings import Settings

FIRST_RUN_ANNOUNCE_DAYS = 7
DRIFT_COLUMNS = ("metric", "reference_start", "reference_end", "n_current", "n_reference",
                 "current_mean", "reference_mean", "mean_shift_low", "mean_shift_high",
                 "change_point_day")  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One kind of alert: a query over its mart's `is_new_alert` rows returning agent_name,
    subject (what alerted), window_start, window_end, reason and any details; `key` names
    the columns that identify an alert (its id, with the prefix)."""

    prefix: str
    kind: str
    sql: str
    key: tuple[str, ...]


def _drift(granularity: str) -> Source:
    # a quiet agent's daily windows may share a first day, never a last; weeks end late
    key = "window_end" if granularity == "daily" else "window_start"
    return Source(
        granularity,
        "drift",
        f"select agent_name, metric as subject, window_start, window_end, reason, "
        f"'{granularity}' as granularity, {', '.join(DRIFT_COLUMNS)} "
        f"from drift_{granularity} where is_new_alert",
        ("agent_name", "subject", key),
    )


def _guardrail(granularity: str, period: str) -> Source:
    return Source(
        f"guardrail/{granularity}",
        "guardrail",
        f"select agent_name, evaluator as subject, {period} as window_start, "
        f"{period} + {6 if period == 'week_start' else 0} as window_end, reason, "
        f"'{granularity}' as granularity, agent_version, evaluator, n_scores, score_mean, "
        f"score_ci_low, score_ci_high, bound, threshold "
        f"from evaluator_{granularity} where is_new_alert",
        ("agent_name", "agent_version", "evaluator", "window_start"),
    )


SOURCES = (
    _drift("daily"),
    _drift("weekly"),
    _guardrail("daily", "day"),
    _guardrail("weekly", "week_start"),
    Source(
        "slo_burn",
        "slo_burn",
        "select agent_name, slo as subject, day - cast(short_days - 1 as integer) as window_start, "
        "day as window_end, reason, slo, short_burn_rate, long_burn_rate "
        "from slo_burn_daily where is_new_alert",
        ("agent_name", "slo", "window_end"),
    ),
    Source(
        "budget",
        "budget",
        "select agent_name, 'monthly_budget_usd' as subject, "
        "date_trunc('month', day)::date as window_start, day as window_end, reason, "
        "mtd_cost_usd, projected_month_usd, monthly_budget_usd "
        "from budget_forecast_daily where is_new_alert",
        ("agent_name", "window_start"),
    ),
)


def alerts_in_warehouse(warehouse_path: Path) -> list[dict]:
    """Every alert episode's first row, of every kind, each with an `id` and its `kind`."""
    con = connect(local_copy(warehouse_path), read_only=True)
    try:
        alerts = []
        for source in SOURCES:
            rows = con.sql(f"{source.sql} order by window_start, agent_name, subject").pl()
            for row in rows.to_dicts():
                row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
                key = "/".join(str(row[column]) for column in source.key)
                alerts.append({"id": f"{source.prefix}/{key}", "kind": source.kind, **row})
        return alerts
    finally:
        con.close()


def latest_day(warehouse_path: Path) -> date | None:
    """The last day with production cases: the end of the data."""
    con = connect(local_copy(warehouse_path), read_only=True)
    try:
        return con.execute("select max(day) from agent_daily").fetchall()[0][0]
    finally:
        con.close()


def split_backlog(
    alerts: list[dict], latest: date | None, days: int = FIRST_RUN_ANNOUNCE_DAYS
) -> tuple[list[dict], list[dict]]:
    """(alerts to announce, past alerts to record unannounced): a window that ended more
    than `days` days before `latest` is past."""
    if latest is None:
        return alerts, []
    cutoff = (latest - timedelta(days=days)).isoformat()
    recent = [a for a in alerts if a["window_end"] > cutoff]
    return recent, [a for a in alerts if a["window_end"] <= cutoff]


def emit_new_alerts(
    settings: Settings, *, now: datetime | None = None
) -> tuple[list[dict], Path | None]:
    """Alerts not emitted before: written to DATA/alerts/alerts-<time>.json, posted to the
    webhook when one is configured, then added to the ledger. Returns them and the file.
    On the first run, past alerts are recorded as backlog instead (see the module doc)."""
    alerts_dir = settings.data_dir / "alerts"
    ledger = alerts_dir / "sent.jsonl"
    sent = set()
    if ledger.exists():
        sent = {json.loads(line)["id"] for line in ledger.read_text().splitlines() if line}
    new = [a for a in alerts_in_warehouse(settings.warehouse_path) if a["id"] not in sent]
    backlog: list[dict] = []
    if not ledger.exists():
        new, backlog = split_backlog(new, latest_day(settings.warehouse_path))
    alerts_dir.mkdir(parents=True, exist_ok=True)
    path = None
    if new:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        path = alerts_dir / f"alerts-{stamp}.json"
        path.write_text(json.dumps({"alerts": new}, indent=2))
        if settings.alert_webhook_url:
            post_json(settings.alert_webhook_url, {"source": "fleetledger", "alerts": new})
    with ledger.open("a") as handle:
        for alert in backlog:
            handle.write(json.dumps({"id": alert["id"], "file": None, "backlog": True}) + "\n")
        for alert in new:
            handle.write(json.dumps({"id": alert["id"], "file": path.name}) + "\n")
    return new, path


def post_json(url: str, payload: dict) -> None:
    """POST the payload as JSON; raises on a non-2xx answer or no answer within 10 s."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
