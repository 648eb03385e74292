-- agent_daily: one row per agent × UTC day: volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_daily (see int_agent_periods), then the agent's allocated bill and
-- audit gaps (see int_agent_periods__billed).
-- grain: day, agent_name
select * rename (period_start as day) from int_agent_periods__billed('day')
