"""Hostile values in Langfuse, native and billing-page records (issue 20, items 2, 4, 5, 6).

Each test mutates a real fixture and asserts exactly what is accepted and what is
quarantined, with the field and the reason:
- a value that cannot be read quarantines its record, never the file (item 2);
- a present but unreadable value is a quarantine row, not a NULL, by the same rules in
  every format; a timestamp outside the plausible range is quarantined (item 4);
- evaluations re-sent under another name are duplicates, like spans (item 5);
- prompt and response content is stored only with `keep_content` (item 6).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file, lake
from pipelines.ingest.pages import UnreadablePage, page_batches
from pipelines.schemas import BILLING_COSTS, EVAL_RESULTS, EVALUATIONS, QUARANTINE, SPANS
from tests.conftest import FIXTURES

LANGFUSE = FIXTURES / "langfuse"
NATIVE = FIXTURES / "native"
BILLING = FIXTURES / "billing"
FOCUS_SAMPLE = FIXTURES / "focus" / "focus_1.0_sample_1000.csv"
PLAUSIBLE = (
    "must be on or after 2000-01-01 and before 2100-01-01 (FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL)"
)
MARKER = "SECRET-PROMPT-7f1d"  # planted in content fields; must never reach the lake
# The native eval_results record documented in README.md ("Native format").
EVAL_RESULT = {"run_id": "kb-candidate-gpt-4.1-mini", "dataset": "kb-answerer-golden/how-to",
               "item_id": "kb-0001", "trial": 1, "agent_name": "kb-answerer",
               "variant": "gpt-4.1-mini / v2", "model": "gpt-4.1-mini-2025-04-14",
               "prompt_version": "v2", "score_name": "quality", "score_value": 0.84,
               "input_tokens": 2400, "output_tokens": 330, "latency_ms": 1180.5,
               "evaluated_at": "2026-10-05T09:00:00Z"}  # fmt: skip


# --- helpers ---------------------------------------------------------------------------


def _records(path: Path) -> list[dict]:
    return [json.loads(text) for text in path.read_text().splitlines()]


def _jsonl(records: list[dict], raw: dict[str, str] | None = None) -> str:
    """JSON Lines; each `"@name"` string value is replaced by the raw token `raw[name]`
    (what `json` will not write: NaN, 1e400, 1e30 as written)."""
    text = "".join(json.dumps(record) + "\n" for record in records)
    for name, token in (raw or {}).items():
        text = text.replace(f'"@{name}"', token)
    return text


def _csv(rows: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def _write(settings, name: str, text: str) -> Path:
    path = settings.raw_dir / name
    path.write_text(text)
    return path


def _counts(result) -> tuple[str, int, int, int]:
    return result.status, result.rows_read, result.rows_accepted, result.rows_quarantined


def _rows(settings, table) -> list[dict]:
    files = lake.live_files(settings.lake_dir, table)
    return pq.ParquetDataset(files).read().to_pylist() if files else []


def _quarantine(settings) -> list[tuple]:
    """(line_no, record_index, field, reason) of every quarantined record, sorted."""
    rows = _rows(settings, QUARANTINE)
    return sorted((r["line_no"], r["record_index"], r["field"], r["reason"]) for r in rows)


def _observations() -> list[dict]:
    """The fixture's observations: 5 good ones, then the broken clock (line 6)."""
    return _records(LANGFUSE / "observations_v2.jsonl")


def _generation(number: int, **changes) -> dict:
    """The fixture's `plan` generation under an id of its own, with `changes`."""
    record = copy.deepcopy(_observations()[1])
    record["id"] = f"0b1c2d3e-4f50-4617-8293-{number:012x}"
    for name, value in changes.items():
        record[name] = value
    return record


# --- Langfuse: poison usage, costs, times and shapes -------------------------------------

USAGE_POISON = {  # usage_details.input, as written in the file → as the reason shows it
    "1e30": "1e30",
    str(2**63): str(2**63),
    '"NaN"': "NaN",
    "NaN": "NaN",
    "1e400": "1e400",
    '"abc"': "abc",
    "true": "true",
    "-5": "-5",
    "1.5": "1.5",
}


def test_langfuse_usage_that_is_no_count_quarantines_its_observation(settings):
    poisoned = [
        _generation(n, usage_details={**_observations()[1]["usage_details"], "input": f"@{n}"})
        for n in range(len(USAGE_POISON))
    ]
    raw = {str(n): token for n, token in enumerate(USAGE_POISON)}
    path = _write(settings, "observations.jsonl", _jsonl([*_observations(), *poisoned], raw))
    assert _counts(ingest_file(path, settings)) == ("ingested", 15, 5, 10)
    assert _quarantine(settings) == [
        (6, 1, "started_at", "start_time is not a timestamp: 05/10/2026 09:15"),
        *(
            (7 + n, 1, "input_tokens", f"usage_details.input cannot be read as a count: {shown}")
            for n, shown in enumerate(USAGE_POISON.values())
        ),
    ]


PARQUET_OBSERVATION = pa.schema(
    [
        ("id", pa.string()),
        ("trace_id", pa.string()),
        ("type", pa.string()),
        ("parent_observation_id", pa.string()),
        ("start_time", pa.timestamp("us")),
        ("end_time", pa.timestamp("us")),
        ("usage_details", pa.map_(pa.string(), pa.float64())),
    ]
)


def test_langfuse_usage_in_parquet_is_read_by_the_same_rules(settings):
    """A Parquet export types usage as a map of numbers: the same rules read it."""
    plan = _observations()[1]
    start, end = (datetime.fromisoformat(plan[k]) for k in ("start_time", "end_time"))
    usages = (
        [("input", 1e30), ("output", 2.0)],
        [("input", 3.0), ("output_reasoning_tokens", -1.0)],
        [("input", 3.0), ("output", 4.0)],
    )
    records = [
        {"id": f"obs-{n}", "trace_id": plan["trace_id"], "type": "GENERATION",
         "start_time": start, "end_time": end, "usage_details": usage}
        for n, usage in enumerate(usages)
    ]  # fmt: skip
    path = settings.raw_dir / "observations.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=PARQUET_OBSERVATION), path)
    assert _counts(ingest_file(path, settings)) == ("ingested", 3, 1, 2)
    assert _quarantine(settings) == [
        (1, 1, "input_tokens", "usage_details.input cannot be read as a count: 1e30"),
        (2, 1, "reasoning_tokens",
         "usage_details.output_reasoning_tokens cannot be read as a count: -1.0"),
    ]  # fmt: skip
    [span] = _rows(settings, SPANS)
    assert (span["input_tokens"], span["output_tokens"]) == (3, 4)  # 3.0 is a whole count


def test_langfuse_csv_cells_that_do_not_read_are_quarantined(settings):
    header, *rows = list(csv.reader((LANGFUSE / "observations_v2.csv").read_text().splitlines()))
    column = {name: header.index(name) for name in header}
    rows[1][column["usage_details"]] = '{"input": "abc", "output": 1}'
    rows[2][column["total_cost"]] = "free"
    rows[3][column["usage_details"]] = "400 tokens"
    path = _write(settings, "observations.csv", _csv([header, *rows]))
    assert _counts(ingest_file(path, settings)) == ("ingested", 6, 2, 4)
    assert _quarantine(settings) == [
        (3, 1, "input_tokens", "usage_details.input cannot be read as a count: abc"),
        (4, 1, "reported_cost_usd", "total_cost cannot be read as a number: free"),
        (5, 1, "input_tokens", "usage_details is not a JSON object: 400 tokens"),
        (7, 1, "started_at", "start_time is not a timestamp: 05/10/2026 09:15"),
    ]


def test_langfuse_costs_times_and_shapes_that_do_not_read_are_quarantined(settings):
    observations = _observations()[:5]
    poisoned = [
        _generation(1, total_cost="@abc"),
        _generation(2, total_cost=True),
        _generation(3, total_cost=None, cost_details={"total": "abc"}),
        _generation(4, total_cost=-1),
        _generation(5, total_cost="@nan"),
        _generation(6, end_time="yesterday"),
        _generation(7, usage_details=[1, 2]),
        _generation(8, cost_details="free"),
        _generation(9, start_time="0001-01-01 00:00:00"),
        _generation(10, start_time="9999-12-31 23:59:59", end_time="9999-12-31 23:59:59"),
        _generation(11, start_time="-0100-01-01 00:00:00"),
        _generation(12, start_time="@1e25"),
    ]
    raw = {"abc": '"abc"', "nan": "NaN", "1e25": "1e25"}
    path = _write(settings, "observations.jsonl", _jsonl([*observations, *poisoned], raw))
    assert _counts(ingest_file(path, settings)) == ("ingested", 17, 5, 12)
    assert _quarantine(settings) == [
        (6, 1, "reported_cost_usd", "total_cost cannot be read as a number: abc"),
        (7, 1, "reported_cost_usd", "total_cost cannot be read as a number: true"),
        (8, 1, "reported_cost_usd", "cost_details.total cannot be read as a number: abc"),
        (9, 1, "reported_cost_usd", "must be at least 0, got -1.0"),
        (10, 1, "reported_cost_usd", "must be a finite number, got nan"),
        (11, 1, "ended_at", "end_time is not a timestamp: yesterday"),
        (12, 1, "input_tokens", "usage_details is not a JSON object: [1,2]"),
        (13, 1, "reported_cost_usd", "cost_details is not a JSON object: free"),
        (14, 1, "started_at", f"{PLAUSIBLE}, got 0001-01-01 00:00:00+00"),
        (15, 1, "started_at", f"{PLAUSIBLE}, got 9999-12-31 23:59:59+00"),
        (16, 1, "started_at", f"{PLAUSIBLE}, got 0101-01-01 (BC) 00:00:00+00"),
        (17, 1, "started_at", "start_time is not a timestamp: 1e25"),
    ]


def test_langfuse_counts_that_would_overflow_when_added_are_quarantined(settings):
    usage = {"input": 2**63 - 1000, "input_cached_tokens": 5000, "output": 1}
    path = _write(settings, "observations.jsonl", _jsonl([_generation(1, usage_details=usage)]))
    assert _counts(ingest_file(path, settings)) == ("ingested", 1, 0, 1)
    assert _quarantine(settings) == [
        (1, 1, "input_tokens", f"must be at most 1e+13, got {2**63 - 1}"),
    ]


def test_a_langfuse_score_value_that_is_no_number_is_quarantined(settings):
    scores = _records(LANGFUSE / "scores.jsonl")
    scores[0]["value"] = "high"  # NUMERIC: read, so it must be a number
    scores[1]["value"] = "n/a"  # CATEGORICAL: the label counts, the value is not read
    path = _write(settings, "scores.jsonl", _jsonl(scores))
    assert _counts(ingest_file(path, settings)) == ("ingested", 4, 2, 2)
    assert _quarantine(settings) == [
        (1, 1, "score_value", "value cannot be read as a number: high"),
        (4, 1, "name", "is required but missing"),
    ]


# --- billing pages -----------------------------------------------------------------------


def _usage_page() -> dict:
    """The OpenAI usage fixture as three daily buckets of one result each."""
    page = json.loads((BILLING / "openai_usage_completions_example.json").read_text())
    bucket = page["data"][0]
    page["data"] = []
    for day in range(3):
        copied = copy.deepcopy(bucket)
        copied["start_time"] += day * 86_400
        copied["end_time"] += day * 86_400
        page["data"].append(copied)
    return page


@pytest.mark.parametrize(
    ("bound", "token", "shown"),
    [
        ("start_time", str(10**20), str(10**20)),
        ("start_time", "1e20", "1E+20"),
        ("start_time", str(-(10**12)), str(-(10**12))),
        ("start_time", "-1e12", "-1E+12"),
        ("end_time", "NaN", "NaN"),
        ("end_time", '"tomorrow"', "tomorrow"),
        ("end_time", "true", "true"),
    ],
)
def test_openai_bucket_times_that_are_no_time_quarantine_that_bucket(settings, bound, token, shown):
    page = _usage_page()
    page["data"][1][bound] = "@poison"
    path = _write(settings, "usage.json", _jsonl([page], {"poison": token}))
    assert _counts(ingest_file(path, settings)) == ("ingested", 3, 2, 1)
    column = "bucket_start_at" if bound == "start_time" else "bucket_end_at"
    assert _quarantine(settings) == [(2, 1, column, f"{bound} cannot be read as a time: {shown}")]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-62_135_596_800, "0001-01-01 00:00:00+00"), (253_402_214_400, "9999-12-31 00:00:00+00")],
)
def test_openai_buckets_of_year_1_or_9999_are_times_out_of_range(settings, seconds, shown):
    page = _usage_page()
    page["data"][2]["start_time"] = seconds
    path = _write(settings, "usage.json", json.dumps(page))
    assert _counts(ingest_file(path, settings)) == ("ingested", 3, 2, 1)
    assert _quarantine(settings) == [(3, 1, "bucket_start_at", f"{PLAUSIBLE}, got {shown}")]


def test_openai_cost_bucket_of_unix_seconds_1e20_names_the_charge_period(settings):
    page = json.loads((BILLING / "openai_costs_example.json").read_text())
    page["data"].append(copy.deepcopy(page["data"][0]))
    page["data"][0]["end_time"] = 10**20
    path = _write(settings, "costs.json", json.dumps(page))
    assert _counts(ingest_file(path, settings)) == ("ingested", 2, 1, 1)
    assert _quarantine(settings) == [
        (1, 1, "charge_period_end", f"end_time cannot be read as a time: {10**20}")
    ]


def test_a_page_nested_5000_levels_is_unreadable_and_set_aside(settings):
    path = _write(settings, "costs.json", '{"data": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(UnreadablePage, match="nested deeper than the reader allows"):
        list(page_batches(path))
    result = ingest_file(path, settings, source_format="openai_costs")
    assert _counts(result) == ("set aside", 0, 0, 0)
    assert "JSON nested deeper than the reader allows" in result.note
    assert "RecursionError" not in result.note


def test_absurd_or_negative_quantities_and_counts_in_pages_are_quarantined(settings):
    page = json.loads((BILLING / "openai_costs_example.json").read_text())
    results = page["data"][0]["results"]
    template = results[0]
    results[:] = [
        {**template, "line_item": f"gpt-4o, input {n}", "quantity": quantity}
        for n, quantity in enumerate((1000, -5, 10**16, "@nan", 2.5))
    ]
    costs = _write(settings, "costs.json", _jsonl([page], {"nan": "NaN"}))
    assert _counts(ingest_file(costs, settings)) == ("ingested", 5, 2, 3)
    usage = _usage_page()
    usage["data"][0]["results"][0]["input_tokens"] = 1.5
    usage["data"][1]["results"][0]["num_model_requests"] = 2**63
    usage["data"][2]["results"][0]["output_tokens"] = "@1e30"
    path = _write(settings, "usage.json", _jsonl([usage], {"1e30": "1e30"}))
    assert _counts(ingest_file(path, settings)) == ("ingested", 3, 0, 3)
    assert _quarantine(settings) == [
        (1, 1, "input_tokens", "input_tokens cannot be read as bigint: 1.5"),
        (1, 2, "consumed_quantity", "quantity must be at least 0, got -5"),
        (1, 3, "consumed_quantity", "must be at most 1e+15, got 1e+16"),
        (1, 4, "consumed_quantity", "must be a finite number, got nan"),
        (2, 1, "n_requests", f"num_model_requests cannot be read as bigint: {2**63}"),
        (3, 1, "output_tokens", "output_tokens cannot be read as bigint: 1E+30"),
    ]
    assert sorted(r["consumed_quantity"] for r in _rows(settings, BILLING_COSTS)) == [2.5, 1000]


def test_focus_keeps_negative_consumed_quantity(settings):
    """A FOCUS correction has a negative quantity: kept, unlike an OpenAI cost's."""
    header, *rows = list(csv.reader(FOCUS_SAMPLE.read_text().splitlines()))[:3]
    rows[0][header.index("ConsumedQuantity")] = "-3.5"
    rows[1][header.index("BilledCost")] = "NaN"
    path = _write(settings, "focus.csv", _csv([header, *rows]))
    assert _counts(ingest_file(path, settings)) == ("ingested", 2, 1, 1)
    [kept] = _rows(settings, BILLING_COSTS)
    assert kept["consumed_quantity"] == -3.5
    assert _quarantine(settings) == [
        (3, 1, "billed_cost", "BilledCost cannot be read as decimal(20, 10): NaN")
    ]


def test_anthropic_counts_that_overflow_when_added_are_quarantined(settings):
    page = json.loads((BILLING / "anthropic_usage_report_messages_example.json").read_text())
    page["data"][0]["results"].append(copy.deepcopy(page["data"][0]["results"][0]))
    page["data"][0]["results"][1]["model"] = "claude-other"
    page["data"][0]["results"][0]["uncached_input_tokens"] = 2**63 - 1
    path = _write(settings, "anthropic_usage.json", json.dumps(page))
    assert _counts(ingest_file(path, settings)) == ("ingested", 2, 1, 1)
    assert _quarantine(settings) == [
        (1, 1, "input_tokens", f"must be at most 1e+13, got {2**63 - 1}"),
    ]


@pytest.mark.parametrize(
    ("starting_at", "shown"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00+00"),
        ("9999-12-31T00:00:00Z", "9999-12-31 00:00:00+00"),
    ],
)
def test_anthropic_cost_buckets_dated_out_of_range_are_quarantined(settings, starting_at, shown):
    page = json.loads((BILLING / "anthropic_cost_report_example.json").read_text())
    page["data"].append(copy.deepcopy(page["data"][0]))
    page["data"][1]["starting_at"] = starting_at
    path = _write(settings, "anthropic_costs.json", json.dumps(page))
    assert _counts(ingest_file(path, settings)) == ("ingested", 2, 1, 1)
    assert _quarantine(settings) == [(2, 1, "charge_period_start", f"{PLAUSIBLE}, got {shown}")]


# --- native ------------------------------------------------------------------------------


def test_native_spans_dated_out_of_range_are_quarantined_not_nulled(settings):
    spans = _records(NATIVE / "spans.jsonl")[:2]
    dated = []
    for n, (start, end) in enumerate(
        [
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:01Z"),
            ("9999-12-31T23:59:58Z", "9999-12-31T23:59:59Z"),
            ("-0100-03-01T00:00:00Z", "-0100-03-01T00:00:01Z"),
            ("-290000-01-01T00:00:00Z", "294000-01-01T00:00:00Z"),  # µs apart: past bigint
        ]
    ):
        dated.append({**spans[0], "span_id": f"00f067aa0ba90{n:03x}", "started_at": start,
                      "ended_at": end})  # fmt: skip
    dated.append({**spans[1], "span_id": "00f067aa0ba90fff", "input_tokens": 1.5})
    path = _write(settings, "spans.jsonl", _jsonl([*spans, *dated]))
    assert _counts(ingest_file(path, settings)) == ("ingested", 7, 2, 5)
    assert _quarantine(settings) == [
        (3, 1, "started_at", f"{PLAUSIBLE}, got 0001-01-01 00:00:00+00"),
        (4, 1, "started_at", f"{PLAUSIBLE}, got 9999-12-31 23:59:58+00"),
        (5, 1, "started_at", f"{PLAUSIBLE}, got 0101-03-01 (BC) 00:00:00+00"),
        (6, 1, "started_at", f"{PLAUSIBLE}, got 290001-01-01 (BC) 00:00:00+00"),
        (7, 1, "input_tokens", "cannot be read as bigint: 1.5"),
    ]


def test_native_eval_results_with_negative_tokens_or_bad_costs_are_quarantined(settings):
    def item(n: int, **changes) -> dict:
        return {**EVAL_RESULT, "item_id": f"kb-{n:04d}", **changes}

    records = [
        item(1),
        item(2, input_tokens=-1),
        item(3, output_tokens=2**63),
        item(4, cost_usd="@inf"),
        item(5, cost_usd=-0.01),
        item(6, latency_ms=-3),
        item(7, score_value="@nan"),
        item(8, evaluated_at="9999-01-01T00:00:00Z"),
    ]
    path = _write(
        settings, "eval_results.jsonl", _jsonl(records, {"inf": "Infinity", "nan": "NaN"})
    )
    assert _counts(ingest_file(path, settings)) == ("ingested", 8, 1, 7)
    assert _quarantine(settings) == [
        (2, 1, "input_tokens", "must be at least 0, got -1"),
        (3, 1, "output_tokens", f"cannot be read as bigint: {2**63}"),
        (4, 1, "cost_usd", "must be a finite number, got inf"),
        (5, 1, "cost_usd", "must be at least 0, got -0.01"),
        (6, 1, "latency_ms", "must be at least 0, got -3.0"),
        (7, 1, "score_value", "must be a finite number, got nan"),
        (8, 1, "evaluated_at", f"{PLAUSIBLE}, got 9999-01-01 00:00:00+00"),
    ]
    assert [r["item_id"] for r in _rows(settings, EVAL_RESULTS)] == ["kb-0001"]


# --- duplicates --------------------------------------------------------------------------


DUPLICATE = "duplicate: this row is already stored from {first}"


@pytest.mark.parametrize(
    ("fixture", "first_counts", "second_quarantine"),
    [
        (LANGFUSE / "scores.jsonl", (4, 3, 1), [
            (1, "evaluated_at", DUPLICATE), (2, "evaluated_at", DUPLICATE),
            (3, "evaluated_at", DUPLICATE), (4, "name", "is required but missing")]),
        (NATIVE / "evaluations.jsonl", (2, 2, 0), [
            (1, "evaluated_at", DUPLICATE), (2, "evaluated_at", DUPLICATE)]),
    ],
)  # fmt: skip
def test_evaluations_resent_under_another_name_are_duplicates(
    settings, fixture, first_counts, second_quarantine
):
    first = settings.raw_dir / f"first-{fixture.name}"
    second = settings.raw_dir / f"second-{fixture.name}"
    shutil.copy(fixture, first)
    shutil.copy(fixture, second)
    assert _counts(ingest_file(first, settings))[1:] == first_counts
    second_counts = (first_counts[0], 0, first_counts[0])  # every record quarantined
    assert _counts(ingest_file(second, settings))[1:] == second_counts
    assert len(_rows(settings, EVALUATIONS)) == first_counts[1]
    from_second = sorted(
        (r["line_no"], r["field"], r["reason"])
        for r in _rows(settings, QUARANTINE)
        if r["source_file"] == str(second.resolve())
    )
    assert from_second == [
        (line, field, reason.format(first=first.resolve()))
        for line, field, reason in second_quarantine
    ]


# --- content -----------------------------------------------------------------------------


def _planted_observation() -> dict:
    return _generation(
        1,
        input=f"[{{'role':'user','content':'{MARKER} input'}}]",
        output=f"{MARKER} output",
        metadata={"ls_provider": "openai", "gen_ai.agent.name": "refund-agent",
                  "fleet.intent": "refund", "customer_note": f"{MARKER} metadata",
                  "gen_ai.prompt": f"{MARKER} prompt"},
        model_parameters=json.dumps({"system": f"{MARKER} model_parameters"}),
        status_message=f"{MARKER} status_message",
        level="ERROR",
    )  # fmt: skip


def _planted_trace() -> dict:
    [trace] = _records(LANGFUSE / "traces_legacy.jsonl")
    return {**trace, "input": f"{MARKER} trace input", "output": f"{MARKER} trace output",
            "metadata": {"fleet.intent": "howto", "note": f"{MARKER} trace metadata"}}  # fmt: skip


def _planted_native_span() -> dict:
    [root] = _records(NATIVE / "spans.jsonl")[:1]
    return {**root, "attributes": {
        "fleet.intent": "invoice",
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": f"{MARKER} in"}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": f"{MARKER}"}]),
        "llm.input_messages.0.message.content": f"{MARKER} openinference",
        "gen_ai.system_instructions": f"{MARKER} system"}}  # fmt: skip


def _ingest_planted(settings) -> list[dict]:
    files = {
        "observations.jsonl": _jsonl([_planted_observation()]),
        "traces.jsonl": _jsonl([_planted_trace()]),
        "spans.jsonl": _jsonl([_planted_native_span()]),
    }
    for name, text in files.items():
        assert _counts(ingest_file(_write(settings, name, text), settings))[2:] == (1, 0)
    return _rows(settings, SPANS)


def test_content_is_never_stored_without_keep_content(settings):
    spans = {r["source_format"]: dict(r["attributes"]) for r in _ingest_planted(settings)}
    assert MARKER not in json.dumps(spans)
    observation = spans["langfuse_observations"]
    assert {k: v for k, v in observation.items() if not k.startswith("langfuse.")} == {
        "ls_provider": "openai",
        "gen_ai.agent.name": "refund-agent",
        "fleet.intent": "refund",
    }
    for field in ("input", "output", "metadata", "model_parameters", "status_message"):
        assert f"langfuse.{field}" not in observation
        assert len(observation[f"langfuse.{field}.sha256"]) == 64
    assert observation["langfuse.status_message.chars"] == str(len(f"{MARKER} status_message"))
    trace = spans["langfuse_traces"]
    assert trace["fleet.intent"] == "howto" and "note" not in trace
    assert {"langfuse.metadata.chars", "langfuse.input.chars"} <= trace.keys()
    native = spans["native_spans"]
    assert sorted(native) == [
        "fleet.intent",
        "gen_ai.input.messages.chars",
        "gen_ai.input.messages.sha256",
        "gen_ai.output.messages.chars",
        "gen_ai.output.messages.sha256",
        "gen_ai.system_instructions.chars",
        "gen_ai.system_instructions.sha256",
        "llm.input_messages.0.message.content.chars",
        "llm.input_messages.0.message.content.sha256",
    ]
    for path in settings.lake_dir.rglob("*.parquet"):
        if "quarantine" not in path.parts:  # the quarantine's raw copy: see ingest_file
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
            assert MARKER not in text, path


def test_content_is_kept_with_keep_content(settings):
    settings = replace(settings, keep_content=True)
    spans = {r["source_format"]: dict(r["attributes"]) for r in _ingest_planted(settings)}
    observation = spans["langfuse_observations"]
    assert observation["customer_note"] == f"{MARKER} metadata"
    assert observation["langfuse.status_message"] == f"{MARKER} status_message"
    assert observation["langfuse.model_parameters"] == json.dumps(
        {"system": f"{MARKER} model_parameters"}
    )
    assert spans["langfuse_traces"]["note"] == f"{MARKER} trace metadata"
    assert spans["native_spans"]["llm.input_messages.0.message.content"] == (
        f"{MARKER} openinference"
    )


def test_money_in_pages_keeps_every_digit(settings):
    """Unchanged by the hardening: a cost's amount still reads exactly."""
    page = json.loads((BILLING / "openai_costs_example.json").read_text())
    page["data"][0]["results"][0]["amount"]["value"] = "@amount"
    path = _write(settings, "costs.json", _jsonl([page], {"amount": "0.1234567891"}))
    assert _counts(ingest_file(path, settings)) == ("ingested", 1, 1, 0)
    [row] = _rows(settings, BILLING_COSTS)
    assert row["billed_cost"] == Decimal("0.1234567891")
