-- agent_monthly: one row per agent × calendar month (UTC): volume, resolution, cost against the human baseline, quality, latency.
-- The columns of int_agent_monthly (see int_agent_periods), then the agent's allocated bill and
-- audit gaps (see int_agent_periods__billed).
-- grain: month_start, agent_name
select * rename (period_start as month_start) from int_agent_periods__billed('month')
