"""Run the `int_llm_calls__costed` SQL model alone, on calls given as a table: for the
pricing property test and the price-join benchmark (no ingest, no warehouse file)."""

from __future__ import annotations

import pyarrow as pa

from pipelines import db, models, pricing
from pipelines.db import connect

CALL_COLUMNS = (
    "span_id", "agent_name", "provider", "model", "service_tier", "started_at",
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
)  # fmt: skip
MODELS = {m.name: m for m in models.load_models()}
COSTED = MODELS["int_llm_calls__costed"]
CALL_KEYS = MODELS["int_llm_call_keys"]  # what COSTED reads besides the calls and seeds


def costing_connection(overrides: pa.Table | None = None, *, memory_limit: str = "4GB"):
    """A DuckDB connection holding the price seeds; calls go in `int_spans__attributed`."""
    con = connect(memory_limit=memory_limit)
    overrides = overrides or pricing.PRICE_OVERRIDES_SCHEMA.empty_table()
    db.create_tables(con, {"model_prices": pricing.price_table(), "price_overrides": overrides})
    return con


def resolve_models(con) -> None:
    """The `model_resolution` seed for the models the calls use, and the model that
    decides from it each call key's price model, time segments, token bands and
    overrides, with the rates its calls are costed at (`int_llm_call_keys`)."""
    pairs = con.sql("select distinct provider, model from int_spans__attributed").fetchall()
    db.create_tables(con, {"model_resolution": pricing.resolution_table(pairs)})
    con.execute(f"create or replace table int_llm_call_keys as {CALL_KEYS.sql}")


def cost_calls(con, calls_sql: str) -> None:
    """Cost the calls `calls_sql` selects (CALL_COLUMNS) into table `costed`."""
    con.execute(
        "create or replace table int_spans__attributed as "
        f"select *, true as is_llm_call from ({calls_sql})"
    )
    resolve_models(con)
    con.execute(f"create or replace table costed as {COSTED.sql}")
