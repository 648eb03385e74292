"""What drift reads from the warehouse: each agent's configuration per day (the windows
come from it), and the daily counts its windows compare, per agent from the first day
they read: numeric daily histograms (in Python) and daily category counts (temp table
drift_categorical, for the categorical SQL).

The daily counts are the warehouse's rollups int_drift_values_daily and
int_drift_categories_daily (sql/intermediate/), which a build of one new day recomputes
for that day only. A warehouse of facts only (tests, benches) lacks them: there the same
model SQL runs over its facts as temporary views, so each count is written once."""

from __future__ import annotations

from datetime import date

import polars as pl
import pyarrow as pa

from pipelines.drift.numeric import DailyHistograms, daily_histograms
from pipelines.models import SQL_DIR

DRIFT_SQL_DIR = SQL_DIR / "drift"
ROLLUPS = ("int_agent_configurations_daily", "llm_calls_daily")  # daily_counts_rollups.sql
COUNTS = ("int_drift_values_daily", "int_drift_categories_daily")  # what the windows compare


def sql(name: str) -> str:
    """The text of sql/drift/<name>.sql."""
    return (DRIFT_SQL_DIR / f"{name}.sql").read_text()


def daily_configs(con) -> pl.DataFrame:
    """daily_configs.sql over the daily counts of the warehouse's rollups when it has them
    (a build has made them by now: one new day costs them one day), else of the facts."""
    con.execute(sql("daily_counts_rollups" if has_tables(con, ROLLUPS) else "daily_counts"))
    try:
        return con.sql(sql("daily_configs")).pl()
    finally:
        con.execute(
            "drop view if exists drift_case_versions; drop view if exists drift_call_models"
        )


def has_tables(con, names: tuple[str, ...]) -> bool:
    """Whether the warehouse (the current database's main schema) has all these tables."""
    found = con.execute(
        "select count(distinct table_name) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'main' "
        "and table_name in (select unnest($names))",
        {"names": list(names)},
    ).fetchall()[0][0]
    return found == len(names)


def count_model_sql(name: str) -> str:
    """The text of the rollup model sql/intermediate/<name>.sql (one of COUNTS)."""
    return (SQL_DIR / "intermediate" / f"{name}.sql").read_text()


def first_days(windows: list) -> dict[str, date]:
    """Agent → the earliest reference_start of its windows (Window objects or rows)."""
    first: dict[str, date] = {}
    for window in windows:
        agent, start = _get(window, "agent_name"), _get(window, "reference_start")
        first[agent] = min(first.get(agent, start), start)
    return first


def _get(window_or_row, name: str):
    return window_or_row[name] if isinstance(window_or_row, dict) else getattr(window_or_row, name)


class DriftFacts:
    """The facts drift reads, loaded when first needed, per agent from a first day, and
    loaded again only when asked for an agent or a day before what is loaded."""

    def __init__(self, con) -> None:
        self.con = con
        self.loaded: dict[str, date] = {}  # agent → first day loaded
        self.histograms: dict[tuple[str, str], DailyHistograms] = {}
        # a warehouse of facts only: the count models as views over its facts, until close
        self.views = () if has_tables(con, COUNTS) else COUNTS
        for name in self.views:
            con.execute(f"create or replace temp view {name} as\n{count_model_sql(name)}")

    def load(self, needed: dict[str, date]) -> None:
        """Make sure each agent's facts from its day in `needed` on are loaded."""
        wanted = {agent: min(day, self.loaded.get(agent, day)) for agent, day in needed.items()}
        if all(agent in self.loaded and self.loaded[agent] <= day
               for agent, day in wanted.items()):  # fmt: skip
            return
        wanted = self.loaded | wanted
        since = pa.table({"agent_name": list(wanted), "since": list(wanted.values())})
        params = {"since": min(wanted.values())}  # one bound the Parquet scan can prune by
        self.con.register("drift_since", since)
        try:
            values = self.con.sql(sql("numeric_values"), params=params).pl()
            self.histograms = daily_histograms(values) if not values.is_empty() else {}
            self.con.execute(f"create or replace temp table drift_categorical as "
                             f"{sql('categorical_values')}", params)  # fmt: skip
        finally:
            self.con.unregister("drift_since")
        self.loaded = wanted

    def close(self) -> None:
        self.con.execute("drop table if exists drift_categorical")
        for name in self.views:
            self.con.execute(f"drop view if exists temp.main.{name}")
