-- int_drift_categories_daily: one row per agent × categorical drift metric × UTC day × category: how many there were (the daily mixes drift compares windows by).
-- A rollup so that drift reads a window's days from here, and a build of one new day
-- counts that day only; pipelines/drift/facts.py runs this same text over the facts of a
-- warehouse without it.
-- materialized: rollup
-- partition: day
-- grain: day, agent_name, metric, category
-- columns:
--   day: UTC day of the cases and LLM calls
--   agent_name: agent
--   metric: outcome (case outcome mix), intent (case intent mix), tool (tool-call mix: one count per tool execution), model (model mix: one count per LLM call)
--   category: the outcome, intent ("(none)": the case had none), tool, or model ("(unknown)": not reported)
--   n: production cases (outcome, intent), tool executions (tool) or LLM calls (model) of the agent that day in that category
with cases as (
    select agent_name, day, outcome, intent, tool_names
    from fct_cases
    where agent_name is not null
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
where agent_name is not null
group by all
