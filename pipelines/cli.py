"""The `fleetledger` command: a thin shell over the Python API (flows are optional)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperGroup

from pipelines.errors import UserError
from pipelines.lock import data_dir_lock
from pipelines.periods import month_range, parse_day, parse_month
from pipelines.settings import DASK_ADDRESS_ENV, DATA_DIR_ENV, Settings, location

# Heavy libraries (Great Expectations, Prefect, plotly, scipy) are imported inside the
# commands that use them, so `--help` and `sql` start fast (`make bench` times both).


class _Commands(TyperGroup):
    """Every command: a user error (UserError) is one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            console.print(f"error: {error}", style="bold red", highlight=False)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    help=(
        "fleetledger: the ledger of an AI agent fleet.\n\n"
        "Workflow: raw exports (OTLP traces, bills) land in DATA/raw → `ingest` writes the "
        "Parquet lake → `build` computes costs and marts into DATA/warehouse.duckdb → "
        "`report` renders REPORTS/<month>/portfolio-review.html (+ a page per agent). "
        "`nightly` and `backfill` "
        "run all three; `demo` generates a 90-day demo fleet and runs it end to end.\n\n"
        "Commands that write the data dir (ingest, build, diff, eval-candidates, demo, "
        "nightly, backfill) take a lock on it: a second one exits naming the first "
        "(FLEETLEDGER_LOCK_WAIT=SECONDS: wait instead; the nightly and backfill flows wait "
        "up to 4 h).\n\n"
        "Example:  fleetledger demo && open reports/index.html"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(stderr=True, soft_wrap=True)  # paths in messages stay copy-pasteable

DataDir = typer.Option(
    "data", "--data-dir", envvar=DATA_DIR_ENV, help="Data folder (raw/, lake/, warehouse)."
)
ConfigDir = typer.Option(Path("config"), "--config-dir", help="Folder with agents.yaml.")
ReportsDir = typer.Option(Path("reports"), "--reports-dir", help="Where reports are written.")
# No envvar here: Settings reads FLEETLEDGER_DASK_ADDRESS (a deployment's runs read it too)
Cluster = typer.Option(
    None,
    "--cluster",
    metavar="ADDRESS",
    help=(
        "A Dask scheduler (e.g. tcp://10.0.0.5:8786): each raw file is parsed on its "
        "workers and the build's batches run there; commits stay here, in order (the "
        "result is the one-process run's). Workers need the data dir at the same path and "
        f"fleetledger installed. Default: {DASK_ADDRESS_ENV}, else none (all in this process)."
    ),
)


def _settings(data_dir: str, config_dir: Path, reports_dir: Path) -> Settings:
    return Settings.from_env(data_dir=data_dir, config_dir=config_dir, reports_dir=reports_dir)


def _existing(data_dir: str, config_dir: Path, reports_dir: Path) -> Settings:
    """Settings whose data dir must exist already (every command but ingest and demo)."""
    return _settings(data_dir, config_dir, reports_dir).require_data_dir()


def _writing(settings: Settings, command: str):
    """The data dir's write lock for a command; says so while it waits for another."""
    return data_dir_lock(
        settings.data_dir,
        f"`fleetledger {command}`",
        wait_seconds=settings.lock_wait_seconds,
        on_wait=lambda message: console.print(message, style="yellow"),
    )


def _progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_ingest(settings: Settings, paths: list[Path], source_format: str | None = None):
    """Ingest with a progress bar and a per-format summary; returns the file results."""
    from pipelines.ingest import ingest_paths, raw_files

    files = list(raw_files(paths))
    with _progress() as progress:
        task = progress.add_task("ingest", total=len(files))

        def advance(result) -> None:
            progress.update(task, advance=1, description=f"ingest {result.path.name}")

        results = ingest_paths(files, settings, source_format=source_format, on_file=advance)
    _print_ingest_summary(results)
    return results


def _print_ingest_summary(results) -> None:
    done = [r for r in results if r.status == "ingested"]
    read = sum(r.rows_read for r in done)
    accepted = sum(r.rows_accepted for r in done)
    quarantined = sum(r.rows_quarantined for r in done)
    unchanged = sum(r.status == "unchanged" for r in results)
    console.print(
        f"ingested {len(done)} files: {read:,} records = {accepted:,} accepted + "
        f"{quarantined:,} quarantined; {unchanged} unchanged since last run"
    )
    for r in results:
        if r.status == "set aside":
            console.print(f"  set aside {r.path}: {r.note}", style="yellow", highlight=False)
        elif r.note:
            console.print(f"  {r.path.name}: {r.note}", highlight=False)
    if quarantined:
        console.print("  quarantined rows (with reasons) are in DATA/lake/quarantine/")


def run_build(settings: Settings, *, full: bool = False) -> None:
    from pipelines import warehouse

    if not settings.lake_dir.is_dir():
        raise UserError(
            f"{settings.data_dir}: no lake yet; ingest raw files first (`fleetledger ingest`)"
        )
    models = warehouse.load_models()
    with _progress() as progress:
        task = progress.add_task("build", total=len(models))
        result = warehouse.build(
            settings,
            full=full,
            on_step=lambda label, done, total: progress.update(
                task, completed=done, total=total, description=f"build {label}"
            ),
        )
    if result.mode == "current":
        console.print(f"{settings.warehouse_path} is up to date ({result.reason})")
        return
    scope = (
        "every day"
        if result.mode == "full"
        else f"{len(result.touched_days)} day(s), {result.n_touched_traces:,} traces"
    )
    console.print(
        f"built {settings.warehouse_path}: {result.mode} ({result.reason}; {scope}) "
        f"in {result.seconds:.1f}s"
    )


def run_report(settings: Settings, month: str | None) -> Path:
    from pipelines.report.render import latest_full_month, render_month

    month = parse_month(month, "--month") if month else latest_full_month(settings)
    path = render_month(settings, month)
    console.print(f"report: {path}")
    return path


@app.command()
def ingest(
    paths: list[str] = typer.Argument(
        None, help="Files or folders, local or s3://bucket/prefix (default: DATA/raw)."
    ),
    source_format: str = typer.Option(
        None, "--format", help="Force a format instead of detecting it (names above)."
    ),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Ingest raw exports into the Parquet lake (re-running is a no-op for unchanged files).

    Formats are told from content: OTLP/JSON, Langfuse exports (JSONL/CSV/Parquet), native
    JSONL/Parquet, OpenAI Costs/Usage API pages, Anthropic cost/usage report pages, FOCUS
    1.0–1.3 CSV/Parquet. --format names: otlp_json, langfuse_observations, langfuse_scores,
    langfuse_traces, native_spans, native_evaluations, native_eval_results, openai_costs,
    openai_usage, anthropic_cost_report, anthropic_usage_report, focus. Great Expectations
    Data Docs go to REPORTS/data-quality/. A record that cannot be read is quarantined
    with its reason; a file that cannot be read at all is set aside (copied, with its
    reason, to DATA/lake/quarantine/_files/) and the others are ingested.

    Exit status: 0 every file ingested or unchanged; 1 some files were set aside (named
    at the end); 2 a usage error.

    Example:  fleetledger ingest data/raw/traces/otlp-2026-10-01.jsonl exports/

    Example:  fleetledger ingest billing/openai/costs_page_0001.json billing/focus.parquet

    Example:  fleetledger ingest --format langfuse_observations exports/obs.csv
    """
    from pipelines.ingest import FORMATS

    if source_format and source_format not in FORMATS:
        raise UserError(f"--format {source_format}: not one of {', '.join(FORMATS)}")
    settings = _settings(data_dir, config_dir, reports_dir)
    if not paths:
        settings.require_data_dir()
    with _writing(settings, "ingest"):
        where = [location(p) for p in paths] if paths else [settings.raw_dir]
        results = run_ingest(settings, where, source_format)
    set_aside = [r for r in results if r.status == "set aside"]
    if set_aside:
        console.print(
            f"{len(set_aside)} file(s) set aside, not ingested: "
            + ", ".join(str(r.path) for r in set_aside),
            style="bold red",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def build(
    full: bool = typer.Option(False, "--full", help="Rebuild everything, not just what changed."),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
):
    """Compute costs and marts from the lake into DATA/warehouse.duckdb (swapped atomically).

    Incremental: only the cases, days, weeks and months new lake files touch are
    recomputed; a change to config/, sql/ or a replaced raw file rebuilds everything.

    Example:  fleetledger build --data-dir /srv/fleet/data

    Example:  fleetledger build --full
    """
    settings = _existing(data_dir, config_dir, reports_dir)
    with _writing(settings, "build"):
        run_build(settings, full=full)


@app.command()
def sql(
    query: str = typer.Argument(None, help="A SELECT to run (none: an interactive prompt)."),
    output_format: str = typer.Option(
        "table", "--format", help="table, csv, json (JSON lines) or parquet (needs --output)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file, not stdout."),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Query the warehouse read-only (a build running meanwhile does not disturb it).

    Example:  fleetledger sql "select agent_name, cost_per_resolved_case_usd from agent_monthly"

    Example:  fleetledger sql --format csv -o weekly.csv "select * from agent_weekly"

    Example:  fleetledger sql      (then type queries ending with ;  — .tables lists tables)
    """
    from pipelines import analyst

    settings = _existing(data_dir, config_dir, reports_dir)
    if query is None:
        analyst.interactive(settings.warehouse_path, console)
    else:
        analyst.run(settings.warehouse_path, query, output_format, output, console)


@app.command()
def report(
    month: str = typer.Option(None, "--month", help="YYYY-MM (default: latest full month)."),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Render the portfolio review for a month, and reports/index.html.

    Example:  fleetledger report --month 2026-10
    """
    if month:
        parse_month(month, "--month")
    run_report(_existing(data_dir, config_dir, reports_dir), month)


@app.command()
def diff(
    agent: str = typer.Option(..., "--agent", help="The agent both runs evaluate."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline eval run id or variant."),
    candidate: str = typer.Option(..., "--candidate", help="Candidate eval run id or variant."),
    score: str = typer.Option("quality", "--score", help="The score compared."),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Gate a change on its eval diff: quality (paired bootstrap interval), cost, latency.

    Writes REPORTS/diffs/<agent>--<baseline>--vs--<candidate>.html and .json. Exit code:
    0 ship, 1 hold, 2 error (different agents, no common items, missing scores…), so a CI
    pipeline can gate a deploy on it.

    Example:  fleetledger diff --agent kb-answerer --baseline kb-baseline-gpt-4o
              --candidate kb-candidate-gpt-4.1-mini
    """
    from pipelines.evals.runs import run_diff

    settings = _existing(data_dir, config_dir, reports_dir)
    try:
        with _writing(settings, "diff"):  # files the result in DATA/diffs
            output = run_diff(settings, agent, baseline, candidate, score)
    except UserError:
        raise
    except Exception:  # a crash must not read as "hold" (exit 1) to a CI gate
        console.print_exception()
        raise typer.Exit(2) from None
    result, q = output.result, output.result["quality"]
    console.print(
        f"{agent}: {baseline} → {candidate} on {q['n_items']} paired items: quality "
        f"{q['mean_difference']:+.4f} [95 % CI {q['ci_low']:+.4f}, {q['ci_high']:+.4f}], "
        f"{q['wins']} wins / {q['ties']} ties / {q['losses']} losses"
    )
    _exit_with_decision(result, output.html)


@app.command()
def compare(
    agent: str = typer.Option(..., "--agent", help="The agent whose production cases compare."),
    baseline: str = typer.Option(
        ..., "--baseline", help="Baseline agent_version, model or variant (or `production`)."
    ),
    candidate: str = typer.Option(
        ..., "--candidate", help="Candidate agent_version, model or variant, or `shadow`."
    ),
    start: str = typer.Option(None, "--start", help="First day compared, YYYY-MM-DD."),
    end: str = typer.Option(None, "--end", help="Last day compared, YYYY-MM-DD."),
    dimension: str = typer.Option(
        None, "--dimension", help="agent_version, model or variant, when both are ambiguous."
    ),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Gate a canary (or an A/B arm, or shadow traffic) on production cases: two versions,
    models or variants of an agent on the days both served (within --start/--end),
    compared on quality, resolution rate, cost per case, p95 latency and outcome mix, each
    with an unpaired bootstrap 95 % interval; ship/hold by the eval diff's rule.
    `--candidate shadow` compares the agent's shadow traffic with production.

    Writes REPORTS/compare/<agent>--<baseline>--vs--<candidate>.html and .json. Exit code:
    0 ship, 1 hold, 2 error (unknown version, no day both served…).

    Example:  fleetledger compare --agent refund-assistant --baseline v1 --candidate v2
              --start 2026-10-01 --end 2026-10-10
    """
    from pipelines.comparisons import run_compare

    first = parse_day(start, "--start") if start else None
    last = parse_day(end, "--end") if end else None
    settings = _existing(data_dir, config_dir, reports_dir)
    try:
        output = run_compare(settings, agent, baseline, candidate, first, last, dimension)
    except UserError:
        raise
    except Exception:  # a crash must not read as "hold" (exit 1) to a CI gate
        console.print_exception()
        raise typer.Exit(2) from None
    result, q = output.result, output.result["metrics"]["quality"]
    quality = (
        f"quality {q['difference']:+.4f} [95 % CI {q['ci_low']:+.4f}, {q['ci_high']:+.4f}]"
        if q["difference"] is not None
        else "quality unscored on one side"
    )
    console.print(
        f"{agent}: {baseline} → {candidate} ({result['dimension']}) on {result['n_days']} "
        f"shared day(s) {result['first_day']} … {result['last_day']}, "
        f"{result['baseline']['n_cases']:,} vs {result['candidate']['n_cases']:,} cases: {quality}"
    )
    _exit_with_decision(result, output.html)


def _exit_with_decision(result: dict, html: Path) -> None:
    """Print a diff's or comparison's reasons and decision; exit 0 on ship, 1 on hold."""
    for reason in result["reasons"]:
        console.print(f"  - {reason}")
    style = "bold green" if result["decision"] == "ship" else "bold red"
    console.print(f"{result['decision'].upper()}  {html}", style=style)
    raise typer.Exit(0 if result["decision"] == "ship" else 1)


@app.command("eval-candidates")
def eval_candidates(
    agent: str = typer.Option(..., "--agent", help="The agent whose cases are exported."),
    month: str = typer.Option(..., "--month", help="YYYY-MM."),
    per_intent: int = typer.Option(50, "--per-intent", help="At most this many per intent."),
    dataset: Path = typer.Option(
        None, "--dataset", help="Existing eval dataset (JSONL): skip its items."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Default: DATA/eval_candidates/<agent>-<month>.jsonl"
    ),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Export production cases that went wrong (low score, escalated, fallback, drifted
    window) as eval dataset items, stratified by intent: ids, intent, outcome, scores.

    Example:  fleetledger eval-candidates --agent support-triage --month 2026-10
              --dataset evals/support-triage.jsonl
    """
    from pipelines.evals.candidates import export_candidates

    parse_month(month, "--month")
    _at_least(1, per_intent=per_intent)
    settings = _existing(data_dir, config_dir, reports_dir)
    with _writing(settings, "eval-candidates"):
        path, written, known = export_candidates(settings, agent, month, per_intent=per_intent,
                                                 dataset=dataset, output=output)  # fmt: skip
    console.print(f"{written:,} new eval candidates ({known:,} already in the dataset): {path}")


@app.command()
def nightly(
    cluster: str = Cluster,
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
):
    """Ingest new files, rebuild, render the latest full month (the scheduled job).

    Example:  FLEETLEDGER_DATA_DIR=/srv/fleet/data fleetledger nightly

    Example:  fleetledger nightly --cluster tcp://10.0.0.5:8786 --data-dir /shared/fleet/data
    """
    _existing(data_dir, config_dir, reports_dir)
    from pipelines.flows import nightly as nightly_flow

    _run_flow(nightly_flow, str(data_dir), str(config_dir), str(reports_dir), cluster=cluster)


@app.command()
def backfill(
    start: str = typer.Option(None, help="First month to render, YYYY-MM (default: all)."),
    end: str = typer.Option(None, help="Last month to render, YYYY-MM (default: latest full)."),
    cluster: str = Cluster,
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Ingest everything under DATA/raw, rebuild, and render every month in a range.

    Example:  fleetledger backfill --start 2026-09 --end 2026-10

    Example:  fleetledger backfill --cluster tcp://10.0.0.5:8786 --data-dir /shared/fleet/data
    """
    start, end = month_range(start, end)
    _existing(data_dir, config_dir, reports_dir)
    from pipelines.flows import backfill as backfill_flow

    _run_flow(backfill_flow, str(data_dir), str(config_dir), str(reports_dir), start, end,
              cluster=cluster)  # fmt: skip


@app.command()
def demo(
    days: int = typer.Option(90, help="Days of history to generate."),
    calls_per_day: int = typer.Option(6000, help="Fleet-wide LLM calls per day."),
    seed: int = typer.Option(7, help="Random seed (same seed + end = same data)."),
    end: str = typer.Option(None, help="Last day, YYYY-MM-DD (default: yesterday, UTC)."),
    generate_only: bool = typer.Option(False, help="Only write the raw files and registry."),
    data_dir: str = DataDir,
    config_dir: Path = ConfigDir,
    reports_dir: Path = ReportsDir,
) -> None:
    """Generate a demo fleet (20 agents, 5 teams, real formats) and run it end to end.

    Example:  fleetledger demo --days 30 --calls-per-day 5000 --data-dir /tmp/fleet
    """
    last_day = parse_day(end, "--end") if end else None
    _at_least(1, days=days, calls_per_day=calls_per_day)
    settings = _settings(data_dir, config_dir, reports_dir)
    from pipelines.synth import generate_demo

    started = time.perf_counter()
    with _writing(settings, "demo"):
        summary = generate_demo(
            settings.data_dir,
            settings.config_dir,
            days=days,
            calls_per_day=calls_per_day,
            seed=seed,
            end=last_day,
            progress=lambda message: console.print(f"demo: {message}"),
        )
    console.print(
        f"demo: {summary.n_cases:,} cases, {summary.n_spans:,} spans in "
        f"{summary.trace_files} OTLP files ({summary.trace_bytes / 1e6:.0f} MB), "
        f"{summary.start} → {summary.end}, in {time.perf_counter() - started:.1f}s"
    )
    if generate_only:
        return
    from pipelines.flows import backfill as backfill_flow
    from pipelines.synth.gates import run_demo_diffs

    dirs = (str(data_dir), str(config_dir), str(reports_dir), None, None)
    _run_flow(backfill_flow, *dirs, False)  # ingest and build: the eval runs to diff
    with _writing(settings, "demo"):  # the gates the demo's teams ran, filed in DATA/diffs
        outputs = list(run_demo_diffs(settings))
    for output in outputs:
        result = output.result
        console.print(f"demo: eval diff {result['agent']} {result['baseline_run']} → "
                      f"{result['candidate_run']}: {result['decision']}")  # fmt: skip
    _run_flow(backfill_flow, *dirs, True)  # rebuilt with the diffs filed: the review
    console.print(f"open {settings.reports_dir / 'index.html'}")


class _WithoutTraceback(logging.Filter):
    """Drops the traceback from a log record of a UserError: the command prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info, record.exc_text = None, None
        return True


def _run_flow(flow_fn, *args, **kwargs):
    """Run a flow in this process; Prefect logs a failure with its traceback, which a user
    error does not need (the command ends with its one-line message)."""
    quiet = _WithoutTraceback()
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        return flow_fn(*args, **kwargs)
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _at_least(minimum: int, **values: int) -> None:
    for name, value in values.items():
        if value < minimum:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} {value}: must be {minimum} or more")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
