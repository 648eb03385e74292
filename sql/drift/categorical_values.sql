-- Categorical drift metrics: per agent, metric, day and category, how many there were
-- (int_drift_categories_daily, which says what each metric counts).
-- Each agent's from the first day its windows read (drift_since: agent_name, since); $since
-- is the earliest of them, a bound the scan can prune its days by.
select agent_name, day, metric, category, n
from int_drift_categories_daily as counts
semi join drift_since
    on drift_since.agent_name = counts.agent_name and counts.day >= drift_since.since
where day >= $since
