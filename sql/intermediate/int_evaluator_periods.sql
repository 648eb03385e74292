-- int_evaluator_periods(period): production scores per agent × agent version × evaluator × period ('day', 'week' = ISO week from Monday): count, mean, 95 % interval.
-- Read from the daily sums (int_evaluator_daily), never from the scores. An evaluator whose
-- every production score (any agent, any day) is 0 or 1 is a rate: its 95 % interval is
-- Wilson's; any other's is the normal one, mean ± 1.96 × sample sd ÷ √n (NULL under 2
-- scores). int_evaluator_judgements judges these rows; its columns are documented where
-- analysts read them: evaluator_daily, evaluator_weekly.
-- materialized: macro
-- parameters: period
with daily as (
    select *, cast(date_trunc(period, day) as date) as period_start from int_evaluator_daily
),

evaluator_kinds as (
    select evaluator, bool_and(is_binary) as is_rate
    from int_evaluator_daily
    group by evaluator
),

weighted as (
    select
        *,
        sum(value_sum) over same_period / sum(n_scores) over same_period as score_mean
    from daily
    window same_period as (partition by period_start, agent_name, agent_version, evaluator)
),

-- the parallel variance formula: each day's Σ (x − day mean)², plus its n × (day mean −
-- period mean)², is its share of Σ (x − period mean)²
periods as (
    select
        period_start,
        agent_name,
        agent_version,
        evaluator,
        cast(sum(n_scores) as bigint) as n_scores,
        cast(sum(n_cases) as bigint) as n_cases,
        any_value(score_mean) as score_mean,
        sum(value_m2 + n_scores * (value_sum / n_scores - score_mean) ** 2) as value_m2
    from weighted
    group by period_start, agent_name, agent_version, evaluator
),

intervals as (
    select
        periods.* exclude (value_m2),
        evaluator_kinds.is_rate,
        sqrt(value_m2 / nullif(n_scores - 1, 0)) as score_sd,
        -- Wilson: (p + z²/2n ∓ z √(p(1 − p)/n + z²/4n²)) ÷ (1 + z²/n), z = 1.96
        (score_mean + 1.96 ** 2 / (2 * n_scores)) / (1 + 1.96 ** 2 / n_scores) as wilson_center,
        1.96 / (1 + 1.96 ** 2 / n_scores) * sqrt(
            greatest(score_mean * (1 - score_mean), 0) / n_scores
            + 1.96 ** 2 / (4 * n_scores ** 2)
        ) as wilson_half_width
    from periods
    inner join evaluator_kinds using (evaluator)
),

bounded as (
    select
        * exclude (wilson_center, wilson_half_width),
        if(
            is_rate,
            greatest(wilson_center - wilson_half_width, 0),
            score_mean - 1.96 * score_sd / sqrt(n_scores)
        ) as score_ci_low,
        if(
            is_rate,
            least(wilson_center + wilson_half_width, 1),
            score_mean + 1.96 * score_sd / sqrt(n_scores)
        ) as score_ci_high
    from intervals
)

select * from bounded
