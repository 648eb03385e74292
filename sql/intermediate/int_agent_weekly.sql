-- int_agent_weekly: one row per agent × ISO week (Monday to Sunday, UTC): volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_periods('week'), period_start named week_start; agent_weekly adds the bill.
-- materialized: rollup
-- partition: week_start
-- columns:
--   week_start: Monday of the ISO week (UTC)
select * rename (period_start as week_start) from int_agent_periods('week')
