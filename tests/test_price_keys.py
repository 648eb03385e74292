"""The price join decided per key, segment and band (`int_llm_call_keys`) costs every call
exactly as the plain per-call join does, to the last bit."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import pricing
from pipelines.db import sql_string
from tests.costing import cost_calls, costing_connection

ROOT = Path(__file__).resolve().parent.parent

# The cost of each call written the plainest way, per call: its price model, the list-price
# row valid at its start in its input-token tier, the overrides of its UTC day (the most
# specific wins). A call with no start or no model is not costed at all.
PER_CALL = """
with calls as (
    select *, cast(started_at as date) as call_day, coalesce(input_tokens, 0) as tokens_in
    from int_spans__attributed
    where is_llm_call and started_at is not null and model is not null
),
resolved as (
    select calls.*, r.price_provider_id, r.price_model_id
    from calls left join model_resolution as r
        on r.provider is not distinct from calls.provider and r.model = calls.model
),
listed as (
    select resolved.*, p.input_usd_per_mtok, p.output_usd_per_mtok,
        p.cache_read_usd_per_mtok, p.cache_write_usd_per_mtok
    from resolved left join model_prices as p
        on p.price_provider_id = resolved.price_provider_id
        and p.price_model_id = resolved.price_model_id
        and (p.valid_from is null or resolved.started_at >= p.valid_from)
        and (p.valid_to is null or resolved.started_at < p.valid_to)
        and resolved.tokens_in > p.tier_input_tokens_over
        and (p.tier_input_tokens_upto is null or resolved.tokens_in <= p.tier_input_tokens_upto)
),
chosen as (
    select listed.span_id,
        arg_max({entry: o.entry, input: o.input_usd_per_mtok, output: o.output_usd_per_mtok,
                 cache_read: o.cache_read_usd_per_mtok, cache_write: o.cache_write_usd_per_mtok},
                o.precedence)
            filter (where coalesce(o.input_usd_per_mtok, o.output_usd_per_mtok,
                o.cache_read_usd_per_mtok, o.cache_write_usd_per_mtok) is not null) as po,
        arg_max({entry: o.entry, multiplier: o.multiplier}, o.precedence)
            filter (where o.multiplier is not null) as mo
    from listed join price_overrides as o
        on o.provider in (listed.provider, listed.price_provider_id)
        and (o.model is null or o.model in (listed.model, listed.price_model_id))
        and (o.service_tier is null or o.service_tier is not distinct from listed.service_tier)
        and (o.valid_from is null or listed.call_day >= o.valid_from)
        and (o.valid_to is null or listed.call_day < o.valid_to)
    group by listed.span_id
),
effective as (
    select listed.*,
        coalesce(po.input, input_usd_per_mtok) as input_price,
        coalesce(po.output, output_usd_per_mtok) as output_price,
        coalesce(po.cache_read, cache_read_usd_per_mtok) as cache_read_price,
        coalesce(po.cache_write, cache_write_usd_per_mtok) as cache_write_price,
        coalesce(mo.multiplier, 1.0) as cost_multiplier,
        nullif(concat_ws(' × ', po.entry, mo.entry), '') as price_overrides_applied
    from listed left join chosen using (span_id)
)
select span_id, price_provider_id, price_model_id, cost_multiplier,
    coalesce(input_price, output_price) is not null as is_priced,
    case when is_priced then (
        (coalesce(input_tokens, 0)
            - if(cache_read_price is null, 0, coalesce(cache_read_tokens, 0))
            - if(cache_write_price is null, 0, coalesce(cache_write_tokens, 0))
        ) * coalesce(input_price, 0)
        + coalesce(cache_read_tokens, 0) * coalesce(cache_read_price, 0)
        + coalesce(cache_write_tokens, 0) * coalesce(cache_write_price, 0)
        + coalesce(output_tokens, 0) * coalesce(output_price, 0)
    ) * cost_multiplier / 1e6 end as cost_usd,
    price_overrides_applied
from effective
"""
COMPARED = ("span_id, price_provider_id, price_model_id, cost_multiplier, is_priced, "
            "cost_usd, price_overrides_applied")  # fmt: skip

OVERRIDES = """
overrides:
  - {provider: openai, service_tier: batch, multiplier: 0.5}
  - {provider: openai, model: gpt-4o-mini, valid_from: 2025-10-01, input_usd_per_mtok: 0.10}
  - {provider: openai, model: gpt-4o-mini, valid_from: 2025-10-02, multiplier: 0.9}
  - {provider: acme, model: acme-llm-1, input_usd_per_mtok: 1.0, output_usd_per_mtok: 2.0}
  - {provider: anthropic, valid_from: 2025-07-01, valid_to: 2025-08-15,
     cache_read_usd_per_mtok: 0.01}
  - {provider: google, model: gemini-2.5-pro, service_tier: flex, valid_to: 2026-01-01,
     multiplier: 0.7}
  - {provider: gcp.gemini, output_usd_per_mtok: 3.5}
  - {provider: anthropic, model: claude-sonnet-4-6, valid_from: 2026-03-13,
     cache_write_usd_per_mtok: 9.0}
"""
MODELS = [
    ("openai", "gpt-4o-mini-2024-07-18"), ("openai", "gpt-4o-mini"), ("openai", "o4-mini"),
    ("azure.ai.openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-sonnet-4-6"), ("anthropic", "claude-3-5-haiku-20241022"),
    ("gcp.gemini", "gemini-2.5-pro"), ("acme", "acme-llm-1"), (None, "gpt-4o"),
]  # fmt: skip
# token counts on and around the tier edges (200k: Sonnet 4.5, Gemini 2.5 Pro), below 0
TOKEN_EDGES = [-5, -1, 0, 1, 199_999, 200_000, 200_001, 10**13, None]
# instants on and around the override and price-window edges, and the infinities
INSTANTS = [
    "2025-06-30 23:59:59.999999", "2025-07-01", "2025-08-14 23:59:59.999999", "2025-08-15",
    "2025-10-01", "2025-10-02", "2025-12-31 23:59:59.999999", "2026-01-01",
    "2026-03-12 23:59:59.999999", "2026-03-13", "infinity", "-infinity",
]  # fmt: skip


def _literal(value) -> str:
    """A Python value as a SQL literal (NULL, a quoted string, a number)."""
    return "null" if value is None else sql_string(value) if isinstance(value, str) else str(value)


def _edge_calls(n: int, seed: int) -> str:
    """SQL selecting `n` calls (tests.costing.CALL_COLUMNS) drawn around every edge."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        started = (
            f"timestamptz '2025-06-01' + to_microseconds({rng.randrange(600 * 86_400_000_000)})"
            if rng.random() < 0.5
            else f"timestamptz {sql_string(rng.choice(INSTANTS))}"
        )
        tokens = [
            rng.choice(TOKEN_EDGES) if rng.random() < 0.5 else rng.randrange(400_000),
            None if rng.random() < 0.1 else rng.randrange(-2, 50_000),
            None if rng.random() < 0.1 else rng.randrange(20_000),
            None if rng.random() < 0.1 else rng.randrange(60_000),
        ]
        tier = rng.choice([None, None, "batch", "flex"])
        values = [
            i,
            _literal(provider),
            _literal(model),
            _literal(tier),
            started,
            *map(_literal, tokens),
        ]
        rows.append(f"({', '.join(map(str, values))})")
    return f"""
        select lpad(to_hex(i), 16, '0') as span_id, 'a' as agent_name, provider, model,
            service_tier, started_at, input_tokens::bigint as input_tokens,
            cache_read_tokens::bigint as cache_read_tokens,
            cache_write_tokens::bigint as cache_write_tokens, output_tokens::bigint as output_tokens
        from (values {", ".join(rows)}) as t(i, provider, model, service_tier, started_at,
            input_tokens, cache_read_tokens, cache_write_tokens, output_tokens)"""


def _overrides(tmp_path, text: str) -> pa.Table:
    (tmp_path / "prices.yaml").write_text(text)
    return pricing.price_overrides(tmp_path)


@pytest.mark.parametrize("with_overrides", [False, True])
def test_every_call_costs_what_the_per_call_join_gives_to_the_last_bit(tmp_path, with_overrides):
    con = costing_connection(_overrides(tmp_path, OVERRIDES) if with_overrides else None)
    cost_calls(con, _edge_calls(2_000, seed=21))
    costed = "costed where started_at is not null and model is not null"
    ours = f"select {COMPARED}, cost_usd::varchar from {costed}"
    plain = f"select {COMPARED}, cost_usd::varchar from ({PER_CALL})"
    differing = con.execute(
        f"select count(*) from (({ours} except all {plain}) union all ({plain} except all {ours}))"
    ).fetchall()
    counts = con.execute(
        "select count(*), count(*) filter (where is_priced), count(price_overrides_applied) "
        f"from {costed}"
    ).fetchall()
    con.close()
    assert differing == [(0,)]
    n, priced, overridden = counts[0]
    assert n > 1_500 and 0 < priced < n  # both kinds were compared
    assert (overridden > 100) == with_overrides


def test_a_call_without_start_is_unpriced_even_where_an_override_applies(tmp_path):
    con = costing_connection(_overrides(tmp_path, OVERRIDES))
    cost_calls(con, """
        select * from (values
            ('a', 'x', 'openai', 'gpt-4o-mini', 'batch', null::timestamptz, 1000, 0, 0, 10),
            ('b', 'x', 'openai', 'gpt-4o-mini', 'batch', timestamptz '2025-09-01', 1000, 0, 0, 10)
        ) as t(span_id, agent_name, provider, model, service_tier, started_at,
               input_tokens, cache_read_tokens, cache_write_tokens, output_tokens)""")  # fmt: skip
    rows = con.execute(
        "select span_id, price_model_id, cost_multiplier, is_priced, cost_usd, "
        "price_overrides_applied from costed order by span_id"
    ).fetchall()
    con.close()
    # 1000 × $0.15 + 10 × $0.60 per M, batch: × 0.5 (overrides[0])
    assert rows == [
        ("a", None, 1.0, False, None, None),
        ("b", "gpt-4o-mini", 0.5, True, pytest.approx(7.8e-5, abs=1e-15), "overrides[0]"),
    ]


def test_a_tiered_model_with_a_dated_override_has_two_segments_of_three_bands(tmp_path):
    overrides = _overrides(tmp_path, """
overrides:
  - {provider: anthropic, model: claude-sonnet-4-5, valid_from: 2026-10-01, multiplier: 0.5}
""")  # fmt: skip
    con = costing_connection(overrides)
    cost_calls(
        con,
        """
        select '01' as span_id, 'a' as agent_name, 'anthropic' as provider,
            'claude-sonnet-4-5-20250929' as model, null as service_tier,
            timestamptz '2026-10-01 09:00' as started_at, 250000 as input_tokens,
            0 as cache_read_tokens, 0 as cache_write_tokens, 1000 as output_tokens""",
    )
    keys = con.execute(
        "select starts_at::varchar, ends_at::varchar, input_tokens_from, input_tokens_to, "
        "is_priced, input_rate_usd_per_mtok, output_rate_usd_per_mtok, cache_read_apart, "
        "priced_multiplier, price_overrides_applied from int_llm_call_keys "
        "order by starts_at, input_tokens_from"
    ).fetchall()
    (cost,) = con.execute("select cost_usd from costed").fetchall()[0]
    con.close()
    least, greatest = -(2**63), 2**63 - 1
    before = ("-infinity", "2026-09-30 23:59:59.999999+00")
    after = ("2026-10-01 00:00:00+00", "infinity")
    # Sonnet 4.5: $3 / $15 per M up to 200k input tokens, $6 / $22.50 above; below 0
    # input tokens no list price; from 2026-10-01 the override halves every cost
    assert [row[2:] for row in keys] == [
        (least, -1, False, 0.0, 0.0, 0, None, None),
        (0, 200_000, True, 3.0, 15.0, 1, 1.0, None),
        (200_001, greatest, True, 6.0, 22.5, 1, 1.0, None),
        (least, -1, False, 0.0, 0.0, 0, None, "overrides[0]"),
        (0, 200_000, True, 3.0, 15.0, 1, 0.5, "overrides[0]"),
        (200_001, greatest, True, 6.0, 22.5, 1, 0.5, "overrides[0]"),
    ]
    assert [row[:2] for row in keys[::3]] == [before, after]
    # 250k × $6 + 1k × $22.50 per M = $1.5225, halved
    assert cost == pytest.approx(0.76125, abs=1e-12)


def test_an_override_given_a_date_and_time_applies_from_its_day(tmp_path):
    overrides = _overrides(tmp_path, """
overrides:
  - {provider: openai, valid_from: 2026-10-01 10:00:00, multiplier: 0.5}
""")  # fmt: skip
    assert overrides.column("valid_from").to_pylist() == [date(2026, 10, 1)]


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_an_override_that_is_not_a_finite_number_is_refused(tmp_path, value):
    with pytest.raises(pricing.PricesError, match="`multiplier` must be a finite number, got"):
        _overrides(tmp_path, f"overrides:\n  - {{provider: openai, multiplier: {value}}}\n")
