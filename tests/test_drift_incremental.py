"""Incremental drift (issue 21): a build that carries the windows neither new nor touched
from the previous warehouse's drift marts gives the rows of a full recompute, every
column and every bit (the categorical sums add in category order, the numeric means over
the values a window holds, so no float depends on which days were loaded); it recomputes
only the windows it must, and runs no bootstrap an alert already had.

The fleet of tests/test_drift_low_volume.py: a busy agent (~200 cases a day: one-day
daily windows) and a quiet one (~40 a day: windows of a few days) over 47 days from
Monday D; each scenario shows the lake as two builds saw it (views over the fleet)."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines import warehouse
from pipelines.drift import carry, marts, numeric
from pipelines.drift.facts import daily_configs
from pipelines.drift.marts import MARTS, build_marts
from pipelines.ingest import ingest_paths
from pipelines.policy import DriftPolicy
from tests.conftest import generated_demo
from tests.test_drift_low_volume import DAY, D, fleet

POLICY = DriftPolicy()
LAST = D + 46 * DAY  # a Friday: the last week is partial
WHOLE = "true"


@pytest.fixture(scope="module")
def lake():
    """The fleet's facts (tables all_cases, all_calls); the quiet agent's intent mix moves
    on D + 38."""
    con = fleet(seed=21, rates={"busy": 200, "quiet": 40}, days=47, shifts={"quiet": 38})
    con.execute("alter table fct_cases rename to all_cases")
    con.execute("alter table fct_llm_calls rename to all_calls")
    con.execute("attach ':memory:' as previous")
    return con


def show(con, through: date, *, cases: str = WHOLE, calls: str = WHOLE, edit: str = "") -> None:
    """fct_cases and fct_llm_calls as a build sees them: the days through `through`, the
    rows `cases` and `calls` keep, the case columns `edit` replaces (a `replace` list)."""
    replace = f" replace ({edit})" if edit else ""
    con.execute(f"create or replace view fct_cases as select *{replace} from all_cases "
                f"where day <= '{through}' and ({cases})")  # fmt: skip
    con.execute(f"create or replace view fct_llm_calls as select * from all_calls "
                f"where day <= '{through}' and ({calls})")  # fmt: skip


def keep_as_previous(con, tables: dict) -> None:
    """Store drift marts in the `previous` catalog, as the previous warehouse holds them."""
    for name, table in tables.items():
        con.register("built", table)
        con.execute(f"create or replace table previous.main.{name} as select * from built")
        con.unregister("built")


class Spy:
    """Counts what a build_marts call recomputes: windows (by agent and granularity) and
    bootstrap intervals."""

    def __init__(self, monkeypatch) -> None:
        self.windows: list = []
        self.bootstraps = 0
        plan, bootstrap = carry.plan, numeric.stats.mean_shift_counts

        def spied_plan(con, windows, *args):
            result = plan(con, windows, *args)
            self.windows = [windows[i] for i in result.recompute]
            return result

        def spied_bootstrap(*args, **kwargs):
            self.bootstraps += 1
            return bootstrap(*args, **kwargs)

        monkeypatch.setattr(carry, "plan", spied_plan)
        monkeypatch.setattr(numeric.stats, "mean_shift_counts", spied_bootstrap)

    def recomputed(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for w in self.windows:
            counts[(w.agent_name, w.granularity)] = counts.get((w.agent_name, w.granularity), 0) + 1
        return counts

    def reset(self) -> None:
        self.windows, self.bootstraps = [], 0


@pytest.fixture
def spy(monkeypatch) -> Spy:
    return Spy(monkeypatch)


def frames(tables: dict) -> dict[str, pl.DataFrame]:
    return {name: pl.from_arrow(table) for name, table in tables.items()}


def incremental_and_full(con, touched: set[date], spy: Spy):
    """build_marts incremental (on `previous`) and full over the lake as shown; asserts
    they are equal, every column exactly. Returns (incremental, full) frames; the spy
    holds what the incremental build recomputed."""
    spy.reset()
    incremental = frames(build_marts(con, POLICY, previous="previous", touched_days=touched))
    recomputed, bootstraps = spy.windows, spy.bootstraps
    full = frames(build_marts(con, POLICY))
    for name in MARTS.values():
        assert_frame_equal(incremental[name], full[name], check_exact=True)
        assert len(full[name]) > 0
    spy.windows, spy.bootstraps = recomputed, bootstraps
    return incremental, full


def test_a_new_last_day_recomputes_its_windows_and_the_partial_week_only(lake, spy):
    show(lake, LAST - DAY)
    keep_as_previous(lake, build_marts(lake, POLICY))
    show(lake, LAST)
    incremental, _ = incremental_and_full(lake, {LAST}, spy)
    # each agent: its daily window ending on the new day, and the week D+42… (now to D+46)
    assert spy.recomputed() == {("busy", "daily"): 1, ("busy", "weekly"): 1,
                                ("quiet", "daily"): 1, ("quiet", "weekly"): 1}  # fmt: skip
    weekly = incremental["drift_weekly"].filter(pl.col("window_start") == D + 42 * DAY)
    assert set(weekly["window_end"]) == {LAST}


def test_a_build_that_touched_no_day_keeps_every_row(lake, spy):
    show(lake, LAST)
    keep_as_previous(lake, build_marts(lake, POLICY))
    incremental_and_full(lake, set(), spy)
    assert spy.recomputed() == {} and spy.bootstraps == 0


def test_a_late_trace_on_a_middle_day_recomputes_the_windows_reading_that_day(lake, spy):
    """A third of the busy agent's D+20 cases and its model-small calls that day arrive
    late: the previous build had the rest of the day."""
    late_day = D + 20 * DAY
    busy_that_day = f"agent_name = 'busy' and day = '{late_day}'"
    show(lake, LAST, cases=f"not ({busy_that_day} and duration_ms % 3 = 0)",
         calls=f"not ({busy_that_day} and model = 'model-small')")  # fmt: skip
    keep_as_previous(lake, build_marts(lake, POLICY))
    show(lake, LAST)
    incremental_and_full(lake, {late_day}, spy)
    # a window reads from its reference_start (28 days before its first day) to its last
    # day: the daily windows ending D+20 … D+46 (27), one-day (busy) or of a few days
    # (quiet) alike; the weeks D+14 … D+42 (5: the week D+49 would be the first whose
    # reference starts after D+20)
    assert spy.recomputed() == {("busy", "daily"): 27, ("busy", "weekly"): 5,
                                ("quiet", "daily"): 27, ("quiet", "weekly"): 5}  # fmt: skip


LATENCY_SHIFT = D + 22 * DAY  # the busy agent's latency × 1.6 from this Tuesday on
SLOWER = f"case when agent_name = 'busy' and day >= '{LATENCY_SHIFT}' then duration_ms * 8 // 5 else duration_ms end as duration_ms"  # noqa: E501


def test_an_alert_episode_across_the_boundary_is_carried_without_a_new_bootstrap(lake, spy):
    boundary = D + 38 * DAY  # a Thursday: the week D+35 is partial before and after
    show(lake, boundary, edit=SLOWER)
    keep_as_previous(lake, build_marts(lake, POLICY))
    show(lake, boundary + DAY, edit=SLOWER)
    incremental, _ = incremental_and_full(lake, {boundary + DAY}, spy)
    assert spy.bootstraps == 0  # both episodes started before: their intervals are carried
    spy.reset()
    build_marts(lake, POLICY)
    assert spy.bootstraps == 2  # a full build draws them again
    shown = ("agent_name", "metric", "window_start", "window_end", "windows_running",
             "is_new_alert", "change_point_day")  # fmt: skip
    alerts = {
        name: frame.filter(pl.col("verdict") == "alert").select(shown)
        for name, frame in incremental.items()
    }
    for frame in alerts.values():  # the latency shift, and nothing else
        assert set(frame["agent_name"]) == {"busy"} and set(frame["metric"]) == {"latency_ms"}
    daily, weekly = alerts["drift_daily"], alerts["drift_weekly"]
    # daily: from D+23 (two strong windows running) through the new day, 18 crossing in all
    assert daily["window_end"].to_list() == [D + i * DAY for i in range(23, 40)]
    assert daily["is_new_alert"].to_list() == [True] + [False] * 16
    assert daily["windows_running"].to_list()[-1] == 18
    # dated to the shift once a day or two of it is in the window (D+23's CUSUM, with two
    # shifted days at the end of 30, is pulled a day toward the middle)
    assert daily["change_point_day"].to_list() == [LATENCY_SHIFT - DAY] + [LATENCY_SHIFT] * 16
    # weekly: the week D+28 (its second crossing), then the partial week D+35 … D+39
    assert weekly.rows() == [
        ("busy", "latency_ms", D + 28 * DAY, D + 34 * DAY, 2, True, LATENCY_SHIFT),
        ("busy", "latency_ms", D + 35 * DAY, D + 39 * DAY, 3, False, LATENCY_SHIFT),
    ]
    (interval,) = incremental["drift_daily"].filter(pl.col("is_new_alert")).to_dicts()
    assert 0 < interval["mean_shift_low"] < interval["mean_shift"] < interval["mean_shift_high"]


def test_a_late_trace_inside_an_alert_episode_judges_on_from_its_day(lake, spy):
    """A third of the busy agent's D+30 cases arrive late, in the middle of the latency
    episode: its rows from D+30 on are judged again from the state the rows before leave
    (running 8 on D+29: D+22 … D+29), and only the week D+28, now recomputed, draws its
    bootstrap again (the daily episode's first row, D+23, is kept)."""
    late = f"not (agent_name = 'busy' and day = '{D + 30 * DAY}' and duration_ms % 3 = 0)"
    show(lake, D + 39 * DAY, edit=SLOWER, cases=late)
    keep_as_previous(lake, build_marts(lake, POLICY))
    show(lake, D + 39 * DAY, edit=SLOWER)
    incremental, _ = incremental_and_full(lake, {D + 30 * DAY}, spy)
    assert spy.bootstraps == 1
    daily = incremental["drift_daily"].filter(
        (pl.col("agent_name") == "busy") & (pl.col("metric") == "latency_ms")
        & pl.col("window_end").is_between(D + 29 * DAY, D + 31 * DAY)
    )  # fmt: skip
    assert daily.select("verdict", "windows_running", "is_new_alert").rows() == [
        ("alert", 8, False), ("alert", 9, False), ("alert", 10, False)
    ]  # fmt: skip


def test_a_version_change_day_and_the_day_after(lake, spy):
    """The busy agent runs v2 from D+40: the build of D+40, then the build of D+41 on top
    of that incremental build's marts. Both days' windows compare with v1's last 28 days."""
    change = D + 40 * DAY
    v2 = f"case when agent_name = 'busy' and day >= '{change}' then 'v2' else agent_version end as agent_version"  # noqa: E501
    show(lake, change - DAY, edit=v2)
    keep_as_previous(lake, build_marts(lake, POLICY))
    show(lake, change, edit=v2)
    incremental, _ = incremental_and_full(lake, {change}, spy)
    keep_as_previous(lake, {name: frame.to_arrow() for name, frame in incremental.items()})
    show(lake, change + DAY, edit=v2)
    after, _ = incremental_and_full(lake, {change + DAY}, spy)
    assert spy.recomputed() == {("busy", "daily"): 1, ("busy", "weekly"): 1,
                                ("quiet", "daily"): 1, ("quiet", "weekly"): 1}  # fmt: skip
    busy = after["drift_daily"].filter(pl.col("agent_name") == "busy")
    references = ("window_end", "reference_start", "reference_end", "reference_kind")
    kinds = busy.filter(pl.col("window_end") >= change).select(references).unique()
    assert kinds.sort("window_end").rows() == [
        (change, change - 28 * DAY, change - DAY, "previous_version"),
        (change + DAY, change - 28 * DAY, change - DAY, "previous_version"),
    ]


# --- a warehouse: real touched days, configurations from its rollups -----------------


@pytest.fixture(scope="module")
def two_warehouses(tmp_path_factory):
    """A 6-day demo delivered in two parts, a build after each (the second incremental):
    (settings, the first warehouse's copy, the second build's result)."""
    root = tmp_path_factory.mktemp("drift-incremental")
    settings = generated_demo(root, days=6, calls_per_day=300, seed=5, end=date(2026, 10, 6))
    traces = sorted((settings.raw_dir / "traces").glob("*.jsonl"))
    ingest_paths(traces[:4], settings)
    warehouse.build(settings)
    first = root / "first.duckdb"
    shutil.copy(settings.warehouse_path, first)
    ingest_paths([settings.raw_dir], settings)  # late spans of old days, two new days
    second = warehouse.build(settings)
    assert second.mode == "incremental"
    return settings, first, second


def test_a_warehouse_build_carried_over_equals_its_full_drift(two_warehouses):
    settings, first, second = two_warehouses
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute(f"attach '{first}' as previous (read_only)")
    incremental = frames(build_marts(con, POLICY, previous="previous",
                                     touched_days=second.touched_days))  # fmt: skip
    for name in MARTS.values():
        built = con.sql(f"select * from {name}").pl()
        assert_frame_equal(incremental[name], built, check_exact=True)
    # the configurations the windows come from: the rollups give the facts' exactly
    from_rollups = daily_configs(con)
    con.execute(marts._sql("daily_counts"))
    assert_frame_equal(from_rollups, con.sql(marts._sql("daily_configs")).pl())
    cases = con.sql("select count(*) from fct_cases where agent_name is not null").fetchall()
    assert from_rollups["n_cases"].sum() == cases[0][0] > 0
