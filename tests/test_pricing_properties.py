"""For random usages and dates, the SQL price join equals genai-prices' `calc_price`;
config/prices.yaml overrides change exactly what they say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.pricing import PricesError, price_overrides, resolve_model
from tests.costing import CALL_COLUMNS, cost_calls, costing_connection

# Models with the pricing features that matter: cache read/write, long-context tiers,
# a price change by date, reasoning output.
MODELS = [
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1-mini-2025-04-14"),
    ("openai", "o4-mini-2025-04-16"),
    ("azure.ai.openai", "gpt-4o"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-sonnet-4-6"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("gcp.gemini", "gemini-2.5-pro"),
]
FIRST_DAY = datetime(2025, 6, 1)


@st.composite
def calls(draw):
    provider, model = draw(st.sampled_from(MODELS))
    input_tokens = draw(st.integers(0, 400_000))
    cache_read = draw(st.integers(0, input_tokens))
    cache_write = draw(st.integers(0, input_tokens - cache_read))
    started = FIRST_DAY + timedelta(minutes=draw(st.integers(0, 540 * 24 * 60)))
    return (provider, model, started, input_tokens, cache_read, cache_write,
            draw(st.integers(0, 60_000)))  # fmt: skip


def _sql_costs(rows, overrides=None, tiers=None) -> list[float | None]:
    tiers = tiers or [None] * len(rows)
    table = pa.table(
        {
            "span_id": [f"{i:016x}" for i in range(len(rows))],
            "agent_name": ["a"] * len(rows),
            "provider": [r[0] for r in rows],
            "model": [r[1] for r in rows],
            "service_tier": tiers,
            "started_at": pa.array(
                [r[2].replace(tzinfo=UTC) for r in rows], pa.timestamp("us", tz="UTC")
            ),
            "input_tokens": [r[3] for r in rows],
            "cache_read_tokens": [r[4] for r in rows],
            "cache_write_tokens": [r[5] for r in rows],
            "output_tokens": [r[6] for r in rows],
        }
    ).select(list(CALL_COLUMNS))
    con = costing_connection(overrides)
    con.register("calls", table)
    cost_calls(con, "select * from calls")
    costs = dict(con.execute("select span_id, cost_usd from costed").fetchall())
    con.close()
    return [costs[f"{i:016x}"] for i in range(len(rows))]


def _calc_price(provider, model, started, input_tokens, cache_read, cache_write, output):
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write, output_tokens=output)  # fmt: skip
    provider_id, _ = resolve_model(provider, model)
    at = started.replace(tzinfo=UTC)
    price = calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=at)
    return float(price.total_price)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(calls(), min_size=1, max_size=40))
def test_sql_cost_equals_calc_price_to_the_cent(rows):
    for row, cost in zip(rows, _sql_costs(rows), strict=True):
        expected = _calc_price(*row)
        assert round(cost, 2) == round(expected, 2), row
        assert cost == pytest.approx(expected, rel=1e-9, abs=1e-12), row


def _overrides(tmp_path, text: str) -> pa.Table:
    (tmp_path / "prices.yaml").write_text(text)
    return price_overrides(tmp_path)


CALL = ("openai", "gpt-4o-mini-2024-07-18", datetime(2026, 10, 1, 9), 1_000_000, 0, 0, 100_000)
# list price: 1M input × $0.15 + 100k output × $0.60 per million = $0.21


def test_overrides_replace_prices_scale_by_tier_and_price_unknown_models(tmp_path):
    overrides = _overrides(tmp_path, """
overrides:
  - {provider: openai, service_tier: batch, multiplier: 0.5}
  - {provider: openai, model: gpt-4o-mini, valid_from: 2026-10-01, input_usd_per_mtok: 0.10}
  - {provider: openai, model: gpt-4o-mini, valid_from: 2026-10-02, multiplier: 0.9}
  - {provider: acme, model: acme-llm-1, input_usd_per_mtok: 1.0, output_usd_per_mtok: 2.0}
""")  # fmt: skip
    day_before = (*CALL[:2], datetime(2026, 9, 30, 9), *CALL[3:])
    next_day = (*CALL[:2], datetime(2026, 10, 2, 9), *CALL[3:])
    unknown = ("acme", "acme-llm-1", datetime(2026, 10, 1), 1_000_000, 0, 0, 1_000_000)
    rows = [day_before, CALL, CALL, next_day, unknown]
    costs = _sql_costs(rows, overrides, [None, None, "batch", "batch", None])
    assert costs == pytest.approx([
        0.21,               # before the negotiated rate: list price
        0.16,               # 1M × $0.10 + 100k × $0.60
        0.08,               # the same, batch: × 0.5
        0.16 * 0.9,         # the model's own multiplier beats the provider-wide batch one
        3.0,                # unknown to genai-prices, priced by the override
    ], abs=1e-12)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("overrides:\n  - {model: x, multiplier: 0.5}", "overrides[0]: `provider` is required"),
        ("overrides:\n  - {provider: openai}", "overrides[0]: give at least one price"),
        ("overrides:\n  - {provider: o, multiplier: -1}", "`multiplier` must be a number ≥ 0"),
        ("overrides:\n  - {provider: o, valid_from: soon, multiplier: 1}", "must be a date"),
        ("overrides:\n  - {provider: o, input_price: 1}", "unknown field(s) input_price"),
    ],
)
def test_bad_overrides_name_the_entry_and_field(tmp_path, text, message):
    with pytest.raises(PricesError) as error:
        _overrides(tmp_path, text)
    assert message in str(error.value)
    assert str(tmp_path / "prices.yaml") in str(error.value)


def test_the_shipped_prices_file_is_valid():
    from pathlib import Path

    config = Path(__file__).resolve().parent.parent / "config"
    assert price_overrides(config).num_rows == 0  # examples only, all commented out
