-- int_drift_values_daily: one row per agent × numeric drift metric × UTC day × value: how many production cases had that value (the daily histograms drift compares windows by).
-- Values are kept at the metric's resolution (scores to 0.001, cost to a micro-dollar;
-- tokens and milliseconds are whole already), so a day's histogram stays small. A rollup
-- so that drift reads a window's days from here, and a build of one new day counts that
-- day only; pipelines/drift/facts.py runs this same text over the facts of a warehouse
-- without it. NULL values (an unscored or unpriced case) are left out.
-- materialized: rollup
-- partition: day
-- grain: day, agent_name, metric, value
-- columns:
--   day: UTC day of the cases
--   agent_name: agent
--   metric: quality (the case's quality score), latency_ms (case latency: first span start to last span end), cost_per_case_usd (the case's LLM cost), input_tokens or output_tokens (of the case's LLM calls)
--   value: the metric's value, at its resolution
--   n: production cases of the agent that day with that value
with cases as (
    select
        agent_name,
        day,
        round(quality_score, 3) as quality,
        cast(duration_ms as double) as latency_ms,
        round(cost_usd, 6) as cost_per_case_usd,
        cast(input_tokens as double) as input_tokens,
        cast(output_tokens as double) as output_tokens
    from fct_cases
    where agent_name is not null
)

select agent_name, day, metric, value, count(*) as n
from (
    unpivot cases
    on quality, latency_ms, cost_per_case_usd, input_tokens, output_tokens
    into name metric value value
)
group by all
