-- What daily_configs.sql reads, from the facts: per agent and day, cases by agent version
-- (drift_case_versions) and LLM calls by model (drift_call_models). A warehouse build
-- reads daily_counts_rollups.sql instead: the same counts, from its incremental rollups.
create or replace temp view drift_case_versions as
select agent_name, day, agent_version, count(*)::bigint as n
from fct_cases
where agent_name is not null
group by all;

create or replace temp view drift_call_models as
select agent_name, day, model, count(*)::bigint as n
from fct_llm_calls
where agent_name is not null
group by all;
