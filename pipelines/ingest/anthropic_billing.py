"""Anthropic Admin API pages: the cost report and the messages usage report.

Cost report: `amount` is a decimal string in CENTS ("123.78912" = $1.2378912), read
exactly and divided by 100 exactly. `token_type` names the API's own token kinds; the
5-minute and 1-hour cache writes are both `cache_write` (the API's name is kept in
`sku_id`). The report leaves out Priority Tier costs (Anthropic's docs), so a priority
workload shows as billed < computed in the reconciliation. A null `workspace_id` is the
default workspace and stays null.

Usage report: `uncached_input_tokens` excludes the cache; `input_tokens` here is
uncached + cache writes (5m + 1h) + cache reads, the OTel meaning.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.ingest import pages
from pipelines.ingest.pages import MONEY_SQL, cast_problems, extras, field
from pipelines.schemas import BILLING_COSTS, BILLING_USAGE

COST_FORMAT = "anthropic_cost_report"
USAGE_FORMAT = "anthropic_usage_report"

TOKEN_TYPES = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write",
}


def cost_sql(batch: pa.Table) -> str:
    amount = field(batch, "amount")
    token_type = field(batch, "token_type")
    mapping = " ".join(f"when '{k}' then '{v}'" for k, v in TOKEN_TYPES.items())
    used = {"amount", "currency", "workspace_id", "description", "model", "service_tier",
            "token_type"}  # fmt: skip
    dollars = f"cast(try_cast({amount} as {MONEY_SQL}) * 0.01 as {MONEY_SQL})"
    return f"""
    select 'anthropic' as provider,
        cast(null as varchar) as billing_account_id,
        {field(batch, "workspace_id")} as sub_account_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as resource_id,
        cast(null as varchar) as service_name,
        {token_type} as sku_id,
        {field(batch, "description")} as charge_description,
        {field(batch, "model")} as model,
        case {token_type} {mapping} end as token_type,
        {field(batch, "service_tier")} as service_tier,
        try_cast(r.bucket_start as timestamptz) as charge_period_start,
        try_cast(r.bucket_end as timestamptz) as charge_period_end,
        cast(null as double) as consumed_quantity,
        cast(null as varchar) as consumed_unit,
        {dollars} as billed_cost,
        {dollars} as effective_cost,
        cast(null as {MONEY_SQL}) as list_cost,
        upper(trim({field(batch, "currency")})) as billing_currency,
        'Usage' as charge_category,
        cast(null as map(varchar, varchar)) as tags,
        {extras(batch, used)} as extensions,
        r.line_no, r.ordinal,
        {cast_problems(batch, {"amount": ("billed_cost", MONEY_SQL)})} as parse_problem
    from billing_records as r
    """


def usage_sql(batch: pa.Table) -> str:
    sources = {
        "uncached": "uncached_input_tokens",
        "write_5m": "cache_creation.ephemeral_5m_input_tokens",
        "write_1h": "cache_creation.ephemeral_1h_input_tokens",
        "read": "cache_read_input_tokens",
        "output": "output_tokens",
    }
    count = {k: f"try_cast({field(batch, s)} as bigint)" for k, s in sources.items()}
    writes = f"coalesce({count['write_5m']}, 0) + coalesce({count['write_1h']}, 0)"
    used = {"uncached_input_tokens", "cache_read_input_tokens", "output_tokens",
            "api_key_id", "workspace_id", "model", "service_tier", "context_window"}  # fmt: skip
    return f"""
    select 'anthropic' as provider,
        try_cast(r.bucket_start as timestamptz) as bucket_start_at,
        try_cast(r.bucket_end as timestamptz) as bucket_end_at,
        {field(batch, "workspace_id")} as sub_account_id,
        {field(batch, "api_key_id")} as api_key_id,
        {field(batch, "model")} as model,
        {field(batch, "service_tier")} as service_tier,
        {field(batch, "context_window")} as context_window,
        {count["uncached"]} + {writes} + coalesce({count["read"]}, 0) as input_tokens,
        {count["read"]} as cache_read_tokens,
        {writes} as cache_write_tokens,
        {count["output"]} as output_tokens,
        cast(null as bigint) as n_requests,
        {extras(batch, used)} as details,
        r.line_no, r.ordinal,
        {cast_problems(batch, {
            sources["uncached"]: ("input_tokens", "bigint"),
            sources["write_5m"]: ("cache_write_tokens", "bigint"),
            sources["write_1h"]: ("cache_write_tokens", "bigint"),
            sources["read"]: ("cache_read_tokens", "bigint"),
            sources["output"]: ("output_tokens", "bigint"),
        }, counts=True)} as parse_problem
    from billing_records as r
    """  # fmt: skip


PARSERS = {
    COST_FORMAT: pages.parser(BILLING_COSTS, cost_sql),
    USAGE_FORMAT: pages.parser(BILLING_USAGE, usage_sql),
}
