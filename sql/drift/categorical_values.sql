-- Categorical drift metrics: per agent, metric, day and category, how many there were.
--   outcome  case outcome mix (resolved, escalated, abandoned, fallback, unknown)
--   intent   case intent mix (`fleet.intent`; cases without one count as "(none)")
--   tool     tool-call mix: one count per tool execution
--   model    model mix: one count per LLM call
with cases as (
    select * from fct_cases where day >= $since and agent_name is not null
)

select agent_name, day, 'outcome' as metric, outcome as category, count(*) as n
from cases group by all
union all
select agent_name, day, 'intent', coalesce(intent, '(none)'), count(*)
from cases group by all
union all
select agent_name, day, 'tool', tool, count(*)
from (select agent_name, day, unnest(tool_names) as tool from cases) group by all
union all
select agent_name, day, 'model', coalesce(model, '(unknown)'), count(*)
from fct_llm_calls
where day >= $since and agent_name is not null
group by all
