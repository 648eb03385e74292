-- Numeric drift metrics: per agent, metric, day and value, how many cases had that value.
-- Values are compared at the metric's resolution (scores to 0.001, cost to a micro-dollar;
-- tokens and milliseconds are whole already), so a day's histogram stays small.
--   quality            the case's quality score (the agent's registry metric); scored cases only
--   latency_ms         case latency: first span start to last span end
--   cost_per_case_usd  the case's LLM cost (priced cases only)
--   input_tokens       input tokens of the case's LLM calls
--   output_tokens      output tokens of the case's LLM calls
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
    where day >= $since and agent_name is not null
)

select agent_name, day, metric, value, count(*) as n
from (
    unpivot cases
    on quality, latency_ms, cost_per_case_usd, input_tokens, output_tokens
    into name metric value value
)
group by all
