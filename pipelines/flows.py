"""Prefect flows: wiring only. Each task calls one plain function; the logic lives there.

Parameters are plain strings so deployments (prefect.yaml) can pass them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from pipelines import cluster as dask_cluster
from pipelines import warehouse
from pipelines.alerts import emit_new_alerts
from pipelines.db import connect
from pipelines.errors import UserError
from pipelines.evals.candidates import export_candidates
from pipelines.evals.runs import run_diff
from pipelines.increments import local_copy
from pipelines.ingest import FileResult, Prepared, begin_ingest, ingest_file, raw_files
from pipelines.ingest.parallel import commit_in_turn
from pipelines.lock import data_dir_lock
from pipelines.periods import month_range, parse_month
from pipelines.report import queries
from pipelines.report.render import (
    latest_full_month,
    month_verdicts,
    previous_month,
    render_month,
)
from pipelines.settings import Settings
from pipelines.validate import DataQuality

# Guards against a hung run, far above what the benches measure (seconds).
INGEST_FILE_TIMEOUT = 3 * 3600
BUILD_TIMEOUT = 6 * 3600
REPORT_TIMEOUT = 3600
SMALL_TASK_TIMEOUT = 600
# A scheduled run waits this long for another writer of its data dir (a backfill, say).
LOCK_WAIT_SECONDS = 4 * 3600


def _settings(
    data_dir: str | None, config_dir: str, reports_dir: str, cluster: str | None = None
) -> Settings:
    settings = Settings.from_env(
        data_dir=data_dir or None,  # as typed: Path("s3://b/p") would lose a slash
        config_dir=Path(config_dir),
        reports_dir=Path(reports_dir),
        dask_address=cluster,
    )
    return settings.require_data_dir()


def _writing(settings: Settings, flow_name: str):
    """The data dir's write lock for a flow run: waits for another writer, and says so."""
    logger = get_run_logger()
    return data_dir_lock(
        settings.data_dir,
        f"flow {flow_name}",
        wait_seconds=max(settings.lock_wait_seconds, LOCK_WAIT_SECONDS),
        on_wait=logger.warning,
    )


def retry_unless_user_error(task, task_run, state) -> bool:
    """Retry a failed task run unless its error is the user's to fix (no retry mends it)."""
    try:
        state.result()
    except UserError:
        return False
    except Exception:
        return True
    return False


@task(cache_policy=NO_CACHE, timeout_seconds=SMALL_TASK_TIMEOUT)
def find_raw_files(settings: Settings) -> tuple[list[Path], DataQuality]:
    """The raw files to look at, and the data-quality context their ingests share."""
    files = list(raw_files([settings.raw_dir]))
    get_run_logger().info("%d raw file(s) under %s", len(files), settings.raw_dir)
    return files, begin_ingest(settings)


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_unless_user_error,
    timeout_seconds=INGEST_FILE_TIMEOUT,
    task_run_name="ingest {path.name}",
)
def ingest_raw_file(path: Path, settings: Settings, quality: DataQuality) -> FileResult:
    """Ingest one raw file (a no-op when this exact version is in the lake)."""
    return _logged(ingest_file(path, settings, quality=quality))


# No timeout_seconds: on a Dask worker a task runs in a worker thread, where Prefect
# cannot interrupt it (it says so, once per task run), only fail it once it is done.
@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_unless_user_error,
    task_run_name="prepare {path.name}",
)
def prepare_raw_file(path: Path, settings: Settings) -> Prepared | FileResult:
    """Parse and stage one raw file on a cluster worker, no commit (see `cluster`)."""
    return dask_cluster.prepare_on_worker(path, settings)


@task(
    cache_policy=NO_CACHE, timeout_seconds=INGEST_FILE_TIMEOUT, task_run_name="commit {path.name}"
)
def commit_raw_file(
    path: Path, prepared: Prepared | FileResult, settings: Settings, quality: DataQuality
) -> FileResult:
    """Commit a file a worker prepared, in its turn, here (or parse it again here, if a
    file committed meanwhile changes its dedupe). No retry: a failed commit's files are
    never logged (discarded, or left to the next run's garbage collection); the next run
    ingests the file."""
    return _logged(commit_in_turn(prepared, settings, quality, None))


def _logged(result: FileResult) -> FileResult:
    """A file's result, logged: its records, or why it was set aside."""
    logger = get_run_logger()
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
    return result


@task(cache_policy=NO_CACHE, timeout_seconds=REPORT_TIMEOUT)
def build_data_docs(quality: DataQuality) -> None:
    """Great Expectations' Data Docs, once per run."""
    quality.build_docs()


def ingest_new_files(settings: Settings) -> list[str]:
    """One task run per raw file, each retried on its own; returns what went wrong (files
    that failed, files set aside), the run goes on with the others and fails at its end.
    On a cluster (settings.dask_address), the files are prepared on its workers and
    committed here (`ingest_on_cluster`)."""
    files, quality = find_raw_files(settings)
    with dask_cluster.running(settings.dask_address) as runner:
        if runner is None:
            states = [ingest_raw_file(path, settings, quality, return_state=True)
                      for path in files]  # fmt: skip
        else:
            states = ingest_on_cluster(files, settings, quality, runner)
    build_data_docs(quality)
    results = [state.result() for state in states if state.is_completed()]
    get_run_logger().info(
        "ingest: %d new, %d unchanged, %d set aside, %d failed",
        sum(r.status == "ingested" for r in results),
        sum(r.status == "unchanged" for r in results),
        sum(r.status == "set aside" for r in results),
        len(files) - len(results),
    )
    failed = [
        f"{path.name} failed (see its task run)"
        for path, state in zip(files, states, strict=True)
        if not state.is_completed()
    ]
    return failed + [
        f"{r.path.name} set aside: {r.note}" for r in results if r.status == "set aside"
    ]


def ingest_on_cluster(files: list[Path], settings: Settings, quality: DataQuality, runner):
    """Every file prepared on the cluster's workers at once (as workers free up); each
    committed here in name order, as soon as it and the files before it are: a file whose
    prepare failed ends its commit task NotReady (a failure, see its prepare task run)."""
    from pipelines.validate import import_gx_in_background

    prepared = [runner.submit(prepare_raw_file, {"path": path, "settings": settings})
                for path in files]  # fmt: skip
    import_gx_in_background()  # the commits' audit needs it; it loads while workers parse
    return [commit_raw_file(path, future, settings, quality, return_state=True)
            for path, future in zip(files, prepared, strict=True)]  # fmt: skip


class IngestFailed(RuntimeError):
    """Some raw files could not be ingested; the rest of the run went on."""


def _fail_on(problems: list[str]) -> None:
    if problems:
        raise IngestFailed(f"{len(problems)} raw file(s) not ingested: " + "; ".join(problems))


@task(cache_policy=NO_CACHE, timeout_seconds=BUILD_TIMEOUT)
def build_warehouse(settings: Settings) -> str:
    """Bring the warehouse up to date: only what new lake files touch, unless more changed.
    On a cluster (settings.dask_address), a full build's batches run on its workers.
    (The cluster is reached here, not passed in: a task's parameters travel, pickled,
    with every task it submits to the cluster, and a live task runner cannot.)"""
    with dask_cluster.running(settings.dask_address) as runner:
        result = warehouse.build(settings, map_batches=dask_cluster.batch_mapper(runner))
    get_run_logger().info(
        "warehouse %s: %s build (%s), %d day(s) rewritten, %.1fs",
        settings.warehouse_path,
        result.mode,
        result.reason,
        len(result.touched_days),
        result.seconds,
    )
    return result.mode


@task(cache_policy=NO_CACHE, timeout_seconds=SMALL_TASK_TIMEOUT)
def emit_alerts(settings: Settings) -> list[dict]:
    """New alerts (drift, guardrail breaches, SLO burns, budget forecasts): a JSON file, the
    webhook if configured, this log and an artifact."""
    logger = get_run_logger()
    alerts, path = emit_new_alerts(settings)
    for alert in alerts:
        logger.warning("%s alert %s: %s", alert["kind"], alert["id"], alert["reason"])
    if alerts:
        lines = [f"| {a['kind']} | {a['agent_name']} | {a['subject']} | "
                 f"{a['window_start']} | {a['reason']} |" for a in alerts]  # fmt: skip
        create_markdown_artifact(
            "| kind | agent | what | from | why |\n|---|---|---|---|---|\n" + "\n".join(lines),
            key="alerts",
            description=f"{len(alerts)} new alert(s), also in {path}",
        )
    logger.info("alerts: %d new", len(alerts))
    return alerts


@task(cache_policy=NO_CACHE, timeout_seconds=REPORT_TIMEOUT)
def render_report(settings: Settings, month: str) -> str:
    """Render one month's portfolio review; its link is published as an artifact."""
    path = render_month(settings, month)
    get_run_logger().info("report %s: %s", month, path)
    create_link_artifact(
        path.as_uri(),
        link_text=f"Portfolio review {month}",
        key="portfolio-review",
        description=f"The portfolio review of {month}, rendered on the worker's disk.",
    )
    return str(path)


@task(cache_policy=NO_CACHE, timeout_seconds=SMALL_TASK_TIMEOUT)
def publish_month_table(settings: Settings, month: str, alerts: list[dict]) -> None:
    """A table artifact: every agent's verdict for the month, and this run's new alerts."""
    rows = month_verdicts(settings, month)
    for row in rows:
        mine = [f"{a['kind']}: {a['subject']}" for a in alerts
                if a["agent_name"] == row["agent"]]  # fmt: skip
        row["new alerts"] = ", ".join(mine)
    create_table_artifact(
        rows, key="portfolio-verdicts", description=f"Verdicts of {month}, new alerts"
    )


@task(cache_policy=NO_CACHE, timeout_seconds=SMALL_TASK_TIMEOUT)
def months_to_render(settings: Settings, start: str | None, end: str | None) -> list[str]:
    """Months with data between start and end (default: all, up to the latest full month)."""
    last = end or latest_full_month(settings)
    con = connect(local_copy(settings.warehouse_path), read_only=True)
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
    cluster: str | None = None,
):
    """Ingest new files, rebuild the warehouse, emit new alerts, render the latest
    full month; with eval_candidates, also export each agent's eval candidates for it.
    With `cluster` (a Dask scheduler's address; default FLEETLEDGER_DASK_ADDRESS), the
    ingest and the build fan out over its workers (see `pipelines.cluster`)."""
    settings = _settings(data_dir, config_dir, reports_dir, cluster)
    with _writing(settings, "nightly"):
        failed = ingest_new_files(settings)
        build_warehouse(settings)
        alerts = emit_alerts(settings)
        month = latest_full_month(settings)
        if eval_candidates:
            write_eval_candidates(settings, month)
        path = render_report(settings, month)
    publish_month_table(settings, month, alerts)
    _fail_on(failed)
    return path


@task(cache_policy=NO_CACHE, timeout_seconds=REPORT_TIMEOUT)
def write_eval_candidates(settings: Settings, month: str) -> list[str]:
    """DATA/eval_candidates/<agent>-<month>.jsonl for every agent with cases."""
    con = connect(local_copy(settings.warehouse_path), read_only=True)
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
    render: bool = True,
    cluster: str | None = None,
):
    """Ingest everything, rebuild, and render every month from start to end (unless
    render is false). With `cluster`, as the nightly's."""
    start, end = month_range(start, end)
    settings = _settings(data_dir, config_dir, reports_dir, cluster)
    with _writing(settings, "backfill"):
        failed = ingest_new_files(settings)
        build_warehouse(settings)
        months = months_to_render(settings, start, end) if render else []
        paths = [render_report(settings, m) for m in months]
    _fail_on(failed)
    return paths


@flow(name="monthly_review", log_prints=True)
def monthly_review(
    month: str | None = None,
    data_dir: str | None = None,
    config_dir: str = "config",
    reports_dir: str = "reports",
):
    """Render the portfolio review of `month` (default: the calendar month before today)."""
    month = parse_month(month) if month else previous_month(datetime.now(UTC).date())
    settings = _settings(data_dir, config_dir, reports_dir)
    path = render_report(settings, month)
    publish_month_table(settings, month, [])
    return path


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
    with _writing(settings, "migration_diff"):  # files the result in DATA/diffs
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
