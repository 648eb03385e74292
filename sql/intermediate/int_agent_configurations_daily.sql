-- int_agent_configurations_daily: one row per agent × configuration (version, model,
-- variant) × UTC day: the production cases it served and its share of the agent's traffic.
-- A configuration is what a case ran: its agent version, the model most of its LLM calls
-- used, its `fleet.variant`. Shadow and eval traffic are not production (see fct_cases).
-- materialized: rollup
-- partition: day
-- grain: day, agent_name, agent_version, model, variant
-- columns:
--   day: UTC day
--   agent_name: agent
--   agent_version: agent (prompt) version of the cases (NULL: not reported)
--   model: model most of the case's LLM calls used (NULL: no LLM call)
--   variant: the cases' `fleet.variant` (NULL: none)
--   n_cases: production cases of this configuration that day
--   n_agent_cases: all production cases of the agent that day
--   traffic_share: n_cases ÷ n_agent_cases
with configurations as (
    select day, agent_name, agent_version, model, variant, count(*) as n_cases
    from fct_cases
    where agent_name is not null
    group by all
),

final as (
    select
        *,
        sum(n_cases) over (partition by day, agent_name) as n_agent_cases,
        n_cases / sum(n_cases) over (partition by day, agent_name) as traffic_share
    from configurations
)

select * from final
