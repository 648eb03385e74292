-- For each alerting categorical row (drift_changes: change_id, agent_name, metric,
-- category, reference_start, window_end), the daily counts of its moved category and of
-- all categories (drift_categorical), from reference_start to window_end: the series its
-- change point is dated from. Days without values are left out.
select
    changes.change_id,
    counts.day,
    sum(counts.n)::bigint as n,
    coalesce(sum(counts.n) filter (where counts.category = changes.category), 0)::bigint
        as n_moved
from drift_changes as changes
inner join drift_categorical as counts
    on counts.agent_name = changes.agent_name
    and counts.metric = changes.metric
    and counts.day between changes.reference_start and changes.window_end
group by all
order by changes.change_id, counts.day
