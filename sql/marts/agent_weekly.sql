-- agent_weekly: one row per agent × ISO week (Monday to Sunday, UTC): volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_weekly (see int_agent_periods), then the agent's allocated bill.
-- columns:
--   allocated_billed_per_resolved_case_usd: allocated_billed_usd ÷ n_resolved_cases
select
    periods.*,
    coalesce(allocation.allocated_billed_usd, 0) as allocated_billed_usd,
    allocated_billed_usd / nullif(periods.n_resolved_cases, 0)
        as allocated_billed_per_resolved_case_usd
from int_agent_weekly as periods
left join int_agent_allocation('week') as allocation
    on allocation.period_start = periods.week_start and allocation.agent_name = periods.agent_name
