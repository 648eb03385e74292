"""Drift alerts: the first window of each alert episode in drift_daily / drift_weekly,
emitted once. A ledger (DATA/alerts/sent.jsonl) remembers every alert ever emitted, so
re-running the nightly flow never sends the same alert twice.

The first run on a data dir (no ledger yet, e.g. the first nightly after a backfill of
months of history) announces only the alerts whose window ended in the last
FIRST_RUN_ANNOUNCE_DAYS days of the data; the older ones go into the ledger as
`backlog`, so past windows are never announced as new."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.db import connect
from pipelines.drift.marts import MARTS
from pipelines.settings import Settings

COLUMNS = ("agent_name", "metric", "window_start", "window_end", "reference_start",
           "reference_end", "n_current", "n_reference", "current_mean", "reference_mean",
           "mean_shift_low", "mean_shift_high", "change_point_day", "reason")  # fmt: skip
FIRST_RUN_ANNOUNCE_DAYS = 7


def alerts_in_warehouse(warehouse_path: Path) -> list[dict]:
    """Every alert episode's first window, both granularities, with an `id`."""
    con = connect(warehouse_path, read_only=True)
    try:
        alerts = []
        for granularity, mart in MARTS.items():
            rows = (
                con.sql(
                    f"select {', '.join(COLUMNS)} from {mart} where is_new_alert "
                    "order by window_start, agent_name, metric"
                )
                .pl()
                .to_dicts()
            )
            for row in rows:
                row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
                key = f"{granularity}/{row['agent_name']}/{row['metric']}/{row['window_start']}"
                alerts.append({"id": key, "granularity": granularity, **row})
        return alerts
    finally:
        con.close()


def latest_window_end(warehouse_path: Path) -> date | None:
    """The last day any daily drift window covers: the end of the data."""
    con = connect(warehouse_path, read_only=True)
    try:
        return con.execute(f"select max(window_end) from {MARTS['daily']}").fetchall()[0][0]
    finally:
        con.close()


def split_backlog(
    alerts: list[dict], latest_day: date | None, days: int = FIRST_RUN_ANNOUNCE_DAYS
) -> tuple[list[dict], list[dict]]:
    """(alerts to announce, past alerts to record unannounced): a window that ended more
    than `days` days before `latest_day` is past."""
    if latest_day is None:
        return alerts, []
    cutoff = (latest_day - timedelta(days=days)).isoformat()
    recent = [a for a in alerts if a["window_end"] > cutoff]
    return recent, [a for a in alerts if a["window_end"] <= cutoff]


def emit_new_alerts(
    settings: Settings, *, now: datetime | None = None
) -> tuple[list[dict], Path | None]:
    """Alerts not emitted before: written to DATA/alerts/drift-<time>.json, posted to the
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
        new, backlog = split_backlog(new, latest_window_end(settings.warehouse_path))
    alerts_dir.mkdir(parents=True, exist_ok=True)
    path = None
    if new:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        path = alerts_dir / f"drift-{stamp}.json"
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
