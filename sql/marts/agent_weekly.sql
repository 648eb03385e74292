-- agent_weekly: one row per agent × ISO week (Monday to Sunday, UTC): volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_weekly (see int_agent_periods), then the agent's allocated bill and
-- audit gaps (see int_agent_periods__billed).
-- grain: week_start, agent_name
select * rename (period_start as week_start) from int_agent_periods__billed('week')
