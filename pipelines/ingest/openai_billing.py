"""OpenAI Admin API pages: organization Costs (`organization.costs.result`) and Usage
for completions (`organization.usage.completions.result`), as the API returns them.

Costs: `amount.value` is USD as a JSON number, or (seen live) a string; both are read as
exact decimals. A line item such as `gpt-4o-mini-2024-07-18, cached input` gives the model
and token type. Usage: `input_tokens` already includes cached and cache-write tokens
(OTel semantics); a `batch` bucket gets service tier `batch`. Fields a query did not
group by are null and stay null.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.ingest import pages
from pipelines.ingest.pages import MONEY_SQL, cast_problems, extras, field
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
    return f"""
    select 'openai' as provider,
        cast(null as varchar) as billing_account_id,
        {field(batch, "project_id")} as sub_account_id,
        {field(batch, "api_key_id")} as api_key_id,
        cast(null as varchar) as resource_id,
        cast(null as varchar) as service_name,
        {item} as sku_id,
        {item} as charge_description,
        nullif(regexp_extract({item}, '^(.*),[^,]*$', 1), '') as model,
        {_LINE_ITEM_TOKEN_TYPE.format(kind=kind)} as token_type,
        case when regexp_matches(lower({item}), '(^|\\W)batch(\\W|$)') then 'batch' end
            as service_tier,
        try_cast(r.bucket_start as timestamptz) as charge_period_start,
        try_cast(r.bucket_end as timestamptz) as charge_period_end,
        try_cast({field(batch, "quantity")} as double) as consumed_quantity,
        {field(batch, "quantity_unit")} as consumed_unit,
        try_cast({amount} as {MONEY_SQL}) as billed_cost,
        try_cast({amount} as {MONEY_SQL}) as effective_cost,
        cast(null as {MONEY_SQL}) as list_cost,
        upper(trim({field(batch, "amount.currency")})) as billing_currency,
        'Usage' as charge_category,
        cast(null as map(varchar, varchar)) as tags,
        {extras(batch, used)} as extensions,
        r.line_no, r.ordinal,
        {cast_problems(batch, {
            "amount.value": ("billed_cost", MONEY_SQL),
            "quantity": ("consumed_quantity", "double"),
        })} as parse_problem
    from billing_records as r
    """  # fmt: skip


def usage_sql(batch: pa.Table) -> str:
    counts = {
        "input_tokens": "input_tokens",
        "input_cached_tokens": "cache_read_tokens",
        "input_cache_write_tokens": "cache_write_tokens",
        "output_tokens": "output_tokens",
        "num_model_requests": "n_requests",
    }
    used = {"object", "project_id", "api_key_id", "model", "service_tier", *counts}
    batch_flag = field(batch, "batch")
    casts = {source: (column, "bigint") for source, column in counts.items()}
    return f"""
    select 'openai' as provider,
        try_cast(r.bucket_start as timestamptz) as bucket_start_at,
        try_cast(r.bucket_end as timestamptz) as bucket_end_at,
        {field(batch, "project_id")} as sub_account_id,
        {field(batch, "api_key_id")} as api_key_id,
        {field(batch, "model")} as model,
        case when {batch_flag} = 'true' then 'batch' else {field(batch, "service_tier")} end
            as service_tier,
        cast(null as varchar) as context_window,
        {", ".join(f"try_cast({field(batch, s)} as bigint) as {c}" for s, c in counts.items())},
        {extras(batch, used)} as details,
        r.line_no, r.ordinal,
        {cast_problems(batch, casts, counts=True)} as parse_problem
    from billing_records as r
    """


PARSERS = {
    COSTS_FORMAT: pages.parser(BILLING_COSTS, costs_sql),
    USAGE_FORMAT: pages.parser(BILLING_USAGE, usage_sql),
}
