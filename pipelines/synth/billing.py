"""Bills for the demo fleet, in each provider's own export format.

Billed amounts are priced independently of the pipeline (genai-prices' `calc_price`
per token type, per model and day), from ALL traffic, including the share of the
untraced agent's calls that never reached the traces.
"""

from __future__ import annotations

import csv
import json
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
from genai_prices import Usage, calc_price

from pipelines.db import connect
from pipelines.pricing import PROVIDER_ALIASES
from pipelines.schemas import TOKEN_TYPES
from pipelines.synth.otlp_writer import CHILD_STARTS_SQL
from pipelines.synth.simulate import DAY_NS, Calendar, Simulation

PAGE_DAYS = 7
ANTHROPIC_TOKEN_TYPES = {
    "input": "uncached_input_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_write": "cache_creation.ephemeral_5m_input_tokens",
    "output": "output_tokens",
}
FOCUS_1_0_COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]

USAGE_SQL = f"""
with {CHILD_STARTS_SQL}
select cast((child_starts.start_ns - $epoch_ns) // {DAY_NS} as integer) as day_idx,
    agents.provider, agents.account, agents.api_key, agents.agent_name,
    calls.response_model as model,
    count(*) * any_value(agents.billed_per_traced) as n_requests,
    sum(calls.input_tokens - calls.cache_read_tokens - calls.cache_write_tokens)
        * any_value(agents.billed_per_traced) as input,
    sum(calls.cache_read_tokens) * any_value(agents.billed_per_traced) as cache_read,
    sum(calls.cache_write_tokens) * any_value(agents.billed_per_traced) as cache_write,
    sum(calls.output_tokens) * any_value(agents.billed_per_traced) as output
from sim_calls as calls
join child_starts using (case_no, span_id)
join sim_cases as cases using (case_no)
join sim_agents as agents using (agent_idx)
group by all
order by all
"""


@cache
def usd_per_token(provider: str, model: str, day: str, token_type: str) -> Decimal:
    """List price of one token of a type, from genai-prices (1k tokens: below any tier)."""
    usage = {
        "input": Usage(input_tokens=1000),
        "cache_read": Usage(input_tokens=1000, cache_read_tokens=1000),
        "cache_write": Usage(input_tokens=1000, cache_write_tokens=1000),
        "output": Usage(output_tokens=1000),
    }[token_type]
    at = datetime.fromisoformat(day).replace(tzinfo=UTC)
    price = calc_price(
        usage,
        model,
        provider_id=PROVIDER_ALIASES.get(provider, provider),
        genai_request_timestamp=at,
    )
    return price.total_price / 1000


def agent_daily_costs(
    sim: Simulation, calendar: Calendar, n_agents: int, only_agent: int | None = None
) -> np.ndarray:
    """(agents × days) list-price cost of the traced LLM calls, by the day their case
    started: what agent_daily.cost_usd (and so the budget forecast) will compute.
    `only_agent`: price that agent's calls only (the other rows stay 0)."""
    cases, calls = sim.cases, sim.calls
    if only_agent is not None:
        mine = cases["agent_idx"].to_numpy() == only_agent
        calls = calls.filter(mine[calls["case_no"].to_numpy()])
    case_no = calls["case_no"].to_numpy()  # case_no is the row number of sim.cases
    day = cases["day_idx"].to_numpy()[case_no]
    agent = cases["agent_idx"].to_numpy()[case_no]
    route = np.char.add(
        np.char.add(calls["provider"].to_numpy().astype(str), "|"),
        calls["response_model"].to_numpy().astype(str),
    )
    routes, route_no = np.unique(route, return_inverse=True)
    prices = np.array(  # routes × days × token types: one look-up per model and day
        [
            [
                [
                    float(usd_per_token(*r.split("|"), calendar.day(d).isoformat(), t))
                    for t in TOKEN_TYPES
                ]
                for d in range(calendar.days)
            ]
            for r in routes
        ]
    ).reshape(len(routes), calendar.days, len(TOKEN_TYPES))
    cache_read = calls["cache_read_tokens"].to_numpy()
    cache_write = calls["cache_write_tokens"].to_numpy()
    tokens = {
        "input": calls["input_tokens"].to_numpy() - cache_read - cache_write,
        "output": calls["output_tokens"].to_numpy(),
        "cache_read": cache_read,
        "cache_write": cache_write,
    }
    unit = prices[route_no, day]
    cost = sum(tokens[t] * unit[:, i] for i, t in enumerate(TOKEN_TYPES))
    flat = np.bincount(agent * calendar.days + day, cost, minlength=n_agents * calendar.days)
    return flat.reshape(n_agents, calendar.days)


def projected_months(
    daily_cost: np.ndarray, calendar: Calendar, first_day: np.ndarray | int = 0
) -> np.ndarray:
    """The budget forecast of each day, as budget_forecast_daily computes it: month-to-date
    cost × (weekdays + w × weekend days of the month) ÷ (the same over the days elapsed),
    where w, a weekend day's spend as a share of a weekday's, is the mean weekend-day cost
    ÷ the mean weekday cost over the 28 days ending on the day (1 under 7 days of history).
    `daily_cost`: (agents × days); `first_day`: each agent's first day with a case (days
    before it are no days of the agent's, as agent_daily has no row for them)."""
    cost = np.atleast_2d(daily_cost).astype(float)
    days = [calendar.day(d) for d in range(calendar.days)]
    index = np.arange(calendar.days)
    first = np.broadcast_to(np.asarray(first_day), (cost.shape[0],))[:, None]
    live = index[None, :] >= first  # (agents × days)
    weekend = np.array([d.weekday() >= 5 for d in days])

    def trailing(values: np.ndarray) -> np.ndarray:  # Σ over the 28 days ending on each day
        total = np.cumsum(values, axis=1)
        earlier = np.concatenate([np.zeros((values.shape[0], 28)), total[:, :-28]], axis=1)
        return total - earlier[:, : values.shape[1]]

    n_rows = trailing(live.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        weekend_mean = trailing(cost * live * weekend) / trailing(live * weekend)
        weekday_mean = trailing(cost * live * ~weekend) / trailing(live * ~weekend)
        ratio = weekend_mean / np.where(weekday_mean == 0, np.nan, weekday_mean)
    weight = np.where((n_rows >= 7) & np.isfinite(ratio), ratio, 1.0)

    month = np.array([d.year * 12 + d.month for d in days])
    month_first = np.searchsorted(month, month)  # the month's first day in the calendar
    total = np.cumsum(cost * live, axis=1)
    before = np.where(month_first > 0, total[:, np.maximum(month_first - 1, 0)], 0.0)
    mtd = total - before
    elapsed = np.array([d.day for d in days])
    weekend_elapsed = np.array([_weekend_days(d.replace(day=1), d) for d in days])
    in_month = np.array([monthrange(d.year, d.month)[1] for d in days])
    weekend_in_month = np.array(
        [
            _weekend_days(d.replace(day=1), d.replace(day=monthrange(d.year, d.month)[1]))
            for d in days
        ]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = (
            mtd
            * (in_month - weekend_in_month + weight * weekend_in_month)
            / (elapsed - weekend_elapsed + weight * weekend_elapsed)
        )
    projected = np.where(mtd == 0, 0.0, projected)
    return projected.reshape(np.shape(daily_cost))


def _weekend_days(first: date, last: date) -> int:
    """Saturdays and Sundays from first to last, both included."""
    return sum((first + timedelta(days=i)).weekday() >= 5 for i in range((last - first).days + 1))


def first_budget_alerts(
    projected: np.ndarray, budget: float, calendar: Calendar, alert_at: float, min_days: int
) -> list[int]:
    """Days (indices) the forecast alerts: the first day of each month its projection
    exceeds alert_at × budget, from min_days days into the month."""
    alerts, alerted = [], set()
    for index in np.flatnonzero(projected > alert_at * budget):
        day = calendar.day(int(index))
        if day.day >= min_days and (day.year, day.month) not in alerted:
            alerted.add((day.year, day.month))
            alerts.append(int(index))
    return alerts


def daily_usage(sim: Simulation, agents_table, calendar: Calendar) -> list[dict]:
    """Billed tokens and cost per day × provider × account × key × model × token type."""
    con = connect()
    for name, table in (
        ("sim_cases", sim.cases),
        ("sim_calls", sim.calls),
        ("sim_tools", sim.tools),
        ("sim_agents", agents_table),
    ):
        con.register(name, table)
    rows = con.sql(USAGE_SQL, params={"epoch_ns": calendar.epoch_ns()}).pl().to_dicts()
    con.close()
    out = []
    for row in rows:
        day = calendar.day(row["day_idx"]).isoformat()
        row["day"] = day
        for token_type in TOKEN_TYPES:
            row[token_type] = round(row[token_type])
            unit = usd_per_token(row["provider"], row["model"], day, token_type)
            row[f"{token_type}_usd"] = unit * row[token_type]
        row["n_requests"] = round(row["n_requests"])
        out.append(row)
    return out


def _unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _rfc3339(day: str, plus_days: int = 0) -> str:
    moment = datetime.fromisoformat(day) + timedelta(days=plus_days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pages(days: list[str], results_by_day: dict, bucket, envelope) -> list[dict]:
    pages = []
    chunks = [days[i : i + PAGE_DAYS] for i in range(0, len(days), PAGE_DAYS)]
    for number, chunk in enumerate(chunks, start=1):
        data = [bucket(day, results_by_day.get(day, [])) for day in chunk]
        has_more = number < len(chunks)
        pages.append(envelope(data, has_more, f"page_{number + 1:04d}" if has_more else None))
    return pages


def openai_pages(usage: list[dict], days: list[str]) -> tuple[list[dict], list[dict]]:
    """(usage/completions pages, costs pages) grouped by project, key and model."""
    usage_by_day: dict[str, list] = {}
    costs_by_day: dict[str, list] = {}
    for row in (r for r in usage if r["provider"] == "openai"):
        cached = row["cache_read"]
        usage_by_day.setdefault(row["day"], []).append(
            {
                "object": "organization.usage.completions.result",
                "input_tokens": row["input"] + cached + row["cache_write"],
                "input_cached_tokens": cached,
                "input_cache_write_tokens": row["cache_write"],
                "input_uncached_tokens": row["input"] + row["cache_write"],
                "output_tokens": row["output"],
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": row["n_requests"],
                "project_id": row["account"],
                "user_id": None,
                "api_key_id": row["api_key"],
                "model": row["model"],
                "batch": False,
                "service_tier": "default",
            }
        )
        # OpenAI bills cache writes as input: one input line item holds both.
        lines = {
            "input": (row["input"] + row["cache_write"], row["input_usd"] + row["cache_write_usd"]),
            "cached input": (row["cache_read"], row["cache_read_usd"]),
            "output": (row["output"], row["output_usd"]),
        }
        for label, (quantity, amount) in lines.items():
            if quantity == 0:
                continue
            costs_by_day.setdefault(row["day"], []).append(
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(round(amount, 6)), "currency": "usd"},
                    "line_item": f"{row['model']}, {label}",
                    "project_id": row["account"],
                    "api_key_id": row["api_key"],
                    "quantity": quantity,
                    "quantity_unit": "tokens",
                }
            )

    def bucket(day, results):
        return {
            "object": "bucket",
            "start_time": _unix(day),
            "end_time": _unix(day) + 86_400,
            "results": results,
        }

    def envelope(data, has_more, next_page):
        return {"object": "page", "data": data, "has_more": has_more, "next_page": next_page}

    return (
        _pages(days, usage_by_day, bucket, envelope),
        _pages(days, costs_by_day, bucket, envelope),
    )


def anthropic_pages(usage: list[dict], days: list[str]) -> tuple[list[dict], list[dict]]:
    """(usage_report/messages pages, cost_report pages); cost amounts are cents strings."""
    usage_by_day: dict[str, list] = {}
    cost_by_day: dict[str, list] = {}
    for row in (r for r in usage if r["provider"] == "anthropic"):
        usage_by_day.setdefault(row["day"], []).append(
            {
                "uncached_input_tokens": row["input"],
                "cache_creation": {
                    "ephemeral_1h_input_tokens": 0,
                    "ephemeral_5m_input_tokens": row["cache_write"],
                },
                "cache_read_input_tokens": row["cache_read"],
                "output_tokens": row["output"],
                "server_tool_use": {"web_search_requests": 0},
                "api_key_id": row["api_key"],
                "workspace_id": row["account"],
                "model": row["model"],
                "service_tier": "standard",
                "context_window": "0-200k",
            }
        )
        for token_type, api_name in ANTHROPIC_TOKEN_TYPES.items():
            if row[token_type] == 0:
                continue
            cents = row[f"{token_type}_usd"] * 100
            cost_by_day.setdefault(row["day"], []).append(
                {
                    "currency": "USD",
                    "amount": f"{cents:.5f}",
                    "workspace_id": row["account"],
                    "description": f"{row['model']} Usage - {api_name}",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": row["model"],
                    "service_tier": "standard",
                    "token_type": api_name,
                }
            )

    def bucket(day, results):
        return {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day, 1), "results": results}

    def envelope(data, has_more, next_page):
        return {"data": data, "has_more": has_more, "next_page": next_page}

    return (
        _pages(days, usage_by_day, bucket, envelope),
        _pages(days, cost_by_day, bucket, envelope),
    )


def focus_rows(usage: list[dict]) -> list[dict]:
    """FOCUS 1.0 rows for Azure OpenAI: one per day × deployment × token meter."""
    rows = []
    for row in (r for r in usage if r["provider"] == "azure.ai.openai"):
        day = datetime.fromisoformat(row["day"])
        period_start = day.replace(day=1)
        period_end = (period_start + timedelta(days=32)).replace(day=1)
        deployment = f"{row['agent_name']}-{row['model']}"
        for token_type in TOKEN_TYPES:
            if row[token_type] == 0:
                continue
            cost = f"{row[f'{token_type}_usd']:.10f}"
            rows.append(
                {
                    **dict.fromkeys(FOCUS_1_0_COLUMNS),
                    "BilledCost": cost,
                    "BillingAccountId": "ba-7731",
                    "BillingAccountName": "Fleet Co",
                    "BillingCurrency": "USD",
                    "BillingPeriodStart": f"{period_start:%Y-%m-%d} 00:00:00",
                    "BillingPeriodEnd": f"{period_end:%Y-%m-%d} 00:00:00",
                    "ChargeCategory": "Usage",
                    "ChargeDescription": f"{row['model']} {token_type} tokens",
                    "ChargeFrequency": "Usage-Based",
                    "ChargePeriodStart": f"{day:%Y-%m-%d} 00:00:00",
                    "ChargePeriodEnd": f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00",
                    "ConsumedQuantity": str(row[token_type]),
                    "ConsumedUnit": "Tokens",
                    "ContractedCost": cost,
                    "EffectiveCost": cost,
                    "ListCost": cost,
                    "InvoiceIssuerName": "Microsoft",
                    "PricingCategory": "Standard",
                    "PricingQuantity": str(row[token_type]),
                    "PricingUnit": "Tokens",
                    "ProviderName": "Microsoft",
                    "PublisherName": "Microsoft",
                    "RegionId": "eastus2",
                    "RegionName": "East US 2",
                    "ResourceId": f"/subscriptions/{row['account']}/resourceGroups/fleet/providers/"
                    f"Microsoft.CognitiveServices/accounts/fleet-aoai/deployments/{deployment}",
                    "ResourceName": deployment,
                    "ResourceType": "Azure OpenAI deployment",
                    "ServiceCategory": "AI and Machine Learning",
                    "ServiceName": "Azure OpenAI",
                    "SkuId": f"aoai-{row['model']}-{token_type}",
                    "SubAccountId": row["account"],
                    "SubAccountName": "fleet-prod",
                    "Tags": json.dumps({"fleet-agent": row["agent_name"]}),
                }
            )
    return rows


def write_billing(sim: Simulation, agents_table, calendar: Calendar, out_dir: Path) -> dict:
    """Write every provider's export under out_dir; returns billed totals per provider."""
    usage = daily_usage(sim, agents_table, calendar)
    days = [calendar.day(i).isoformat() for i in range(calendar.days)]
    files = {}
    openai_usage, openai_costs = openai_pages(usage, days)
    anthropic_usage, anthropic_costs = anthropic_pages(usage, days)
    for folder, name, pages in (
        ("openai", "usage_completions", openai_usage),
        ("openai", "costs", openai_costs),
        ("anthropic", "usage_report_messages", anthropic_usage),
        ("anthropic", "cost_report", anthropic_costs),
    ):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(pages, start=1):
            path = out_dir / folder / f"{name}_page_{number:04d}.json"
            path.write_text(json.dumps(page, indent=1))
            files.setdefault(folder, []).append(path)
    (out_dir / "azure").mkdir(parents=True, exist_ok=True)
    focus_path = out_dir / "azure" / "focus_1.0_azure_openai.csv"
    with open(focus_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FOCUS_1_0_COLUMNS, quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        writer.writerows(focus_rows(usage))
    totals: dict[str, Decimal] = {}
    for row in usage:
        cost = sum(row[f"{t}_usd"] for t in TOKEN_TYPES)
        totals[row["provider"]] = totals.get(row["provider"], Decimal(0)) + cost
    return {provider: float(round(total, 6)) for provider, total in sorted(totals.items())}
