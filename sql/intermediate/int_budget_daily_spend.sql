-- int_budget_daily_spend: per agent × calendar day, the spend the budget forecast counts and how a weekend day weighs against a weekday.
-- Spend is agent_daily.cost_usd (the agent's production cases' LLM calls, its sub-agents'
-- included): a day without a row spends $0; a day whose cost is unknown (no call priced)
-- counts $0 and a partial day its priced calls only (is_unpriced). Days: every calendar
-- day from the agent's first day in agent_daily to the fleet's last day.
-- Weekend weight: the mean spend of the weekend days (Saturday, Sunday, UTC) of the 28 days
-- ending on the day ÷ that of their weekdays; 1 (no weekly shape) under 7 days of history
-- or without weekday spend. A table rebuilt whole: it reaches back across periods.
-- materialized: table
-- columns:
--   day: the UTC day
--   month_start: first day of the calendar month (UTC)
--   day_cost_usd: the day's spend (agent_daily cost_usd; NULL: unknown, no call priced; 0: no case)
--   counted_usd: what the forecast counts: day_cost_usd, unknown as $0
--   is_unpriced: the day has calls without a price: counted_usd is a lower bound
--   has_agent_day: the agent has a row in agent_daily that day
--   is_weekend: Saturday or Sunday (UTC)
--   weekend_weight: a weekend day's spend as a share of a weekday's, over the 28 days ending on the day (1 under 7 days of history)
with daily as (
    select day, agent_name, cost_usd, cost_usd is null or is_cost_partial as is_unpriced
    from agent_daily
),

calendar as (
    select
        agent_name,
        cast(unnest(generate_series(first_day, (select max(day) from daily), interval 1 day))
            as date) as day
    from (select agent_name, min(day) as first_day from daily group by agent_name)
),

spend as (
    select
        calendar.day,
        calendar.agent_name,
        cast(date_trunc('month', calendar.day) as date) as month_start,
        if(daily.day is null, 0, daily.cost_usd) as day_cost_usd,
        coalesce(daily.cost_usd, 0) as counted_usd,
        coalesce(daily.is_unpriced, false) as is_unpriced,
        daily.day is not null as has_agent_day,
        isodow(calendar.day) >= 6 as is_weekend
    from calendar
    left join daily using (agent_name, day)
),

final as (
    select
        *,
        coalesce(if(count(*) over last_28_days >= 7,
            avg(counted_usd) filter (where is_weekend) over last_28_days
            / nullif(avg(counted_usd) filter (where not is_weekend) over last_28_days, 0),
            null), 1) as weekend_weight
    from spend
    window last_28_days as (partition by agent_name order by day rows between 27 preceding and current row)
)

select * from final
