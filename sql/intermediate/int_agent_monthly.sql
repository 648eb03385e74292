-- int_agent_monthly: one row per agent × calendar month (UTC): volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_periods('month'), period_start named month_start; agent_monthly adds the bill.
-- materialized: rollup
-- partition: month_start
-- columns:
--   month_start: first day of the calendar month (UTC)
select * rename (period_start as month_start) from int_agent_periods('month')
