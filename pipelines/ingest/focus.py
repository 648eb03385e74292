"""FOCUS cost-and-usage exports (FinOps Open Cost and Usage Specification 1.0 – 1.3),
CSV or Parquet, from any cloud (AWS Bedrock, Azure OpenAI, GCP Vertex, OCI …).

Quirks handled: nulls written as the literal text `NULL`; zone-less timestamps (UTC, as
the spec says); `Tags` as a JSON object text (or a Parquet map); 1.3's
`ServiceProviderName` preferred over the deprecated `ProviderName`. Every column that
has no canonical home (the other spec columns, `x_` extensions, extra columns such as
`Id`) is kept, as text, in `extensions`, with the FOCUS version the columns point to.
Model and token type are derived, best effort, for AI-service rows from the SKU meter
or charge description (e.g. "gpt-4o-mini input tokens").
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.db import sql_identifier, sql_string
from pipelines.ingest import split
from pipelines.ingest.pages import MONEY_SQL
from pipelines.schemas import BILLING_COSTS

FORMAT = "focus"

# Columns first introduced by each version (spec column lists, shared/fixtures/focus/).
VERSION_MARKERS = (
    ("1.3", ("ServiceProviderName", "HostProviderName", "AllocatedMethodId", "ContractApplied")),
    ("1.2", ("InvoiceId", "PricingCurrency", "BillingAccountType", "SubAccountType")),
    ("1.1", ("SkuMeter", "ServiceSubcategory", "CapacityReservationId", "SkuPriceDetails")),
)
MODEL_PATTERN = (
    r"(^|[^a-z0-9])((gpt|o[1-9]|claude|gemini|llama|mistral|mixtral|command|titan|nova|"
    r"text-embedding|dall-e|whisper|deepseek|phi)[a-z0-9.:_-]*)"
)
TOKEN_TYPE_SQL = """case
    when regexp_matches({text}, 'cache[ds]?[ _-]?(read|hit|input)') then 'cache_read'
    when regexp_matches({text}, 'cache[ _-]?(write|creation)') then 'cache_write'
    when regexp_matches({text}, '(^|[^a-z])(input|inp|prompt)([^a-z]|$)') then 'input'
    when regexp_matches({text}, '(^|[^a-z])(output|outp|completion)([^a-z]|$)') then 'output'
end"""
MAPPED = {
    "ProviderName", "ServiceProviderName", "BillingAccountId", "SubAccountId", "ResourceId",
    "ServiceName", "SkuId", "ChargeDescription", "ChargePeriodStart", "ChargePeriodEnd",
    "ConsumedQuantity", "ConsumedUnit", "BilledCost", "EffectiveCost", "ListCost",
    "BillingCurrency", "ChargeCategory", "Tags",
}  # fmt: skip


def focus_version(columns: list[str]) -> str:
    """The newest FOCUS version whose new columns the export has (1.0 when none)."""
    present = set(columns)
    for version, markers in VERSION_MARKERS:
        if present.intersection(markers):
            return version
    return "1.0"


def _value(batch: pa.Table, name: str) -> str:
    """A column's value, with the literal text NULL (and blanks) read as null."""
    if name not in batch.column_names:
        return "cast(null as varchar)"
    ref = f"r.{sql_identifier(name)}"
    if pa.types.is_string(batch.schema.field(name).type):
        return f"nullif(nullif(trim({ref}), 'NULL'), '')"
    return ref


def _text(batch: pa.Table, name: str) -> str:
    return f"cast({_value(batch, name)} as varchar)"


def _tags(batch: pa.Table) -> str:
    if "Tags" not in batch.column_names:
        return "cast(null as map(varchar, varchar))"
    if pa.types.is_map(batch.schema.field("Tags").type):
        return "try_cast(r.Tags as map(varchar, varchar))"
    return f"try_cast(try_cast({_value(batch, 'Tags')} as json) as map(varchar, varchar))"


def _extensions(batch: pa.Table) -> str:
    rest = [
        n
        for n in batch.column_names
        if n not in MAPPED and n not in ("line_no", "row_problem", "ordinal")
    ]
    version = f"{{k: 'focus_version', v: {sql_string(focus_version(batch.column_names))}}}"
    entries = ", ".join([version, *(f"{{k: {sql_string(n)}, v: {_text(batch, n)}}}" for n in rest)])
    return f"map_from_entries(list_filter([{entries}], lambda e: e.v is not null))"


def candidates_sql(batch: pa.Table) -> str:
    money = MONEY_SQL
    ai_text = (
        f"lower(concat_ws(' ', {_text(batch, 'SkuMeter')}, {_text(batch, 'x_SkuMeterName')}, "
        f"{_text(batch, 'ChargeDescription')}))"
    )
    is_ai = (
        f"({_text(batch, 'ServiceCategory')} = 'AI and Machine Learning' or "
        f"regexp_matches(lower(coalesce({_text(batch, 'ServiceName')}, '')), "
        f"'openai|bedrock|vertex|gemini|anthropic|generative'))"
    )
    tags = _tags(batch)
    checks = "".join(
        f"when {_value(batch, name)} is not null and try_cast({_value(batch, name)} as {kind}) "
        f"is null then '{column}|{name} cannot be read as {kind}: ' "
        f"|| left({_text(batch, name)}, 200) "
        for name, column, kind in (
            ("ChargePeriodStart", "charge_period_start", "timestamptz"),
            ("ChargePeriodEnd", "charge_period_end", "timestamptz"),
            ("BilledCost", "billed_cost", money),
            ("EffectiveCost", "effective_cost", money),
            ("ListCost", "list_cost", money),
            ("ConsumedQuantity", "consumed_quantity", "double"),
        )
        if name in batch.column_names
    )
    if "Tags" in batch.column_names:
        checks += (
            f"when {_value(batch, 'Tags')} is not null and {tags} is null "
            f"then 'tags|Tags is not a JSON object of tags: ' || left({_text(batch, 'Tags')}, 200) "
        )
    values = {
        "provider": f"coalesce({_text(batch, 'ServiceProviderName')}, "
        f"{_text(batch, 'ProviderName')})",
        "billing_account_id": _text(batch, "BillingAccountId"),
        "sub_account_id": _text(batch, "SubAccountId"),
        "resource_id": _text(batch, "ResourceId"),
        "service_name": _text(batch, "ServiceName"),
        "sku_id": _text(batch, "SkuId"),
        "charge_description": _text(batch, "ChargeDescription"),
        "model": f"case when {is_ai} then "
        f"nullif(regexp_extract({ai_text}, '{MODEL_PATTERN}', 2), '') end",
        "token_type": f"case when {is_ai} then {TOKEN_TYPE_SQL.format(text=ai_text)} end",
        "charge_period_start": f"try_cast({_value(batch, 'ChargePeriodStart')} as timestamptz)",
        "charge_period_end": f"try_cast({_value(batch, 'ChargePeriodEnd')} as timestamptz)",
        "consumed_quantity": f"try_cast({_value(batch, 'ConsumedQuantity')} as double)",
        "consumed_unit": _text(batch, "ConsumedUnit"),
        "billed_cost": f"try_cast({_value(batch, 'BilledCost')} as {money})",
        "effective_cost": f"try_cast({_value(batch, 'EffectiveCost')} as {money})",
        "list_cost": f"try_cast({_value(batch, 'ListCost')} as {money})",
        "billing_currency": f"upper({_text(batch, 'BillingCurrency')})",
        "charge_category": _text(batch, "ChargeCategory"),
        "tags": tags,
        "extensions": _extensions(batch),
    }
    problem = f"coalesce(r.row_problem, {f'case {checks} end' if checks else 'null'})"
    return split.candidates_sql(BILLING_COSTS, values, problem=problem)


PARSERS = {FORMAT: split.record_parser(BILLING_COSTS, candidates_sql)}
