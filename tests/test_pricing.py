"""The SQL price join gives genai-prices' own `calc_price`, call by call."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from genai_prices import Usage, calc_price

from pipelines import warehouse
from pipelines.ingest import ingest_file
from pipelines.pricing import resolve_model
from tests.otlp_builder import line, span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
# (span id, started, provider, response model, input, cache read, cache write, output)
CALLS = [
    (
        "00f067aa0ba90201",
        datetime(2026, 10, 1, 9),
        "openai",
        "gpt-4o-mini-2024-07-18",
        12_000,
        4_000,
        0,
        800,
    ),
    (
        "00f067aa0ba90202",
        datetime(2026, 10, 1, 9),
        "anthropic",
        "claude-sonnet-4-5-20250929",
        50_000,
        20_000,
        10_000,
        1_500,
    ),
    # above 200k input tokens: Sonnet 4.5's long-context tier prices every token
    (
        "00f067aa0ba90203",
        datetime(2026, 10, 1, 9),
        "anthropic",
        "claude-sonnet-4-5-20250929",
        250_000,
        100_000,
        0,
        2_000,
    ),
    # Sonnet 4.6 dropped its long-context tier on 2026-03-13: same usage, two prices
    (
        "00f067aa0ba90204",
        datetime(2026, 3, 1, 9),
        "anthropic",
        "claude-sonnet-4-6",
        250_000,
        0,
        0,
        1_000,
    ),
    (
        "00f067aa0ba90205",
        datetime(2026, 4, 1, 9),
        "anthropic",
        "claude-sonnet-4-6",
        250_000,
        0,
        0,
        1_000,
    ),
    ("00f067aa0ba90206", datetime(2026, 10, 1, 9), "azure.ai.openai", "gpt-4o", 1_000, 0, 0, 100),
    (
        "00f067aa0ba90207",
        datetime(2026, 10, 1, 9),
        "openai",
        "o4-mini-2025-04-16",
        3_000,
        0,
        0,
        900,
    ),
]


def _llm_span(span_id, started, provider, model, input_tokens, cache_read, cache_write, output):
    return span(
        TRACE, span_id, started, 1200, parent="00f067aa0ba90200",
        gen_ai__operation__name="chat", gen_ai__provider__name=provider,
        gen_ai__response__model=model, gen_ai__usage__input_tokens=input_tokens,
        gen_ai__usage__cache_read__input_tokens=cache_read,
        gen_ai__usage__cache_creation__input_tokens=cache_write,
        gen_ai__usage__output_tokens=output,
    )  # fmt: skip


def _expected(started, provider, model, input_tokens, cache_read, cache_write, output) -> float:
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write, output_tokens=output)  # fmt: skip
    provider_id, _ = resolve_model(provider, model)
    at = started.replace(tzinfo=UTC)
    return float(
        calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=at).total_price
    )


@pytest.fixture
def costed(settings):
    spans = [_llm_span(*call) for call in CALLS]
    spans.append(_llm_span("00f067aa0ba90208", datetime(2026, 10, 1, 9), "acme", "acme-llm-1",
                           500, 0, 0, 50))  # fmt: skip
    path = settings.raw_dir / "calls.jsonl"
    path.write_text(line(*spans) + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select span_id, cost_source <> 'unpriced', cost_usd from fct_llm_calls"
        ).fetchall()
    return {span_id: (is_priced, cost) for span_id, is_priced, cost in rows}


@pytest.mark.parametrize("call", CALLS, ids=[f"{c[3]}@{c[1]:%Y-%m-%d}" for c in CALLS])
def test_sql_cost_equals_calc_price(costed, call):
    span_id, *usage = call
    is_priced, cost = costed[span_id]
    assert is_priced
    assert cost == pytest.approx(_expected(*usage), rel=1e-12, abs=1e-15)


def test_hand_checked_costs(costed):
    # gpt-4o-mini: 8,000 uncached × $0.15 + 4,000 cached × $0.075 + 800 out × $0.60 per M
    assert costed["00f067aa0ba90201"][1] == pytest.approx(0.00198, abs=1e-15)
    # Sonnet 4.5 > 200k: 150,000 × $6 + 100,000 × $0.60 + 2,000 × $22.50 per M
    assert costed["00f067aa0ba90203"][1] == pytest.approx(1.005, abs=1e-12)
    # Sonnet 4.6 before / after 2026-03-13: $6 & $22.50 vs $3 & $15 per M
    assert costed["00f067aa0ba90204"][1] == pytest.approx(1.5225, abs=1e-12)
    assert costed["00f067aa0ba90205"][1] == pytest.approx(0.765, abs=1e-12)


def test_unknown_model_is_unpriced_not_zero(costed):
    assert costed["00f067aa0ba90208"] == (False, None)
