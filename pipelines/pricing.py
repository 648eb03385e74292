"""Model prices from genai-prices' bundled snapshot, compiled into a table SQL joins.

Two small tables, built once per warehouse build (never per row, never from the network):
- `model_prices`: one row per (price provider, price model, validity window, input-token
  tier band) with USD per million tokens for input, output, cache read and cache write.
  Validity windows and tier bands are found by asking genai-prices itself for the price
  at each window start and band, so its rules are not re-implemented here.
- `model_resolution`: the distinct (provider, model) names seen in traces, matched to a
  price model by genai-prices' own matcher; unmatched names stay NULL → "unpriced".
- `price_overrides`: config/prices.yaml, negotiated rates and discounts (see the file).
Only text-token prices are compiled; audio/image/search units are not priced (yet).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pyarrow as pa
import yaml
from genai_prices import data_snapshot
from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    StartDateConstraint,
    TieredPrices,
    calc_unit_price,
)

from pipelines.errors import UserError
from pipelines.schemas import documented_schema

PRICE_COLUMNS = {  # genai-prices price key → our column
    "input_mtok": "input_usd_per_mtok",
    "output_mtok": "output_usd_per_mtok",
    "cache_read_mtok": "cache_read_usd_per_mtok",
    "cache_write_mtok": "cache_write_usd_per_mtok",
}
# OTel `gen_ai.provider.name` values (and deprecated `gen_ai.system`) → genai-prices ids.
PROVIDER_ALIASES = {
    "aws.bedrock": "aws",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}
PRICES = tuple(PRICE_COLUMNS.values())
PRICE_DOCS = {
    column: f"List price of {token_type.replace('_', ' ')} tokens, USD per million."
    for token_type, column in PRICE_COLUMNS.items()
}
MODEL_PRICES_SCHEMA = documented_schema(
    "List prices from the bundled genai-prices snapshot: one row per model, price window "
    "and input-token tier.",
    ("price_provider_id", pa.string(), "genai-prices provider id."),
    ("price_model_id", pa.string(), "genai-prices model id."),
    ("valid_from", pa.timestamp("us", tz="UTC"), "Price valid from (NULL: always)."),
    ("valid_to", pa.timestamp("us", tz="UTC"), "Price valid until, exclusive (NULL: still)."),
    ("tier_input_tokens_over", pa.int64(), "Tier applies to calls with more input tokens."),
    ("tier_input_tokens_upto", pa.int64(), "…and at most this many (NULL: no limit)."),
    *[(column, pa.float64(), PRICE_DOCS[column]) for column in PRICE_COLUMNS.values()],
)
RESOLUTION_SCHEMA = documented_schema(
    "Traced (provider, model) names resolved to genai-prices ids; NULL ids = unpriced.",
    ("provider", pa.string(), "Traced gen_ai.provider.name."),
    ("model", pa.string(), "Traced model (response model, else request model)."),
    ("price_provider_id", pa.string(), "genai-prices provider id (NULL: no match)."),
    ("price_model_id", pa.string(), "genai-prices model id (NULL: no match)."),
)


def _window_starts(model: ModelInfo) -> list[date | None]:
    """Dates where the model's price may change (None = since forever)."""
    starts: set[date] = set()
    if isinstance(model.prices, list):
        for conditional in model.prices:
            if isinstance(conditional, ConditionalPrice) and isinstance(
                conditional.constraint, StartDateConstraint
            ):
                starts.add(conditional.constraint.start_date)
    return [None, *sorted(starts)]


def _token_prices(prices: ModelPrice) -> dict[str, object]:
    """A model's text-token prices (genai-prices key → a number, TieredPrices, or None:
    not priced), read once from the object's own fields: `getattr` on a price it lacks
    goes through genai-prices' `__getattr__`, a unit-registry lookup each time (a third
    of compiling the table)."""
    fields = vars(prices)
    return {key: fields.get(key) for key in PRICE_COLUMNS}


def _tier_bands(prices: dict[str, object]) -> list[tuple[int, int | None]]:
    """(over, upto] input-token bands in which no tiered price changes."""
    thresholds = sorted(
        {
            tier.start
            for value in prices.values()
            if isinstance(value, TieredPrices)
            for tier in value.tiers
        }
    )
    edges = [-1, *thresholds]
    return [(lo, hi) for lo, hi in zip(edges, [*thresholds, None], strict=True)]


def _usd_per_mtok(price, input_tokens: int) -> float | None:
    if price is None:
        return None
    return float(calc_unit_price(price, 1_000_000, input_tokens, 1_000_000))


def _at(day: date | None) -> datetime:
    return (
        datetime(1970, 1, 1, tzinfo=UTC)
        if day is None
        else datetime(*day.timetuple()[:3], tzinfo=UTC)
    )


def model_price_rows(provider_id: str, model: ModelInfo) -> Iterable[dict]:
    """Price rows of one model: every validity window × tier band."""
    starts = _window_starts(model)
    for start, end in zip(starts, [*starts[1:], None], strict=True):
        prices = _token_prices(model.get_prices(_at(start)))
        for over, upto in _tier_bands(prices):
            representative = max(over + 1, 0)
            yield {
                "price_provider_id": provider_id,
                "price_model_id": model.id,
                "valid_from": None if start is None else _at(start),
                "valid_to": None if end is None else _at(end),
                "tier_input_tokens_over": over,
                "tier_input_tokens_upto": upto,
                **{
                    PRICE_COLUMNS[key]: _usd_per_mtok(price, representative)
                    for key, price in prices.items()
                },
            }


@cache  # the bundled snapshot never changes while a process runs: compile it once
def price_table() -> pa.Table:
    """Every model of the bundled snapshot, compiled into `model_prices` rows."""
    snapshot = data_snapshot.get_snapshot()
    rows = [
        row
        for provider in snapshot.providers
        for model in provider.models
        for row in model_price_rows(provider.id, model)
    ]
    return pa.Table.from_pylist(rows, schema=MODEL_PRICES_SCHEMA)


def resolve_model(provider: str | None, model: str) -> tuple[str, str] | None:
    """(price provider id, price model id) for a traced provider/model name, or None."""
    snapshot = data_snapshot.get_snapshot()
    provider_id = PROVIDER_ALIASES.get((provider or "").lower(), provider or None)
    try:
        _, found = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    # A provider may fall back to another's model list: join to the model's owner.
    owner = next(p for p in snapshot.providers if any(m is found for m in p.models))
    return owner.id, found.id


def resolution_table(pairs: Iterable[tuple[str | None, str]]) -> pa.Table:
    """`model_resolution` rows for distinct (provider, model) pairs."""
    rows = []
    for provider, model in pairs:
        found = resolve_model(provider, model)
        rows.append(
            {
                "provider": provider,
                "model": model,
                "price_provider_id": found[0] if found else None,
                "price_model_id": found[1] if found else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=RESOLUTION_SCHEMA)


# --- config/prices.yaml: negotiated rates and service-tier discounts -------------------

PRICES_FILE = "prices.yaml"
OVERRIDE_MATCH_FIELDS = ("provider", "model", "service_tier", "valid_from", "valid_to")
PRICE_OVERRIDES_SCHEMA = documented_schema(
    "Price overrides from config/prices.yaml: negotiated rates and tier discounts.",
    ("entry", pa.string(), "Position in prices.yaml, e.g. overrides[2]."),
    ("provider", pa.string(), "Traced or genai-prices provider the entry matches."),
    ("model", pa.string(), "Model it matches (NULL: every model)."),
    ("service_tier", pa.string(), "Service tier it matches (NULL: any)."),
    ("valid_from", pa.date32(), "First UTC day it applies (NULL: always)."),
    ("valid_to", pa.date32(), "Day it stops applying, exclusive (NULL: never)."),
    *[
        (column, pa.float64(), f"Replaces the l{PRICE_DOCS[column][1:]}")
        for column in PRICE_COLUMNS.values()
    ],
    ("multiplier", pa.float64(), "Scales the call's whole cost."),
    ("precedence", pa.int64(), "Higher wins: specificity, then position in the file."),
)


class PricesError(UserError, ValueError):
    """config/prices.yaml is not as expected; the message names the entry and field."""


def _override_row(where: str, index: int, entry) -> dict:
    if not isinstance(entry, dict):
        raise PricesError(f"{where}: each override must be a mapping of fields")
    unknown = set(entry) - {*OVERRIDE_MATCH_FIELDS, *PRICE_COLUMNS.values(), "multiplier"}
    if unknown:
        raise PricesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not entry.get("provider"):
        raise PricesError(f"{where}: `provider` is required")
    row = {"entry": f"overrides[{index}]"}
    for name in ("provider", "model", "service_tier"):
        row[name] = None if entry.get(name) is None else str(entry[name])
    for name in ("valid_from", "valid_to"):
        value = entry.get(name)
        if value is not None and not isinstance(value, date):
            raise PricesError(f"{where}: `{name}` must be a date (YYYY-MM-DD), got {value!r}")
        row[name] = value
    for name in (*PRICE_COLUMNS.values(), "multiplier"):
        value = entry.get(name)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise PricesError(f"{where}: `{name}` must be a number ≥ 0, got {value!r}")
        # YAML reads `.inf` and `.nan` as numbers; a case's cost is summed as an exact
        # decimal (fct_cases__all), which holds neither
        if value is not None and not math.isfinite(value):
            raise PricesError(f"{where}: `{name}` must be a finite number, got {value!r}")
        row[name] = None if value is None else float(value)
    if all(row[name] is None for name in (*PRICE_COLUMNS.values(), "multiplier")):
        raise PricesError(f"{where}: give at least one price (…_usd_per_mtok) or a multiplier")
    if row["valid_from"] and row["valid_to"] and row["valid_to"] <= row["valid_from"]:
        raise PricesError(f"{where}: `valid_to` must be after `valid_from`")
    for name in ("valid_from", "valid_to"):  # a date and time given: its day
        if isinstance(row[name], datetime):
            row[name] = row[name].date()
    # The most specific entry wins: a model beats a provider-wide entry, a tier beats
    # any tier, a dated window beats an open one; then the later entry in the file.
    specificity = (
        4 * (row["model"] is not None)
        + 2 * (row["service_tier"] is not None)
        + (row["valid_from"] is not None or row["valid_to"] is not None)
    )
    row["precedence"] = specificity * 1_000_000 + index
    return row


def price_overrides(config_dir: Path) -> pa.Table:
    """`price_overrides` rows from config/prices.yaml (none when the file is absent)."""
    path = config_dir / PRICES_FILE
    if not path.exists():
        return PRICE_OVERRIDES_SCHEMA.empty_table()
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("overrides") or []
    if not isinstance(entries, list):
        raise PricesError(f"{path}: expected an `overrides:` list")
    rows = [
        _override_row(f"{path}: overrides[{index}]", index, entry)
        for index, entry in enumerate(entries)
    ]
    return pa.Table.from_pylist(rows, schema=PRICE_OVERRIDES_SCHEMA)
