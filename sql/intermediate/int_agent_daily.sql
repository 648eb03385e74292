-- int_agent_daily: one row per agent × UTC day: volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_periods('day'), period_start named day; agent_daily adds the bill.
-- materialized: rollup
-- partition: day
-- columns:
--   day: the UTC day
select * rename (period_start as day) from int_agent_periods('day')
