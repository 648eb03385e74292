"""OpenAI Admin API pages: organization Costs (`organization.costs.result`) and Usage
for completions (`organization.usage.completions.result`), as the API returns them.

Costs: `amount.value` is USD as a JSON number, or (seen live) a string; both are read as
exact decimals. A line item such as `gpt-4o-mini-2024-07-18, cached input` gives the model
and token type. Usage: `input_tokens` already includes cached and cache-write tokens
(OTel semantics); a `batch` bucket gets service tier `batch`. Fields a query did not
group by are null and stay null.

A value that does not read quarantines its result naming the field: bucket times that are
no time (unix seconds of 1e20), an amount or quantity that is no number, a count that is
no whole number (`pages.cast_problems`). A cost's `quantity` is never negative here (FOCUS
corrections may be); an absurd one breaks the schema's bound.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.ingest import pages, split
from pipelines.ingest.pages import MONEY_SQL, cast_problems, extras, field, read_sql
from pipelines.schemas import BILLING_COSTS, BILLING_USAGE

COSTS_FORMAT = "openai_costs"
USAGE_FORMAT = "openai_usage"

# The last comma-separated part of a line item names the token type.
_LINE_ITEM_TOKEN_TYPE = """case
    when regexp_matches(lower({kind}), 'cached') then 'cache_read'
    when regexp_matches(lower({kind}), '(^|\\W)input') then 'input'
    when regexp_matches(lower({kind}), '(^|\\W)output') then 'output'
end"""


def costs_sql(batch: pa.Table) -> str:
    item = field(batch, "line_item")
    kind = f"nullif(regexp_extract({item}, ',\\s*([^,]*)$', 1), '')"
    amount = field(batch, "amount.value")
    used = {"object", "amount.value", "amount.currency", "line_item", "project_id",
            "api_key_id", "quantity", "quantity_unit"}  # fmt: skip
    values = {
        "provider": "'openai'",
        "sub_account_id": field(batch, "project_id"),
        "api_key_id": field(batch, "api_key_id"),
        "sku_id": item,
        "charge_description": item,
        "model": f"nullif(regexp_extract({item}, '^(.*),[^,]*$', 1), '')",
        "token_type": _LINE_ITEM_TOKEN_TYPE.format(kind=kind),
        "service_tier": f"case when regexp_matches(lower({item}), '(^|\\W)batch(\\W|$)') "
        "then 'batch' end",
        "charge_period_start": pages.BUCKET_START_SQL,
        "charge_period_end": pages.BUCKET_END_SQL,
        "consumed_quantity": read_sql(field(batch, "quantity"), "double"),
        "consumed_unit": field(batch, "quantity_unit"),
        "billed_cost": read_sql(amount, MONEY_SQL),
        "effective_cost": read_sql(amount, MONEY_SQL),
        "billing_currency": f"upper(trim({field(batch, 'amount.currency')}))",
        "charge_category": "'Usage'",
        "extensions": extras(batch, used),
    }
    casts = {
        "amount.value": ("billed_cost", MONEY_SQL),
        "quantity": ("consumed_quantity", "double"),
    }
    problem = cast_problems(
        batch, casts, bounds=pages.BILLING_COSTS_BOUNDS, non_negative=("quantity",)
    )
    return split.candidates_sql(BILLING_COSTS, values, problem=problem, ordinal="r.ordinal")


def usage_sql(batch: pa.Table) -> str:
    counts = {
        "input_tokens": "input_tokens",
        "input_cached_tokens": "cache_read_tokens",
        "input_cache_write_tokens": "cache_write_tokens",
        "output_tokens": "output_tokens",
        "num_model_requests": "n_requests",
    }
    used = {"object", "project_id", "api_key_id", "model", "service_tier", *counts}
    values = {
        "provider": "'openai'",
        "bucket_start_at": pages.BUCKET_START_SQL,
        "bucket_end_at": pages.BUCKET_END_SQL,
        "sub_account_id": field(batch, "project_id"),
        "api_key_id": field(batch, "api_key_id"),
        "model": field(batch, "model"),
        "service_tier": f"case when {field(batch, 'batch')} = 'true' then 'batch' "
        f"else {field(batch, 'service_tier')} end",
        **{column: read_sql(field(batch, source), "bigint") for source, column in counts.items()},
        "details": extras(batch, used),
    }
    casts = {source: (column, "bigint") for source, column in counts.items()}
    problem = cast_problems(batch, casts, bounds=pages.BILLING_USAGE_BOUNDS, non_negative=counts)
    return split.candidates_sql(BILLING_USAGE, values, problem=problem, ordinal="r.ordinal")


PARSERS = {
    COSTS_FORMAT: split.record_parser(BILLING_COSTS, costs_sql, pages.RAW_SQL),
    USAGE_FORMAT: split.record_parser(BILLING_USAGE, usage_sql, pages.RAW_SQL),
}
