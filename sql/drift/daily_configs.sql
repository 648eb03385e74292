-- Each agent's configuration per day: its most common version and model, and its number
-- of cases (what sizes the daily windows). A day whose configuration differs from the
-- agent's previous day with data starts a new one.
with versions as (
    select
        agent_name,
        day,
        first(agent_version order by n desc, agent_version) as agent_version,
        sum(n)::bigint as n_cases
    from (
        select agent_name, day, agent_version, count(*) as n
        from fct_cases where agent_name is not null group by all
    )
    group by all
),

models as (
    select agent_name, day, first(model order by n desc, model) as model
    from (
        select agent_name, day, model, count(*) as n
        from fct_llm_calls where agent_name is not null group by all
    )
    group by all
)

select agent_name, day, versions.agent_version, models.model, versions.n_cases
from versions
left join models using (agent_name, day)
order by agent_name, day
