"""Build `data/warehouse.duckdb`: lake views, seeds, the `sql/` models, then an atomic swap.

The new warehouse is written to a temporary file and renamed over the old one, so an
analyst's open read-only connection keeps reading the old file and a new connection
sees the new one; nobody is blocked.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import pricing, registry
from pipelines.db import connect, sql_list, sql_string
from pipelines.ingest import lake
from pipelines.schemas import DATA_QUALITY, LAKE_TABLES, QUARANTINE
from pipelines.settings import Settings

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = ("staging", "intermediate", "marts")
HEADER_COLUMN = re.compile(r"^--\s+(\w+):\s+(.+)$")


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    sql: str

    @property
    def materialization(self) -> str:
        return "view" if self.layer == "staging" else "table"

    @property
    def doc(self) -> str:
        first = self.sql.splitlines()[0] if self.sql else ""
        return first.removeprefix("--").strip()

    @property
    def column_docs(self) -> dict[str, str]:
        """`--   column: meaning` lines after a `-- columns:` line of the header."""
        docs: dict[str, str] = {}
        in_columns = False
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            if line.strip() == "-- columns:":
                in_columns = True
            elif in_columns and (match := HEADER_COLUMN.match(line)):
                docs[match[1]] = match[2].strip()
        return docs


def load_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every `sql/<layer>/<name>.sql`, in dependency order."""
    models = {
        path.stem: Model(path.stem, layer, path.read_text())
        for layer in LAYERS
        for path in sorted((sql_dir / layer).glob("*.sql"))
    }
    graph = {
        name: {other for other in models if other != name and re.search(rf"\b{other}\b", m.sql)}
        for name, m in models.items()
    }
    return [models[name] for name in TopologicalSorter(graph).static_order()]


def create_lake_views(con, lake_dir: Path) -> None:
    """`lake_<table>` views over the committed lake files (empty tables where none).

    The file lists come from the ingest log (the lake's manifest), so a half-finished
    ingest is never read.
    """
    log = lake.read_log(lake_dir)
    for table in (*LAKE_TABLES, QUARANTINE, DATA_QUALITY):
        files = lake.live_files(lake_dir, table, log=log)
        partitioned = table in LAKE_TABLES
        name = f"lake_{table.name}"
        kind = "view" if files else "table"
        if not files:
            empty = table.empty()
            if partitioned:
                empty = empty.append_column("day", pa.array([], pa.date32()))
            con.register("empty_lake_table", empty)
            con.execute(f"create or replace table {name} as select * from empty_lake_table")
            con.unregister("empty_lake_table")
        else:
            hive = ", hive_partitioning = true, hive_types = {'day': date}" if partitioned else ""
            con.execute(
                f"create or replace view {name} as select * from read_parquet("
                f"{sql_list(files)}, union_by_name = true{hive})"
            )
        con.execute(f"comment on {kind} {name} is {sql_string(table.doc)}")


def create_seeds(con, settings: Settings) -> None:
    """Tables that come from config and libraries, not from the lake."""
    seeds = {
        "agents": registry.agents_table(registry.load_agents(settings.config_dir)),
        "model_prices": pricing.price_table(),
        "price_overrides": pricing.price_overrides(settings.config_dir),
    }
    pairs = con.sql(
        "select distinct provider, coalesce(response_model, request_model) as model "
        "from lake_spans where coalesce(response_model, request_model) is not null"
    ).fetchall()
    seeds["model_resolution"] = pricing.resolution_table(pairs)
    create_tables(con, seeds)


def create_tables(con, tables: dict[str, pa.Table]) -> None:
    """Each Arrow table as a DuckDB table of that name (replacing any)."""
    for name, table in tables.items():
        con.register(f"seed_{name}", table)
        con.execute(f"create or replace table {name} as select * from seed_{name}")
        con.unregister(f"seed_{name}")


class ModelError(RuntimeError):
    """A SQL model failed to build; the message names its file."""


def run_model(con, model: Model) -> None:
    try:
        con.execute(f"create or replace {model.materialization} {model.name} as\n{model.sql}")
    except duckdb.Error as error:
        path = SQL_DIR / model.layer / f"{model.name}.sql"
        raise ModelError(f"{path}: {error}") from error
    kind = model.materialization
    con.execute(f"comment on {kind} {model.name} is {sql_string(model.doc)}")
    if kind == "table":
        for column, doc in model.column_docs.items():
            con.execute(f"comment on column {model.name}.{column} is {sql_string(doc)}")


def build(settings: Settings, *, on_model=None) -> list[str]:
    """Rebuild the warehouse from the lake; returns the models built, in order."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    building = settings.warehouse_path.with_name(f".warehouse-{uuid.uuid4().hex[:8]}.duckdb")
    models = load_models()
    con = connect(building, memory_limit=settings.duckdb_memory_limit)
    try:
        create_lake_views(con, settings.lake_dir)
        create_seeds(con, settings)
        for model in models:
            run_model(con, model)
            if on_model:
                on_model(model)
        export_marts(con, models, settings.marts_dir)
        con.execute("checkpoint")
    except Exception:
        con.close()
        building.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(building, settings.warehouse_path)
    return [m.name for m in models]


def export_marts(con, models: list[Model], marts_dir: Path) -> None:
    """Each mart also as Parquet, for tools that do not speak DuckDB."""
    marts_dir.mkdir(parents=True, exist_ok=True)
    for model in models:
        if model.layer == "marts":
            target = marts_dir / f"{model.name}.parquet"
            con.execute(f"copy {model.name} to {sql_string(target)} (format parquet)")
