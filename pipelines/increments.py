"""What a build must recompute: the lake commits since the last build, the traces and
cases they touch, and the days those live on.

The warehouse remembers what it was built from (tables build_log, build_commits,
build_files). The next build is
- `current` (nothing to do) when no lake file version was added since,
- `full` when there is no previous warehouse, when SQL models, config, price data or the
  build code changed (the fingerprint), or when a lake file version was replaced or
  removed (its old rows cannot be found without it),
- `incremental` otherwise: the touched traces are those in the new span and score files;
  closed over cases (every trace of a touched case, every case of a touched trace, using
  the previous build's fct_case_traces), so each case is recomputed whole. They are
  built in batches of whole cases like a full build (`pipelines.batches`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.db import create_tables, is_local, read_parquet_sql
from pipelines.evals import ledger
from pipelines.ingest import lake
from pipelines.models import SQL_DIR
from pipelines.schemas import EVALUATIONS, SPANS
from pipelines.settings import Settings

CONFIG_FILES = ("agents.yaml", "prices.yaml", "policy.yaml", "models.yaml", "models.local.yaml")
# the code a build's result depends on (a glob names every module of a package)
BUILD_CODE = ("schemas.py", "models.py", "warehouse.py", "increments.py", "batches.py",
              "pricing.py", "registry.py", "policy.py", "drift/*.py", "portfolio.py",
              "verdicts.py", "retirements.py", "evals/ledger.py", "comparisons.py",
              "evals/compare.py")  # fmt: skip
MAX_CLOSURE_ROUNDS = 20
NOT_CLOSED = "touched cases did not close over traces; run `fleetledger build --full`"

STATE_DOCS = (
    (
        "build_log",
        "One row per warehouse build: what it rebuilt and why.",
        {
            "built_at": "When the build finished (UTC).",
            "mode": "full or incremental.",
            "reason": "Why this mode: what changed since the previous build.",
            "fingerprint": "Hash of the SQL models, config, price data and build code.",
            "n_new_commits": "Lake file versions added since the previous build.",
            "n_touched_traces": "Traces recomputed (NULL: all).",
            "touched_days": "Day partitions of the facts that were rewritten.",
            "seconds": "Build time in seconds, before the final swap.",
        },
    ),
    (
        "build_commits",
        "The lake commits (ingested file versions) this warehouse was built from.",
        {"commit_id": "Commit id from the ingest log."},
    ),
    (
        "build_files",
        "The Parquet files behind each fact view, per day partition.",
        {
            "fact": "Fact model (fct_…).",
            "day": "Day partition.",
            "path": "Absolute path of the Parquet file.",
        },
    ),
)


@dataclass
class State:
    """What the previous warehouse was built from."""

    fingerprint: str
    commits: set[str]
    fact_files: dict[str, dict[date, list[str]]]
    log: list[dict]

    def files(self, fact: str) -> dict[date, list[str]]:
        return self.fact_files.get(fact, {})


@dataclass(frozen=True)
class Plan:
    mode: str  # full, incremental or current
    reason: str
    live_commits: frozenset[str]
    new_commits: frozenset[str] = frozenset()
    fingerprint: str = ""


@dataclass
class Touched:
    days: list[date] = field(default_factory=list)
    n_traces: int | None = None  # None: every trace
    new_span_files: list[Path] | None = None  # None: every span file is new (a full build)


def fingerprint(settings: Settings) -> str:
    """Hash of everything besides the lake that a build's result depends on."""
    digest = hashlib.sha256()
    code_dir = Path(__file__).resolve().parent
    code = [path for name in BUILD_CODE for path in sorted(code_dir.glob(name))]
    parts = [*sorted(SQL_DIR.rglob("*.sql")), *code]
    parts += [settings.config_dir / name for name in CONFIG_FILES]
    parts += ledger.ledger_files(settings.data_dir)  # the eval diffs that gate changes
    for path in parts:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes() if path.exists() else b"(absent)")
    digest.update(version("genai-prices").encode())
    return digest.hexdigest()


def local_dir(warehouse_path) -> Path:
    """This machine's folder for a warehouse on object storage: the cached copies
    (`local_copy`) and the builds in progress (DuckDB writes and ATTACHes local files
    only). One per warehouse URL, under the temporary folder (TMPDIR)."""
    key = hashlib.sha256(str(warehouse_path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "fleetledger" / key


def cached_name(etag: str) -> str:
    """The cached copy of the warehouse object whose etag is `etag`."""
    bare = etag.strip('"')  # S3 quotes its etags
    return f"warehouse-{bare}.duckdb"


def local_copy(warehouse_path) -> Path:
    """A local file holding the current warehouse: `warehouse_path` itself when local
    (no cost: an isinstance). On object storage, a copy downloaded once per version of
    the object (named after its etag, so a changed object is fetched again, an
    unchanged one never) and kept in `local_dir`; older copies are deleted (a reader
    that has one open keeps reading it). A path that does not exist when there is no
    warehouse yet. Imports `pipelines.objectstore`, so every DuckDB connection of this
    process can read the s3:// files the warehouse's views name (`db.connect`)."""
    if is_local(warehouse_path):
        return warehouse_path
    import pipelines.objectstore  # noqa: F401  (db.connect registers the filesystem)

    fs, url = warehouse_path.fs, warehouse_path.path
    folder = local_dir(warehouse_path)
    while True:
        try:
            etag = fs.info(url, refresh=True)["ETag"]
        except FileNotFoundError:
            return folder / "absent.duckdb"
        cached = folder / cached_name(etag)
        if cached.exists():
            return cached
        folder.mkdir(parents=True, exist_ok=True)
        downloading = folder / f".download-{uuid.uuid4().hex}"
        fs.get_file(url, str(downloading))
        # the object may have been replaced between the HEAD and the GET: keep the
        # download under its etag only if the object is still that one
        if fs.info(url, refresh=True)["ETag"] == etag:
            os.replace(downloading, cached)
            forget_older_copies(folder, cached)
            return cached
        downloading.unlink()


def built_warehouse(warehouse_path, error: type[Exception]) -> Path:
    """The local file of the built warehouse (`local_copy`), or `error` saying there is
    none yet and how to make one."""
    local = local_copy(warehouse_path)
    if not local.exists():
        raise error(f"{warehouse_path}: no warehouse yet; run `fleetledger build`")
    return local


def forget_older_copies(folder: Path, current: Path) -> None:
    """Delete the cached copies of older versions of the warehouse object."""
    for old in folder.glob(cached_name("*")):
        if old != current:
            old.unlink(missing_ok=True)


def read_state(warehouse_path: Path) -> State | None:
    """The previous build's state, or None (no warehouse, or one without state tables)."""
    warehouse_path = local_copy(warehouse_path)
    if not warehouse_path.exists():
        return None
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        log = con.sql("select * from build_log order by built_at").pl().to_dicts()
        commits = {c for (c,) in con.execute("select commit_id from build_commits").fetchall()}
        files: dict[str, dict[date, list[str]]] = {}
        for fact, day, path in con.execute("select fact, day, path from build_files").fetchall():
            files.setdefault(fact, {}).setdefault(day, []).append(path)
    except duckdb.Error:
        return None
    finally:
        con.close()
    if not log:
        return None
    return State(log[-1]["fingerprint"], commits, files, log)


def plan(previous: State | None, live: set[str], current: str, full: bool) -> Plan:
    """Decide between a full, an incremental, or no build."""
    live = frozenset(live)
    if full:
        return Plan("full", "a full build was asked for", live, fingerprint=current)
    if previous is None:
        return Plan("full", "no previous warehouse to build on", live, fingerprint=current)
    if previous.fingerprint != current:
        reason = "SQL models, config, price data or build code changed since the last build"
        return Plan("full", reason, live, fingerprint=current)
    gone = previous.commits - live
    if gone:
        reason = f"{len(gone)} lake file version(s) were replaced or removed since the last build"
        return Plan("full", reason, live, fingerprint=current)
    new = live - previous.commits
    if not new:
        return Plan("current", "no new lake files since the last build", live)
    reason = f"{len(new)} new lake file version(s) since the last build"
    return Plan("incremental", reason, live, frozenset(new), current)


def new_files(plan: Plan, lake_dir: Path, log: pa.Table, table) -> list[Path]:
    """The live files of a lake table that came with the plan's new commits."""
    files = lake.live_files(lake_dir, table, log=log)
    return [p for p in files if lake.commit_of(p) in plan.new_commits]


def select_touched(con, plan: Plan, lake_dir: Path, log: pa.Table) -> Touched:
    """Tables `temp.main.touched_traces` and `temp.main.touched_conversations`: the traces
    and cases an incremental build recomputes (closed over cases); returns the days they
    live on."""
    new_spans = new_files(plan, lake_dir, log, SPANS)
    new_scores = new_files(plan, lake_dir, log, EVALUATIONS)
    con.execute("create or replace temp table touched_traces (trace_id varchar)")
    con.execute("create or replace temp table touched_conversations (conversation_id varchar)")
    if new_spans:
        spans = read_parquet_sql(new_spans, partitioned=False)
        con.execute(f"insert into temp.main.touched_traces select distinct trace_id from {spans}")
        con.execute(
            "insert into temp.main.touched_conversations "
            f"select conversation_id from {spans} where conversation_id is not null "
            "union select trace_id from temp.main.touched_traces"  # a case may be its trace
        )
    if new_scores:
        scores = read_parquet_sql(new_scores, partitioned=False)
        con.execute(
            "insert into temp.main.touched_traces select distinct trace_id from "
            f"{scores} where trace_id is not null "
            "except select trace_id from temp.main.touched_traces"
        )
    days = {lake.partition_day(p) for p in new_spans}
    days |= _close_over_cases(con)
    n_traces = con.execute("select count(*) from temp.main.touched_traces").fetchall()[0][0]
    return Touched(sorted(days), n_traces, new_spans)


def _close_over_cases(con) -> set[date]:
    """Add every trace of a touched case and every case of a touched trace, as the
    previous build knew them, until nothing changes; returns the days the touched traces
    had rows on then. Each round reads the previous fct_case_traces once, keeping only
    the rows of a touched trace or case (a few, in memory), and closes over those; only
    when that added a trace or case can rows not yet read belong to them: read again.
    (Reading it per statement would cost a multiple of what the lake holds.)"""
    found = "temp.main.touched_case_traces"
    try:
        for _ in range(MAX_CLOSURE_ROUNDS):
            con.execute(
                f"create or replace temp table {found} as "
                "select distinct conversation_id, trace_id, day "
                "from previous.main.fct_case_traces where conversation_id in "
                "(select conversation_id from temp.main.touched_conversations) "
                "or trace_id in (select trace_id from temp.main.touched_traces)"
            )
            if not _close_over(con, found):
                return {
                    day
                    for (day,) in con.execute(
                        f"select distinct day from {found} "
                        "where trace_id in (select trace_id from temp.main.touched_traces)"
                    ).fetchall()
                }
    finally:
        con.execute(f"drop table if exists {found}")
    raise RuntimeError(NOT_CLOSED)


def _close_over(con, case_traces: str) -> int:
    """Close the touched traces and cases over the rows of `case_traces` (conversation_id,
    trace_id); returns how many traces and cases were added."""
    total = 0
    for _ in range(MAX_CLOSURE_ROUNDS):
        added = con.execute(
            "insert into temp.main.touched_traces "
            f"select distinct trace_id from {case_traces} where conversation_id "
            "in (select conversation_id from temp.main.touched_conversations) "
            "except select trace_id from temp.main.touched_traces"
        ).fetchall()[0][0]
        added += con.execute(
            "insert into temp.main.touched_conversations "
            f"select distinct conversation_id from {case_traces} where trace_id "
            "in (select trace_id from temp.main.touched_traces) "
            "except select conversation_id from temp.main.touched_conversations"
        ).fetchall()[0][0]
        if not added:
            return total
        total += added
    raise RuntimeError(NOT_CLOSED)


def write_state(con, plan: Plan, files, previous: State | None, result, seconds: float) -> None:
    """Record what this warehouse was built from, for the next build to compare with."""
    row = {
        "built_at": datetime.now(UTC),
        "mode": plan.mode,
        "reason": plan.reason,
        "fingerprint": plan.fingerprint,
        "n_new_commits": len(plan.new_commits) if plan.mode == "incremental" else None,
        "n_touched_traces": result.n_touched_traces,
        "touched_days": result.touched_days,
        "seconds": seconds,
    }
    history = [*(previous.log if previous else []), row]
    log = pa.Table.from_pylist(
        history,
        schema=pa.schema(
            [
                ("built_at", pa.timestamp("us", tz="UTC")),
                ("mode", pa.string()),
                ("reason", pa.string()),
                ("fingerprint", pa.string()),
                ("n_new_commits", pa.int64()),
                ("n_touched_traces", pa.int64()),
                ("touched_days", pa.list_(pa.date32())),
                ("seconds", pa.float64()),
            ]
        ),
    )
    commits = pa.table({"commit_id": pa.array(sorted(plan.live_commits), pa.string())})
    rows = [(f, d, p) for f, by_day in files.items() for d, paths in by_day.items() for p in paths]
    build_files = pa.table(
        {
            "fact": pa.array([r[0] for r in rows], pa.string()),
            "day": pa.array([r[1] for r in rows], pa.date32()),
            "path": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    create_tables(con, {"build_log": log, "build_commits": commits, "build_files": build_files})
