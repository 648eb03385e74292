"""End to end: a real Prefect server, the repo's prefect.yaml deployed with `prefect deploy
--all`, the server's own scheduler, and a process worker running `nightly` on a small demo.

Everything runs as subprocesses against a server on a free localhost port with its own
PREFECT_HOME; each is started in its own session and killed with its process group (and
any descendant, e.g. the flow run the worker spawns in a session of its own) at the end.
Logs go to files; their tails are in every failure message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, FlowRun, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.conftest import DEMO_END, generated_demo

pytestmark = pytest.mark.orchestration

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "fleetledger"  # prefect.yaml's work pool
# The worker serves only this queue, so it can never pick up a run the scheduler created
# (those sit in the pool's default queue; a test at 01:59 UTC would otherwise run the real
# nightly in the repo's data/).
QUEUE = "orchestration-test"
DEPLOYMENTS = {  # deployment → its flow's name
    "nightly": "nightly",
    "backfill": "backfill",
    "monthly-review": "monthly_review",
    "migration-diff": "migration_diff",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; [] elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Orchestration:
    """A Prefect server of our own and the processes started against it."""

    def __init__(self, root: Path):
        self.root = root
        self.api_url = f"http://127.0.0.1:{_free_port()}/api"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PREFECT_", "FLEETLEDGER_"))}  # fmt: skip
        self.env.update(
            PREFECT_HOME=str(root / "prefect-home"),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",  # no telemetry calls
            PREFECT_SERVER_UI_ENABLED="false",  # no UI build
            PREFECT_WORKER_QUERY_SECONDS="2",  # the worker polls every 2 s, not 10 s
            PYTHONUNBUFFERED="1",
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.deployed_at = datetime.now(UTC)

    def start(self, name: str, args: list[str], cwd: Path) -> subprocess.Popen:
        log = self.logs[name] = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def run(self, name: str, args: list[str], timeout: float = 180) -> None:
        """A CLI command, from the repo root; fails the test with the logs unless it exits 0."""
        process = self.start(name, args, cwd=REPO)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.stop(name)
        if code != 0:
            pytest.fail(f"`{' '.join(args[1:])}` exited {code}\n{self.tails()}")

    def stop(self, name: str) -> None:
        """SIGTERM the process group, SIGKILL it after 20 s, then any descendant left."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        below = _descendants(process.pid)
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            if process.poll() is not None:
                break
            with suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                process.wait(wait)
        for pid in below:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):  # the worker before the server
            self.stop(name)

    def tails(self, lines: int = 60) -> str:
        parts = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            parts.append(f"----- {name}.log (last {lines} lines) -----\n"
                         + "\n".join(text[-lines:]))  # fmt: skip
        return "\n".join(parts)

    def wait_until_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["server"].poll() is not None:
                pytest.fail(f"prefect server exited\n{self.tails()}")
            health = f"{self.api_url}/health"
            with suppress(OSError), urllib.request.urlopen(health, timeout=5) as response:
                if response.status == 200:
                    return
            time.sleep(1)
        pytest.fail(f"prefect server not healthy after {timeout} s\n{self.tails()}")

    @contextmanager
    def client(self) -> Iterator[SyncPrefectClient]:
        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client


@pytest.fixture(scope="module")
def orchestration(tmp_path_factory) -> Iterator[Orchestration]:
    """Server up, work pool created, the repo's prefect.yaml deployed (`deploy --all`)."""
    o = Orchestration(tmp_path_factory.mktemp("orchestration"))
    try:
        port = o.api_url.rsplit(":", 1)[1].split("/")[0]
        o.start("server", [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
                cwd=o.root)  # fmt: skip
        o.wait_until_healthy()
        create_pool = [PREFECT, "--no-prompt", "work-pool", "create", POOL, "--type", "process"]
        o.run("work-pool-create", create_pool)
        o.deployed_at = datetime.now(UTC)
        o.run("deploy", [PREFECT, "--no-prompt", "deploy", "--all"])
        yield o
    finally:
        o.stop_all()


def test_deploy_and_the_server_schedules_nightly_and_monthly_review(orchestration):
    o = orchestration
    with o.client() as client:
        deployments = {name: client.read_deployment_by_name(f"{flow}/{name}")
                       for name, flow in DEPLOYMENTS.items()}  # fmt: skip
        for name, deployment in deployments.items():
            # no pull section in prefect.yaml: deploy recorded the clone it ran in
            assert deployment.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
            ], name
            assert deployment.global_concurrency_limit is not None, name
            assert deployment.global_concurrency_limit.limit == 1, name
            assert deployment.concurrency_options is not None, name
            strategy = deployment.concurrency_options.collision_strategy
            assert strategy == ConcurrencyLimitStrategy.ENQUEUE, name

        # `prefect deploy` creates no run: any auto-scheduled one comes from the server's
        # scheduler services (the recent-deployments loop runs every 5 s, the main one 60 s).
        def scheduled(name: str) -> list[FlowRun]:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployments[name].id])
                ),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            return sorted(runs, key=lambda run: run.expected_start_time)

        deadline = time.monotonic() + 120
        while not (scheduled("nightly") and scheduled("monthly-review")):
            if time.monotonic() > deadline:
                pytest.fail(f"no scheduled run after 120 s\n{o.tails()}")
            time.sleep(2)
        time.sleep(1)  # let the scheduler finish its batch
        nightly, monthly = scheduled("nightly"), scheduled("monthly-review")
        assert not scheduled("backfill") and not scheduled("migration-diff")

    for runs, schedules in ((nightly, deployments["nightly"].schedules),
                               (monthly, deployments["monthly-review"].schedules)):  # fmt: skip
        assert len(runs) >= 3  # the scheduler's min_runs
        for run in runs:
            assert run.auto_scheduled
            assert run.created_by is not None and run.created_by.type == "SCHEDULE"
            assert run.created_by.id in {schedule.id for schedule in schedules}
            assert run.expected_start_time > o.deployed_at
    nightly_times = [run.expected_start_time.astimezone(UTC) for run in nightly]
    monthly_times = [run.expected_start_time.astimezone(UTC) for run in monthly]
    print("nightly runs scheduled at", [t.isoformat() for t in nightly_times])
    print("monthly-review runs scheduled at", [t.isoformat() for t in monthly_times])
    assert all((t.hour, t.minute, t.second) == (2, 0, 0) for t in nightly_times)
    assert all(b - a == timedelta(days=1) for a, b in pairwise(nightly_times))
    assert nightly_times[0] - o.deployed_at <= timedelta(days=1)  # the next 02:00 UTC
    assert all((t.day, t.hour, t.minute, t.second) == (1, 6, 0, 0) for t in monthly_times)
    months = [t.year * 12 + t.month for t in monthly_times]
    assert all(b - a == 1 for a, b in pairwise(months))
    assert monthly_times[0] - o.deployed_at <= timedelta(days=31)  # the next 1st, 06:00 UTC


def test_a_process_worker_runs_nightly_from_the_clone(orchestration, tmp_path):
    o = orchestration
    demo = generated_demo(tmp_path / "demo", days=3, calls_per_day=300, seed=11, end=DEMO_END)
    # Absolute tmp dirs: the run's working directory is the repo (its pull step), whose
    # data/, config/ and reports/ must stay untouched.
    parameters = {"data_dir": str(demo.data_dir), "config_dir": str(demo.config_dir),
                  "reports_dir": str(demo.reports_dir)}  # fmt: skip
    o.start("worker", [PREFECT, "worker", "start", "--pool", POOL, "--work-queue", QUEUE],
            cwd=tmp_path)  # fmt: skip
    try:
        with o.client() as client:
            deployment = client.read_deployment_by_name("nightly/nightly")
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters, work_queue_name=QUEUE
            )
            deadline = time.monotonic() + 600
            while not (run.state and run.state.is_final()):
                if o.processes["worker"].poll() is not None:
                    pytest.fail(f"the worker exited\n{o.tails()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"nightly not finished after 600 s: {run.state}\n{o.tails()}")
                time.sleep(2)
                run = client.read_flow_run(run.id)
    finally:
        o.stop("worker")
    assert run.state.type == StateType.COMPLETED, f"{run.state}\n{o.tails(200)}"
    assert (demo.data_dir / "warehouse.duckdb").is_file()
    assert (demo.reports_dir / "2026-10" / "portfolio-review.html").is_file()
