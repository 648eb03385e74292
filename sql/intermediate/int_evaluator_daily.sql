-- int_evaluator_daily: one row per agent × agent version × evaluator × UTC day: the count, sum and spread of the production scores (fct_evaluations).
-- The sums the day's and week's judgements need (int_evaluator_periods): a week adds its
-- days' n_scores, n_cases and value_sum, and their value_m2 with the days' offsets from the
-- week's mean (the parallel variance formula), so no score is read twice.
-- materialized: rollup
-- partition: day
-- columns:
--   day: UTC date the scored cases started
--   agent_name: agent of the scored cases
--   agent_version: agent version of the scored cases
--   evaluator: gen_ai.evaluation.name
--   n_scores: scores with a value
--   n_cases: cases with such a score
--   value_sum: Σ value
--   value_m2: Σ (value − the day's mean)²
--   is_binary: every value is 0 or 1
with scores as (
    select * from fct_evaluations
),

final as (
    select
        day,
        agent_name,
        agent_version,
        evaluator,
        count(*) as n_scores,
        count(distinct conversation_id) as n_cases,
        sum(value) as value_sum,
        var_pop(value) * count(*) as value_m2,
        bool_and(value in (0, 1)) as is_binary
    from scores
    group by day, agent_name, agent_version, evaluator
)

select * from final
