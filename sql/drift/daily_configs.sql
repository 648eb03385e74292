-- Each agent's configuration per day: its most common version and model, and its number
-- of cases (what sizes the daily windows). A day whose configuration differs from the
-- agent's previous day with data starts a new one. Days with LLM calls but no case come
-- too (n_cases NULL): no window is sized or started by them, but a window holding one has
-- data (its model mix), which is how an incremental build knows a window without rows in
-- the previous marts had none to show. Reads the daily counts of daily_counts.sql (or
-- daily_counts_rollups.sql).
with versions as (
    select
        agent_name,
        day,
        first(agent_version order by n desc, agent_version) as agent_version,
        sum(n)::bigint as n_cases
    from drift_case_versions
    group by all
),

models as (
    select agent_name, day, first(model order by n desc, model) as model
    from drift_call_models
    group by all
)

select agent_name, day, versions.agent_version, models.model, versions.n_cases
from versions
full join models using (agent_name, day)
order by agent_name, day
