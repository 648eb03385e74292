-- daily_counts.sql from the warehouse's rollups instead of its facts, so that a build of
-- one new day does not re-read every case and LLM call of the lake: the same counts, as
-- int_agent_configurations_daily counts fct_cases per agent, day, version, model and
-- variant (agent_name not null), and llm_calls_daily counts every fct_llm_calls row per
-- day, agent, provider, model and service tier.
create or replace temp view drift_case_versions as
select agent_name, day, agent_version, sum(n_cases)::bigint as n
from int_agent_configurations_daily
group by all;

create or replace temp view drift_call_models as
select agent_name, day, model, sum(n_llm_calls)::bigint as n
from llm_calls_daily
where agent_name is not null
group by all;
