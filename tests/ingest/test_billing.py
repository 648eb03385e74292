"""Billing sources on their real formats, with exact totals; bad billing input is
quarantined with a reason, and a page seen twice is stored once."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file
from tests.conftest import FIXTURES

BILLING = FIXTURES / "billing"
FOCUS_SAMPLE = FIXTURES / "focus" / "focus_1.0_sample_1000.csv"
FOCUS_1_3_NEW = ("AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId",
                 "AllocatedResourceName", "AllocatedTags", "ContractApplied",
                 "HostProviderName", "ServiceProviderName")  # fmt: skip


def _copy(settings, source: Path, name: str | None = None) -> Path:
    target = settings.raw_dir / (name or source.name)
    shutil.copy(source, target)
    return target


def _write(settings, name: str, document: dict) -> Path:
    target = settings.raw_dir / name
    target.write_text(json.dumps(document))
    return target


def _lake(settings, table: str, where: str = "true") -> list[dict]:
    files = sorted((settings.lake_dir / table).rglob("*.parquet"))
    if not files:
        return []
    sql = f"select * from read_parquet({[str(f) for f in files]}) where {where}"
    return [{k: v for k, v in row.items() if k != "day"} for row in duckdb.sql(sql).pl().to_dicts()]


def _quarantine(settings) -> list[tuple]:
    return [
        (r["line_no"], r["record_index"], r["field"], r["reason"])
        for r in _lake(settings, "quarantine")
    ]


def test_openai_costs_page(settings):
    result = ingest_file(_copy(settings, BILLING / "openai_costs_example.json"), settings)
    assert (result.source_format, result.rows_read, result.rows_accepted) == ("openai_costs", 1, 1)
    [row] = _lake(settings, "billing_costs")
    assert row["provider"] == "openai"
    assert row["billed_cost"] == Decimal("0.06")
    assert row["billing_currency"] == "USD"
    assert row["charge_period_start"] == datetime(2024, 11, 1, tzinfo=UTC)
    assert row["charge_period_end"] == datetime(2024, 11, 2, tzinfo=UTC)
    assert row["sub_account_id"] is None and row["api_key_id"] is None


def test_openai_costs_grouped_with_string_amounts_and_line_items(settings):
    def result(value, item, tokens):
        return {"object": "organization.costs.result", "amount": {"value": value,
                "currency": "usd"}, "line_item": item, "project_id": "proj_a",
                "api_key_id": "key_a", "quantity": tokens, "quantity_unit": "tokens"}  # fmt: skip

    page = {"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": 1730419200, "end_time": 1730505600, "results": [
            result("12.50", "gpt-4o-2024-08-06, input", 5_000_000),
            result(0.123456789012, "gpt-4o-2024-08-06, cached input", 98_765),
            result(3, "gpt-4o-2024-08-06, output", 300_000),
            result(1.5, "batch gpt-4o-mini, input", 10_000_000),
        ]}]}  # fmt: skip
    ingest_file(_write(settings, "costs.json", page), settings)
    rows = sorted(_lake(settings, "billing_costs"), key=lambda r: r["charge_description"])
    assert [(r["model"], r["token_type"], r["service_tier"], r["billed_cost"],
             r["consumed_quantity"]) for r in rows] == [
        ("batch gpt-4o-mini", "input", "batch", Decimal("1.5"), 10_000_000),
        ("gpt-4o-2024-08-06", "cache_read", None, Decimal("0.123456789"), 98_765),
        ("gpt-4o-2024-08-06", "input", None, Decimal("12.5"), 5_000_000),
        ("gpt-4o-2024-08-06", "output", None, Decimal("3"), 300_000),
    ]  # fmt: skip
    assert sum(r["billed_cost"] for r in rows) == Decimal("17.123456789")


def test_openai_usage_pages_follow_pagination(settings):
    first = json.loads((BILLING / "openai_usage_completions_example.json").read_text())
    second = json.loads(json.dumps(first))
    second["data"][0]["start_time"] += 86_400
    second["data"][0]["end_time"] += 86_400
    second["has_more"], second["next_page"] = False, None
    for number, page in enumerate((first, second), start=1):
        ingest_file(_write(settings, f"usage_page_{number}.json", page), settings)
    rows = _lake(settings, "billing_usage")
    assert len(rows) == 2
    row = rows[0]
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"],
            row["output_tokens"], row["n_requests"]) == (1000, 400, 100, 500, 5)  # fmt: skip
    assert row["details"]["input_audio_tokens"] == "50"
    assert sum(r["input_tokens"] + r["output_tokens"] for r in rows) == 3000


def test_anthropic_cost_report_cents_are_exact(settings):
    ingest_file(_copy(settings, BILLING / "anthropic_cost_report_example.json"), settings)
    [row] = _lake(settings, "billing_costs")
    assert row["source_format"] == "anthropic_cost_report"
    assert row["billed_cost"] == Decimal("1.2378912")  # "123.78912" cents
    assert (row["sub_account_id"], row["model"], row["token_type"], row["service_tier"]) == (
        "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "claude-sonnet-4-20250514",
        "input",
        "standard",
    )
    assert row["extensions"] == {"cost_type": "tokens", "context_window": "0-200k"}


def test_anthropic_usage_report_counts_cache_into_input(settings):
    path = _copy(settings, BILLING / "anthropic_usage_report_messages_example.json")
    ingest_file(path, settings)
    [row] = _lake(settings, "billing_usage")
    # 1,500 uncached + 1,000 (1h) + 500 (5m) cache writes + 200 cache reads
    assert (row["input_tokens"], row["cache_write_tokens"], row["cache_read_tokens"],
            row["output_tokens"]) == (3200, 1500, 200, 500)  # fmt: skip
    assert (row["api_key_id"], row["context_window"]) == (
        "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "0-200k",
    )
    assert row["details"]["server_tool_use.web_search_requests"] == "10"


def _focus_totals(settings) -> dict:
    rows = _lake(settings, "billing_costs")
    return {
        "rows": len(rows),
        "billed": sum(r["billed_cost"] for r in rows),
        "effective": sum(r["effective_cost"] for r in rows if r["effective_cost"] is not None),
        "list": sum(r["list_cost"] for r in rows if r["list_cost"] is not None),
        "by_provider": {
            p: sum(r["provider"] == p for r in rows) for p in ("AWS", "Microsoft", "Oracle")
        },
        "credits": [r["billed_cost"] for r in rows if r["charge_category"] == "Credit"],
        "versions": {r["extensions"]["focus_version"] for r in rows},
    }  # fmt: skip


# The FinOps Foundation sample's totals (shared/fixtures/focus/NOTES.md, to 4 places).
FOCUS_SAMPLE_TOTALS = {
    "rows": 1000,
    "billed": Decimal("20.5202267289"),
    "effective": Decimal("14.9765141858"),
    "list": Decimal("20.3909057511"),
    "by_provider": {"AWS": 942, "Microsoft": 51, "Oracle": 7},
    "credits": [Decimal("-2.6137")],
}


def test_focus_sample_loads_with_its_quirks_and_exact_totals(settings):
    result = ingest_file(_copy(settings, FOCUS_SAMPLE), settings)
    assert (result.source_format, result.rows_read, result.rows_accepted) == ("focus", 1000, 1000)
    assert _focus_totals(settings) == {**FOCUS_SAMPLE_TOTALS, "versions": {"1.0"}}
    [row] = _lake(settings, "billing_costs", "extensions['Id'] = '5402010'")
    assert row["charge_period_start"] == datetime(2024, 9, 1, tzinfo=UTC)  # zone-less = UTC
    assert row["tags"]["Cost department"] == "Marketing"  # JSON Tags
    assert row["extensions"]["RegionId"] == "eastus"  # spec columns without a home: kept
    assert row["resource_id"].endswith("virtualmachinescalesets/aks-secretagent-37798712-vmss")
    assert row["billed_cost"] == Decimal("0.0000003702")


def _spec_columns(version: str) -> list[str]:
    if version == "1.3":
        return [*_spec_columns("1.2"), *FOCUS_1_3_NEW]
    spec = json.loads((FIXTURES / "focus" / f"spec_columns_v{version}.json").read_text())
    return [c["ColumnID"] for c in spec]


@pytest.mark.parametrize("version", ["1.1", "1.2", "1.3"])
@pytest.mark.parametrize("container", ["csv", "parquet"])
def test_focus_versions_and_containers_give_the_same_totals(settings, version, container):
    """The sample re-exported as a later version: its new columns (all null here) added,
    and 1.3's ServiceProviderName in place of the deprecated ProviderName."""
    table = pacsv.read_csv(FOCUS_SAMPLE, convert_options=pacsv.ConvertOptions(
        null_values=["NULL"], strings_can_be_null=True))  # fmt: skip
    for name in _spec_columns(version):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    if version == "1.3":
        table = table.set_column(
            table.column_names.index("ServiceProviderName"),
            "ServiceProviderName",
            table["ProviderName"],
        )
        table = table.drop_columns(["ProviderName"])  # fmt: skip
    path = settings.raw_dir / f"focus_{version}.{container}"
    if container == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    result = ingest_file(path, settings)
    assert (result.source_format, result.rows_accepted) == ("focus", 1000)
    assert _focus_totals(settings) == {**FOCUS_SAMPLE_TOTALS, "versions": {version}}


def test_focus_ai_rows_get_model_and_token_type(settings):
    header = "ProviderName,ServiceName,ServiceCategory,ChargeDescription,ChargePeriodStart,"
    header += "ChargePeriodEnd,BilledCost,BillingCurrency,ChargeCategory,SubAccountId,Tags"
    lines = [
        'Microsoft,Azure OpenAI,AI and Machine Learning,gpt-4o-mini input tokens,'
        '2026-10-01 00:00:00,2026-10-02 00:00:00,1.25,USD,Usage,sub-1,"{""fleet-agent"": ""a""}"',
        'AWS,Amazon Bedrock,AI and Machine Learning,Claude-Sonnet-4 output tokens,'
        '2026-10-01 00:00:00,2026-10-02 00:00:00,0.5,USD,Usage,acct-1,NULL',
        'AWS,Amazon EC2,Compute,On Demand Linux m5.large Instance Hour,'
        '2026-10-01 00:00:00,2026-10-02 00:00:00,2,USD,Usage,acct-1,NULL',
    ]  # fmt: skip
    path = settings.raw_dir / "focus.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    ingest_file(path, settings)
    rows = sorted(_lake(settings, "billing_costs"), key=lambda r: r["billed_cost"])
    assert [(r["model"], r["token_type"], r["tags"]) for r in rows] == [
        ("claude-sonnet-4", "output", None),
        ("gpt-4o-mini", "input", {"fleet-agent": "a"}),
        (None, None, None),
    ]


# --- bad billing input --------------------------------------------------------------


def _usage_page(start: int, results: list[dict]) -> dict:
    return {"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": start, "end_time": start + 86_400,
        "results": results}]}  # fmt: skip


def _usage(model: str, input_tokens, output_tokens=10) -> dict:
    return {"object": "organization.usage.completions.result", "input_tokens": input_tokens,
            "output_tokens": output_tokens, "num_model_requests": 1, "project_id": "p",
            "api_key_id": "k", "model": model}  # fmt: skip


def test_wrong_currency_and_bad_amounts_are_quarantined_non_usd_kept(settings):
    def cost(value, currency, item):
        return {"object": "organization.costs.result", "amount": {"value": value,
                "currency": currency}, "line_item": item, "project_id": "p"}  # fmt: skip

    page = {"object": "page", "data": [{"start_time": 1730419200, "end_time": 1730505600,
            "results": [cost(1, "usd", "a, input"), cost(2, "US Dollars", "b, input"),
                        cost("n/a", "usd", "c, input"), cost(4, "eur", "d, input")]}]}  # fmt: skip
    result = ingest_file(_write(settings, "costs.json", page), settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (4, 2, 2)
    assert sorted(_quarantine(settings)) == [
        (1, 2, "billing_currency", "must match [A-Z]{3}, got US DOLLARS"),
        (1, 3, "billed_cost", "amount.value cannot be read as decimal(20, 10): n/a"),
    ]
    kept = {r["model"]: (r["billed_cost"], r["billing_currency"])
            for r in _lake(settings, "billing_costs")}  # fmt: skip
    assert kept == {"a": (Decimal(1), "USD"), "d": (Decimal(4), "EUR")}


def test_negative_usage_is_quarantined(settings):
    page = _usage_page(1730419200, [_usage("m1", 100), _usage("m2", -5), _usage("m3", 7, -1)])
    result = ingest_file(_write(settings, "usage.json", page), settings)
    assert (result.rows_accepted, result.rows_quarantined) == (1, 2)
    assert sorted(_quarantine(settings)) == [
        (1, 2, "input_tokens", "input_tokens must be at least 0, got -5"),
        (1, 3, "output_tokens", "output_tokens must be at least 0, got -1"),
    ]


def test_a_bucket_that_ends_before_it_starts_is_quarantined(settings):
    page = _usage_page(1730419200, [_usage("m1", 100)])
    page["data"][0]["end_time"] = 1730419200 - 3600
    ingest_file(_write(settings, "usage.json", page), settings)
    [(line, index, field, reason)] = _quarantine(settings)
    assert (line, index, field) == (1, 1, "bucket_end_at")
    assert reason.startswith("must be after bucket_start_at (2024-11-01 00:00:00+00)")


def test_overlapping_periods_and_a_page_twice_are_stored_once(settings):
    day = 86_400
    week_1 = {
        "object": "page",
        "data": [
            _usage_page(1730419200 + d * day, [_usage("m", 100 + d)])["data"][0] for d in range(3)
        ],
    }
    overlap = {
        "object": "page",
        "data": [
            _usage_page(1730419200 + d * day, [_usage("m", 100 + d)])["data"][0] for d in (2, 3)
        ],
    }
    first = ingest_file(_write(settings, "usage_a.json", week_1), settings)
    again = ingest_file(settings.raw_dir / "usage_a.json", settings)
    twice = ingest_file(_write(settings, "usage_a_copy.json", week_1), settings)
    later = ingest_file(_write(settings, "usage_b.json", overlap), settings)
    assert (first.rows_accepted, again.status) == (3, "unchanged")  # re-ingest: a no-op
    assert (twice.rows_accepted, twice.rows_quarantined) == (0, 3)
    assert (later.rows_accepted, later.rows_quarantined) == (1, 1)
    assert sorted(r["input_tokens"] for r in _lake(settings, "billing_usage")) == [
        100,
        101,
        102,
        103,
    ]
    reasons = {
        r["source_file"].rsplit("/", 1)[1]: r["reason"] for r in _lake(settings, "quarantine")
    }
    stored_from = str(settings.raw_dir / "usage_a.json")
    assert reasons == {
        "usage_a_copy.json": "duplicate: this usage bucket (same key, same period) is already "
        f"stored from {stored_from}",
        "usage_b.json": "duplicate: this usage bucket (same key, same period) is already "
        f"stored from {stored_from}",
    }  # fmt: skip


def test_a_file_that_is_not_a_page_is_set_aside(settings):
    path = settings.raw_dir / "costs.json"
    truncated = '{"object": "page", "data": [{"results": ['  # a truncated download
    path.write_text(truncated)
    result = ingest_file(path, settings, source_format="openai_costs")
    assert result.status == "set aside"
    assert "not a JSON document" in result.note
    assert path.read_text() == truncated  # the input stays where it was, unchanged
    # Named with its reason; no copy without keep_content (it may hold prompt content).
    (note,) = (settings.lake_dir / "quarantine" / "_files").glob("*-costs.json.reason.txt")
    reason = note.read_text().splitlines()
    assert reason[0] == str(path.resolve()) and "not a JSON document" in reason[-1]
    assert not note.with_name(note.name.removesuffix(".reason.txt")).exists()
