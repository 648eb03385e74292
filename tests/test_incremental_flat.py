"""The pieces that keep an incremental build's cost flat in the lake's size (issue 21):
score files found by their trace ids, daily histograms grouped by integer codes, drift
seeds from a series' crossing run only, rollups kept in place in a copied warehouse."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import polars as pl

from pipelines.batches import files_holding
from pipelines.drift.carry import _seeds
from pipelines.drift.numeric import daily_histograms
from pipelines.models import Model
from pipelines.warehouse import _keep_only_rollups


def test_only_the_score_files_holding_a_touched_trace_are_read(tmp_path):
    con = duckdb.connect()
    files = []
    for name, traces in (("a", ["t1", "t2"]), ("b", ["t3"]), ("c", ["t2", "t4"])):
        path = tmp_path / f"{name}.parquet"
        con.execute(
            f"copy (select unnest({traces}) as trace_id, 1.0 as value) to '{path}' (format parquet)"
        )
        files.append(path)
    con.execute("create table touched as select unnest(['t2', 't9']) as trace_id")
    assert files_holding(con, files, "touched") == [files[0], files[2]]
    assert files_holding(con, [], "touched") == []


def test_daily_histograms_group_rows_given_in_any_order():
    rows = pl.DataFrame(
        {
            "agent_name": ["b", "a", "b", "a", "a"],
            "metric": ["cost", "latency", "cost", "latency", "cost"],
            "day": [
                date(2026, 1, 2),
                date(2026, 1, 1),
                date(2026, 1, 1),
                date(2026, 1, 2),
                date(2026, 1, 1),
            ],
            "value": [3.0, 20.0, 5.0, 10.0, 1.0],
            "n": [1, 2, 4, 3, 7],
        }
    )
    histograms = daily_histograms(rows)
    assert sorted(histograms) == [("a", "cost"), ("a", "latency"), ("b", "cost")]
    latency = histograms[("a", "latency")]
    assert latency.values.tolist() == [10.0, 20.0]
    # day 1: 2 × 20; day 2: 3 × 10
    assert latency.counts(date(2026, 1, 1), date(2026, 1, 1)).tolist() == [0, 2]
    assert latency.counts(date(2026, 1, 1), date(2026, 1, 2)).tolist() == [3, 2]
    cost_b = histograms[("b", "cost")]
    assert cost_b.values.tolist() == [3.0, 5.0]
    assert np.array_equal(cost_b.counts(date(2026, 1, 2), date(2026, 1, 2)), [1, 0])


def test_seeds_are_the_judged_rows_after_the_last_calm_one():
    def row(agent, end, crosses):
        return {"granularity": "daily", "agent_name": agent, "metric": "quality",
                "window_id": end, "window_end": date(2026, 1, end), "crosses_alert": crosses,
                "verdict": "alert" if crosses else "ok", "metric_kind": "numeric",
                "ks_p_value": 0.5, "chi2_p_value": None}  # fmt: skip

    kept = pl.DataFrame(
        [
            row("a", 1, True),
            row("a", 2, False),
            row("a", 3, None),
            row("a", 4, True),
            row("a", 5, True),
            row("b", 1, None),
            row("b", 2, True),
            row("c", 1, None),
        ]
    )
    seeds = _seeds(kept)
    # a: after its calm day 2, the judged days 4 and 5 (day 3 had too few values);
    # b: no calm row, so every judged one; c: nothing judged, no seeds
    assert {key[1]: [r["window_end"].day for r in rows] for key, rows in seeds.items()} == {
        "a": [4, 5],
        "b": [2],
    }


def test_a_copied_warehouse_keeps_only_its_rollups(tmp_path):
    con = duckdb.connect(str(tmp_path / "copy.duckdb"))
    con.execute("create table int_agent_daily as select 1 as n")
    con.execute("create table agent_daily as select 2 as n")
    con.execute("create view fct_cases as select 3 as n")
    rollup = "-- int_agent_daily: x\n-- materialized: rollup\n-- partition: day\nselect 1"
    models = [
        Model("int_agent_daily", "intermediate", rollup),
        Model("agent_daily", "marts", "-- agent_daily: x\nselect 1"),
    ]
    _keep_only_rollups(con, models)
    relations = con.execute(
        "select table_name from duckdb_tables() union all "
        "select view_name from duckdb_views() where not internal"
    ).fetchall()
    assert relations == [("int_agent_daily",)]
    assert con.execute("select n from int_agent_daily").fetchall() == [(1,)]
