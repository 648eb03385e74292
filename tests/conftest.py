"""Shared fixtures: tiny hand-made data per test, one small generated demo per session."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file, ingest_paths
from pipelines.settings import Settings
from pipelines.synth import generate_demo
from pipelines.synth.gates import run_demo_diffs

# fixtures of real services the tests start themselves: an S3 server, a Dask cluster
pytest_plugins = ["tests.s3_server", "tests.dask_cluster"]

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
GUARDED_DIRS = ("reports", "data", "config")  # the CLI's default --*-dir: tests never write there
TINY_REGISTRY = """
agents:
  - name: weather-agent
    team: demo
    owner: a@example.com
    human_baseline_usd_per_case: 2.0
    quality_target: 0.8
"""


def repo_files(repo: Path = REPO) -> dict[str, tuple]:
    """(size, mtime_ns) of every file, and every folder, under the repo's guarded dirs."""
    found = {}
    for name in GUARDED_DIRS:
        for path in sorted((repo / name).rglob("*")):
            info = path.lstat()  # a broken symlink is listed, not followed
            found[str(path.relative_to(repo))] = (
                ("folder",) if stat.S_ISDIR(info.st_mode) else (info.st_size, info.st_mtime_ns)
            )
    return found


def git_status(repo: Path = REPO) -> list[str] | None:
    """`git status --porcelain` of the repo (None outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"],
            cwd=repo, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.splitlines()


def repo_changes(before: dict, after: dict, status: list, after_status: list) -> list[str]:
    """What differs between two `repo_files` snapshots and two `git status` listings."""
    changed = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changed.append(f"{path}: removed")
        elif path not in before:
            changed.append(f"{path}: created")
        elif before[path] != after[path]:
            changed.append(f"{path}: modified")
    changed += [f"git status, now: {line}" for line in after_status if line not in status]
    changed += [f"git status, no longer: {line}" for line in status if line not in after_status]
    return changed


@pytest.fixture(scope="session", autouse=True)
def repo_stays_clean():
    """Fail the session if a test wrote into the repo's reports/, data/ or config/, or
    changed what `git status` shows: tests write under tmp_path only."""
    files, status = repo_files(), git_status()
    yield
    after_status = git_status()
    if status is None or after_status is None:  # not a git checkout: the folders only
        status = after_status = []
    changed = repo_changes(files, repo_files(), status, after_status)
    shown = changed[:20] + ([f"… and {len(changed) - 20} more"] if len(changed) > 20 else [])
    assert not changed, (
        f"the tests changed the repo at {REPO} (write under tmp_path; give the CLI "
        "--data-dir, --config-dir and --reports-dir; a file edited by hand during the run "
        "shows here too):\n  " + "\n  ".join(shown)
    )


def settings_with_registry(root: Path, registry: str) -> Settings:
    """Settings under `root`: `registry` as config/agents.yaml, an empty raw folder."""
    config = root / "config"
    config.mkdir()
    (config / "agents.yaml").write_text(registry)
    settings = Settings(
        data_dir=root / "data", config_dir=config, reports_dir=root / "reports"
    ).resolved()
    settings.raw_dir.mkdir(parents=True)
    return settings


def build_from_raw(settings: Settings, *tables: str) -> list[list[dict]]:
    """Ingest each file of the raw folder (in name order), build the warehouse, and return
    every row of each of `tables`, as dicts."""
    for path in sorted(settings.raw_dir.iterdir()):
        ingest_file(path, settings)
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return [con.sql(f"select * from {table}").pl().to_dicts() for table in tables]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Empty data/config/reports folders with a one-agent registry."""
    return settings_with_registry(tmp_path, TINY_REGISTRY)


@pytest.fixture
def otlp_fixture(settings: Settings):
    """Copy a real OTLP fixture file into the raw folder; returns its new path."""

    def copy(name: str) -> Path:
        target = settings.raw_dir / name
        shutil.copy(FIXTURES / "otlp" / name, target)
        return target

    return copy


DEMO_END = date(2026, 10, 31)


def generated_demo(root: Path, *, days: int, calls_per_day: int, seed: int, end: date):
    """Settings under `root` holding a freshly generated demo fleet (not yet ingested)."""
    settings = Settings(
        data_dir=root / "data", config_dir=root / "config", reports_dir=root / "reports"
    ).resolved()
    generate_demo(settings.data_dir, settings.config_dir, days=days,
                  calls_per_day=calls_per_day, seed=seed, end=end)  # fmt: skip
    return settings


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Settings:
    """A 4-day demo fleet, generated, ingested and built once per session."""
    settings = generated_demo(
        tmp_path_factory.mktemp("demo"), days=4, calls_per_day=400, seed=11, end=DEMO_END
    )
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    return settings


@pytest.fixture(scope="session")
def ninety_day_demo(tmp_path_factory) -> Settings:
    """The demo's 90 days at 6,000 calls a day (what `make demo` generates), ingested and
    built once per session, its eval gates diffed and filed, and built again, as `make
    demo` does (~5 min). It ends on Tuesday 2026-10-27: no injected drift starts on a
    weekend, and September is the last full month."""
    root = tmp_path_factory.mktemp("ninety")
    settings = generated_demo(root, days=90, calls_per_day=6000, seed=7, end=date(2026, 10, 27))
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    run_demo_diffs(settings)
    warehouse.build(settings)
    return settings


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the session (it takes 15-30 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
