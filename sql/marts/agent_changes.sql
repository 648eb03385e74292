-- agent_changes: one row per agent × configuration (version, model, variant) × UTC day: the
-- production cases it served, its share of the agent's traffic that day, and when the
-- configuration was first and last seen. A configuration is what a case ran: its agent
-- version, the model most of its LLM calls used, its `fleet.variant`. Shadow and offline
-- eval traffic are not production (see fct_cases). change_events dates every new version,
-- model or variant from it.
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
--   first_seen_day: first day this configuration served production cases
--   last_seen_day: last day it did
select
    *,
    min(day) over configuration as first_seen_day,
    max(day) over configuration as last_seen_day
from int_agent_configurations_daily
window configuration as (partition by agent_name, agent_version, model, variant)
