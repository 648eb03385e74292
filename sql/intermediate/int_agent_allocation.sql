-- int_agent_allocation(period): each agent's share of the USD bill per period ('day', 'week', 'month').
-- cost_allocation_monthly's allocation of a month is spread over the month's days by the
-- agent's traced cost on each day (evenly over the days when it has none), then summed
-- per period, so the periods of a month add up to the month's allocation exactly.
-- materialized: macro
-- parameters: period
-- columns:
--   allocated_billed_usd: the agent's share of the USD bill, from cost_allocation_monthly
with allocation as (
    select
        agent_name,
        billing_month,
        sum(cast(allocated_cost as double)) as allocated_usd
    from cost_allocation_monthly
    where agent_name is not null and billing_currency = 'USD'
    group by all
),

allocation_days as (
    select
        agent_name,
        billing_month,
        allocated_usd,
        cast(unnest(generate_series(
            cast(billing_month as timestamp),
            billing_month + interval 1 month - interval 1 day,
            interval 1 day
        )) as date) as day
    from allocation
),

daily_cost as (
    select agent_name, day, sum(cost_usd) as cost_usd from llm_calls_daily group by all
),

allocation_weights as (
    select
        allocation_days.agent_name,
        allocation_days.day,
        allocation_days.allocated_usd * case
            when sum(daily_cost.cost_usd) over month_days > 0
                then coalesce(daily_cost.cost_usd, 0) / sum(daily_cost.cost_usd) over month_days
            else 1.0 / count(*) over month_days
        end as allocated_usd
    from allocation_days
    left join daily_cost using (agent_name, day)
    window month_days as (
        partition by allocation_days.agent_name, allocation_days.billing_month
    )
),

allocated as (
    select
        cast(date_trunc(period, day) as date) as period_start,
        agent_name,
        sum(allocated_usd) as allocated_billed_usd
    from allocation_weights
    group by all
)

select * from allocated
