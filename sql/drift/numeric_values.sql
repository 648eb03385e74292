-- Numeric drift metrics: per agent, metric, day and value, how many cases had that value
-- (int_drift_values_daily, which says what each metric is and at what resolution).
-- Each agent's from the first day its windows read (drift_since: agent_name, since); $since
-- is the earliest of them, a bound the scan can prune its days by.
select agent_name, day, metric, value, n
from int_drift_values_daily as counts
semi join drift_since
    on drift_since.agent_name = counts.agent_name and counts.day >= drift_since.since
where day >= $since
