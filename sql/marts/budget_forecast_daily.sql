-- budget_forecast_daily: one row per agent × UTC day: month-to-date spend, the month it projects to, and the budget alert.
-- Spend: agent_daily.cost_usd, unknown as $0 (int_budget_daily_spend); is_mtd_cost_partial
-- marks the sums as lower bounds. Days: every calendar day of a month the agent has a day
-- of agent_daily in, from the 1st (or its first day) to the month's end or the fleet's last day.
-- Projection, weekday-aware: the rest of the month spends like the days so far, a weekend
-- day weighing weekend_weight (w) of a weekday (the agent's last 28 days): MTD × (weekdays
-- + w × weekend days of the month) ÷ (the same over the days elapsed). With w = 1 (under 7
-- days of history) it is the straight line, MTD ÷ days elapsed × days in month, which
-- over-projects a weekday-heavy agent early in a month that starts on weekdays (and
-- under-projects it when the month starts on a weekend).
-- Judged against the registry's monthly_budget_usd from min_days_elapsed days into the
-- month (budget_policy, policy.yaml `budget:`); no budget, no judgement (NULL).
-- grain: agent_name, day
-- materialized: table
-- columns:
--   day: the UTC day
--   agent_name: agent, resolved from its trace's root agent span
--   month_start: first day of the calendar month (UTC)
--   day_cost_usd: the day's spend (agent_daily cost_usd; NULL: unknown, no call priced; 0: no case)
--   mtd_cost_usd: spend from the month's first day to the day, unknown as $0
--   n_unpriced_days: days of the month so far whose spend is unknown or partial (calls without a price)
--   is_mtd_cost_partial: n_unpriced_days > 0: mtd_cost_usd and projected_month_usd are lower bounds
--   days_elapsed: days of the month up to the day, the day included
--   days_in_month: days of the day's month
--   weekend_weight: a weekend day's spend as a share of a weekday's, over the 28 days ending on the day (1 under 7 days of history)
--   projected_month_usd: mtd_cost_usd × (weekdays + weekend_weight × weekend days of the month) ÷ (the same over the days elapsed); 0 when nothing is spent yet
--   monthly_budget_usd: the agent's monthly spend budget (registry; NULL: none, not judged)
--   alert_at: share of the budget the projection must exceed (policy)
--   min_days_elapsed: days of the month that must have elapsed before it is judged (policy)
--   is_over_forecast: projected_month_usd > alert_at × monthly_budget_usd (NULL: no budget, or under min_days_elapsed days elapsed)
--   is_new_alert: the first day of the month the agent is over forecast (once per agent and month)
--   reason: the projection against the budget, in words
with spend as (
    select * from int_budget_daily_spend
),

month_to_date as (
    select
        day, agent_name, month_start, day_cost_usd, weekend_weight,
        sum(counted_usd) over to_date as mtd_cost_usd,
        count(*) filter (where is_unpriced) over to_date as n_unpriced_days,
        bool_or(has_agent_day) over (partition by agent_name, month_start) as is_active_month,
        day(day) as days_elapsed,
        day(last_day(day)) as days_in_month,
        len(list_filter(generate_series(month_start, day, interval 1 day),
            lambda d: isodow(d) >= 6)) as weekend_days_elapsed,
        len(list_filter(generate_series(month_start, last_day(day), interval 1 day),
            lambda d: isodow(d) >= 6)) as weekend_days_in_month
    from spend
    window to_date as (partition by agent_name, month_start order by day)
),

projected as (
    select
        * exclude (weekend_days_elapsed, weekend_days_in_month, is_active_month),
        if(mtd_cost_usd = 0, 0, mtd_cost_usd
            * (days_in_month - weekend_days_in_month + weekend_weight * weekend_days_in_month)
            / nullif(days_elapsed - weekend_days_elapsed
                + weekend_weight * weekend_days_elapsed, 0)) as projected_month_usd
    from month_to_date
    where is_active_month
),

judged as (
    select
        projected.*,
        agents.monthly_budget_usd,
        budget_policy.alert_at,
        budget_policy.min_days_elapsed,
        if(days_elapsed < budget_policy.min_days_elapsed, null,
            projected_month_usd > budget_policy.alert_at * agents.monthly_budget_usd)
            as is_over_forecast
    from projected
    cross join budget_policy
    left join agents using (agent_name)
),

final as (
    select
        day, agent_name, month_start, day_cost_usd, mtd_cost_usd, n_unpriced_days,
        n_unpriced_days > 0 as is_mtd_cost_partial,
        days_elapsed, days_in_month, weekend_weight, projected_month_usd, monthly_budget_usd,
        alert_at, min_days_elapsed, is_over_forecast,
        coalesce(is_over_forecast and not coalesce(bool_or(is_over_forecast) over (
            partition by agent_name, month_start order by day
            rows between unbounded preceding and 1 preceding), false), false) as is_new_alert,
        format('projected ${:.2f} for {} (MTD ${:.2f} over {} of {} days)',
            projected_month_usd, strftime(day, '%B'), mtd_cost_usd, days_elapsed, days_in_month)
        || case
            when monthly_budget_usd is null then '; no monthly budget in the registry'
            when is_over_forecast is null then format('; judged from day {}', min_days_elapsed)
            else if(is_over_forecast, ' above ', ' within ')
                || if(alert_at = 1, '', format('{:g} % of ', alert_at * 100))
                || format('the ${:.2f} budget', monthly_budget_usd)
        end
        || if(n_unpriced_days = 0, '', format('; a lower bound: {} {} with unpriced calls',
            n_unpriced_days, if(n_unpriced_days = 1, 'day', 'days'))) as reason
    from judged
)

select * from final
