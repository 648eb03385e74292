-- int_evaluator_judgements(period): each int_evaluator_periods(period) row judged against its guardrail threshold, with a new-alert flag and a reason in words.
-- The threshold is the agent's own (registry `guardrails:`), else the fleet's (policy.yaml
-- `guardrails:`). A period is judged from min_samples scores up; it breaches when the whole
-- 95 % interval lies beyond the threshold (its low end above a max, its high end below a
-- min), so noise alone does not alert. An alert is new on the first breaching period of an
-- episode (agent × version × evaluator): the episode ends on the next period that is
-- clearly good (its whole interval on the good side of the threshold); periods not judged,
-- or whose interval straddles the threshold, neither end nor extend it. Its columns are
-- documented where analysts read them: evaluator_daily, evaluator_weekly.
-- materialized: macro
-- parameters: period
with periods as (
    select * from int_evaluator_periods(period)
),

thresholds as (
    select
        periods.*,
        coalesce(own.bound, fleet.bound) as bound,
        coalesce(own.threshold, fleet.threshold) as threshold,
        coalesce(own.min_samples, fleet.min_samples) as min_samples,
        case
            when own.evaluator is not null then 'registry'
            when fleet.evaluator is not null then 'policy'
        end as threshold_source
    from periods
    left join guardrail_thresholds as own
        on own.agent_name = periods.agent_name and own.evaluator = periods.evaluator
    left join guardrail_thresholds as fleet
        on fleet.agent_name is null and fleet.evaluator = periods.evaluator
),

judged as (
    select
        *,
        coalesce(threshold is not null and n_scores >= min_samples
            and score_ci_low is not null, false) as is_judged,
        is_judged and if(bound = 'max', score_ci_low > threshold, score_ci_high < threshold)
            as is_breach
    from thresholds
),

-- a period whose interval straddles the threshold neither ends nor extends an episode:
-- only a clear breach or a clearly good period (the whole interval on the good side) does
settled as (
    select
        *,
        is_breach or (
            is_judged and if(bound = 'max', score_ci_high <= threshold, score_ci_low >= threshold)
        ) as is_settled
    from judged
),

episodes as (
    select
        * exclude (is_settled),
        is_breach and not coalesce(
            lag(is_breach) over (
                partition by agent_name, agent_version, evaluator, is_settled
                order by period_start
            ),
            false
        ) as is_new_alert
    from settled
),

-- rates in percent (one decimal), other means with three; thresholds as given
-- the numbers rounded to 10 decimals before they are printed: sums taken in another order
-- (an incremental build) differ in the last bits, which must not flip a printed digit
worded as (
    select
        *,
        if(is_rate, format('{:.1f} %', 100 * round(score_mean, 10)),
            format('{:.3f}', round(score_mean, 10)))
        || if(
            score_ci_low is null, '',
            ' [' || if(is_rate, format('{:.1f} %', 100 * round(score_ci_low, 10)),
                format('{:.3f}', round(score_ci_low, 10)))
            || ', ' || if(is_rate, format('{:.1f} %', 100 * round(score_ci_high, 10)),
                format('{:.3f}', round(score_ci_high, 10))) || ']'
        ) as estimate_text,
        regexp_replace(format('{:.6f}', if(is_rate, 100, 1) * threshold), '\.?0+$', '')
        || if(is_rate, ' %', '') || if(bound = 'max', ' maximum', ' minimum') as threshold_text,
        n_scores || if(n_scores = 1, ' score', ' scores') as scores_text
    from episodes
),

final as (
    select
        * exclude (estimate_text, threshold_text, scores_text),
        evaluator || if(is_rate, ' rate ', ' mean ') || estimate_text
        || case
            when threshold is null then ', ' || scores_text || ': no threshold set'
            when not is_judged then ', ' || scores_text || ': under the '
                || greatest(min_samples, if(is_rate, 1, 2))
                || ' needed to judge against the ' || threshold_text
            when is_breach then if(bound = 'max', ' above', ' below') || ' the '
                || threshold_text || ', ' || scores_text
            when if(bound = 'max', score_mean > threshold, score_mean < threshold)
                then if(bound = 'max', ' not clearly above', ' not clearly below') || ' the '
                || threshold_text || ' (its interval straddles it), ' || scores_text
            else if(bound = 'max', ' within', ' meeting') || ' the ' || threshold_text
                || ', ' || scores_text
        end as reason
    from worded
)

select * from final
