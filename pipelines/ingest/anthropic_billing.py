"""Anthropic Admin API pages: the cost report and the messages usage report.

Cost report: `amount` is a decimal string in CENTS ("123.78912" = $1.2378912), read
exactly and divided by 100 exactly. `token_type` names the API's own token kinds; the
5-minute and 1-hour cache writes are both `cache_write` (the API's name is kept in
`sku_id`). The report leaves out Priority Tier costs (Anthropic's docs), so a priority
workload shows as billed < computed in the reconciliation. A null `workspace_id` is the
default workspace and stays null.

Usage report: `uncached_input_tokens` excludes the cache; `input_tokens` here is
uncached + cache writes (5m + 1h) + cache reads, the OTel meaning.

A value that does not read quarantines its result naming the field (`pages.cast_problems`);
sums of counts cannot overflow (`pages.sum_counts_sql`).
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.ingest import pages, split
from pipelines.ingest.pages import MONEY_SQL, cast_problems, extras, field, read_sql, sum_counts_sql
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
    dollars = f"cast({read_sql(amount, MONEY_SQL)} * 0.01 as {MONEY_SQL})"
    values = {
        "provider": "'anthropic'",
        "sub_account_id": field(batch, "workspace_id"),
        "sku_id": token_type,
        "charge_description": field(batch, "description"),
        "model": field(batch, "model"),
        "token_type": f"case {token_type} {mapping} end",
        "service_tier": field(batch, "service_tier"),
        "charge_period_start": pages.BUCKET_START_SQL,
        "charge_period_end": pages.BUCKET_END_SQL,
        "billed_cost": dollars,
        "effective_cost": dollars,
        "billing_currency": f"upper(trim({field(batch, 'currency')}))",
        "charge_category": "'Usage'",
        "extensions": extras(batch, used),
    }
    casts = {"amount": ("billed_cost", MONEY_SQL)}
    problem = cast_problems(batch, casts, bounds=pages.BILLING_COSTS_BOUNDS)
    return split.candidates_sql(BILLING_COSTS, values, problem=problem, ordinal="r.ordinal")


def usage_sql(batch: pa.Table) -> str:
    sources = {
        "uncached": ("uncached_input_tokens", "input_tokens"),
        "write_5m": ("cache_creation.ephemeral_5m_input_tokens", "cache_write_tokens"),
        "write_1h": ("cache_creation.ephemeral_1h_input_tokens", "cache_write_tokens"),
        "read": ("cache_read_input_tokens", "cache_read_tokens"),
        "output": ("output_tokens", "output_tokens"),
    }
    count = {k: read_sql(field(batch, s), "bigint") for k, (s, _) in sources.items()}
    writes = sum_counts_sql(count["write_5m"], count["write_1h"])
    all_input = sum_counts_sql(
        count["uncached"], count["write_5m"], count["write_1h"], count["read"]
    )
    used = {"uncached_input_tokens", "cache_read_input_tokens", "output_tokens",
            "api_key_id", "workspace_id", "model", "service_tier", "context_window"}  # fmt: skip
    values = {
        "provider": "'anthropic'",
        "bucket_start_at": pages.BUCKET_START_SQL,
        "bucket_end_at": pages.BUCKET_END_SQL,
        "sub_account_id": field(batch, "workspace_id"),
        "api_key_id": field(batch, "api_key_id"),
        "model": field(batch, "model"),
        "service_tier": field(batch, "service_tier"),
        "context_window": field(batch, "context_window"),
        "input_tokens": f"case when {count['uncached']} is not null then {all_input} end",
        "cache_read_tokens": count["read"],
        "cache_write_tokens": writes,
        "output_tokens": count["output"],
        "details": extras(batch, used),
    }
    casts = {source: (column, "bigint") for source, column in sources.values()}
    problem = cast_problems(
        batch,
        casts,
        bounds=pages.BILLING_USAGE_BOUNDS,
        non_negative=[s for s, _ in sources.values()],
    )
    return split.candidates_sql(BILLING_USAGE, values, problem=problem, ordinal="r.ordinal")


PARSERS = {
    COST_FORMAT: split.record_parser(BILLING_COSTS, cost_sql, pages.RAW_SQL),
    USAGE_FORMAT: split.record_parser(BILLING_USAGE, usage_sql, pages.RAW_SQL),
}
