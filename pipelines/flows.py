"""Prefect flows: wiring only. Each task calls one plain function; the logic lives there.

Parameters are plain strings so deployments (prefect.yaml) can pass them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines import warehouse
from pipelines.db import connect
from pipelines.drift.alerts import emit_new_alerts
from pipelines.evals.candidates import export_candidates
from pipelines.evals.runs import run_diff
from pipelines.ingest import FileResult, ingest_paths
from pipelines.report import queries
from pipelines.report.render import latest_full_month, previous_month, render_month
from pipelines.settings import Settings


def _settings(data_dir: str | None, config_dir: str, reports_dir: str) -> Settings:
    return Settings.from_env(
        data_dir=Path(data_dir) if data_dir else None,
        config_dir=Path(config_dir),
        reports_dir=Path(reports_dir),
    )


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def ingest_new_files(settings: Settings) -> list[FileResult]:
    """Ingest every raw file not ingested in this exact version yet."""
    logger = get_run_logger()

    def log(result: FileResult) -> None:
        if result.status == "ingested":
            logger.info(
                "%s: %d records = %d accepted + %d quarantined",
                result.path.name,
                result.rows_read,
                result.rows_accepted,
                result.rows_quarantined,
            )
        elif result.status == "set aside":
            logger.warning("%s: set aside: %s", result.path.name, result.note)

    results = ingest_paths([settings.raw_dir], settings, on_file=log)
    logger.info(
        "ingest: %d new, %d unchanged, %d set aside",
        sum(r.status == "ingested" for r in results),
        sum(r.status == "unchanged" for r in results),
        sum(r.status == "set aside" for r in results),
    )
    return results


@task(cache_policy=NO_CACHE)
def build_warehouse(settings: Settings) -> str:
    """Bring the warehouse up to date: only what new lake files touch, unless more changed."""
    result = warehouse.build(settings)
    get_run_logger().info(
        "warehouse %s: %s build (%s), %d day(s) rewritten, %.1fs",
        settings.warehouse_path,
        result.mode,
        result.reason,
        len(result.touched_days),
        result.seconds,
    )
    return result.mode


@task(cache_policy=NO_CACHE)
def emit_drift_alerts(settings: Settings) -> int:
    """New drift alerts: a JSON file, the webhook if configured, this log and an artifact."""
    logger = get_run_logger()
    alerts, path = emit_new_alerts(settings)
    for alert in alerts:
        logger.warning("drift alert %s: %s", alert["id"], alert["reason"])
    if alerts:
        lines = [f"| {a['granularity']} | {a['agent_name']} | {a['metric']} | "
                 f"{a['window_start']} | {a['reason']} |" for a in alerts]  # fmt: skip
        create_markdown_artifact(
            "| window | agent | metric | from | why |\n|---|---|---|---|---|\n" + "\n".join(lines),
            key="drift-alerts",
            description=f"{len(alerts)} new drift alert(s), also in {path}",
        )
    logger.info("drift: %d new alert(s)", len(alerts))
    return len(alerts)


@task(cache_policy=NO_CACHE)
def render_report(settings: Settings, month: str) -> str:
    """Render one month's portfolio review."""
    path = render_month(settings, month)
    get_run_logger().info("report %s: %s", month, path)
    return str(path)


@task(cache_policy=NO_CACHE)
def months_to_render(settings: Settings, start: str | None, end: str | None) -> list[str]:
    """Months with data between start and end (default: all, up to the latest full month)."""
    last = end or latest_full_month(settings)
    con = connect(settings.warehouse_path, read_only=True)
    try:
        months = queries.months_with_data(con)
    finally:
        con.close()
    return [m for m in months if (start is None or m >= start) and m <= last]


@flow(name="nightly", log_prints=True)
def nightly(
    data_dir: str | None = None,
    config_dir: str = "config",
    reports_dir: str = "reports",
    eval_candidates: bool = False,
):
    """Ingest new files, rebuild the warehouse, emit new drift alerts, render the latest
    full month; with eval_candidates, also export each agent's eval candidates for it."""
    settings = _settings(data_dir, config_dir, reports_dir)
    ingest_new_files(settings)
    build_warehouse(settings)
    emit_drift_alerts(settings)
    month = latest_full_month(settings)
    if eval_candidates:
        write_eval_candidates(settings, month)
    return render_report(settings, month)


@task(cache_policy=NO_CACHE)
def write_eval_candidates(settings: Settings, month: str) -> list[str]:
    """DATA/eval_candidates/<agent>-<month>.jsonl for every agent with cases."""
    con = connect(settings.warehouse_path, read_only=True)
    try:
        agents = [r[0] for r in con.sql("select distinct agent_name from agent_monthly "
                                        "order by 1").fetchall()]  # fmt: skip
    finally:
        con.close()
    paths = []
    for agent in agents:
        path, written, _ = export_candidates(settings, agent, month)
        get_run_logger().info("%s: %d eval candidates → %s", agent, written, path)
        paths.append(str(path))
    return paths


@flow(name="backfill", log_prints=True)
def backfill(
    data_dir: str | None = None,
    config_dir: str = "config",
    reports_dir: str = "reports",
    start: str | None = None,
    end: str | None = None,
):
    """Ingest everything, rebuild, and render every month from start to end."""
    settings = _settings(data_dir, config_dir, reports_dir)
    ingest_new_files(settings)
    build_warehouse(settings)
    return [render_report(settings, month) for month in months_to_render(settings, start, end)]


@flow(name="monthly_review", log_prints=True)
def monthly_review(
    month: str | None = None,
    data_dir: str | None = None,
    config_dir: str = "config",
    reports_dir: str = "reports",
):
    """Render the portfolio review of `month` (default: the calendar month before today)."""
    settings = _settings(data_dir, config_dir, reports_dir)
    return render_report(settings, month or previous_month(datetime.now(UTC).date()))


@flow(name="migration_diff", log_prints=True)
def migration_diff(
    agent: str,
    baseline: str,
    candidate: str,
    score: str = "quality",
    data_dir: str | None = None,
    config_dir: str = "config",
    reports_dir: str = "reports",
) -> dict:
    """The eval diff of a candidate against a baseline (runs or variants): decision,
    reasons, report paths. A hold fails the flow run, so it shows red where it gates."""
    settings = _settings(data_dir, config_dir, reports_dir)
    output = run_diff(settings, agent, baseline, candidate, score)
    summary = {"decision": output.result["decision"], "reasons": output.result["reasons"],
               "html": str(output.html), "json": str(output.json)}  # fmt: skip
    create_markdown_artifact(
        key="migration-diff",
        markdown=f"**{summary['decision']}** {agent}: {baseline} → {candidate}\n\n"
        + "\n".join(f"- {reason}" for reason in summary["reasons"]),
    )
    if summary["decision"] != "ship":
        raise HeldError(f"hold: {'; '.join(summary['reasons'])} ({output.html})")
    return summary


class HeldError(RuntimeError):
    """The candidate did not pass its eval diff."""


if __name__ == "__main__":
    nightly()
