-- Categorical drift statistics per window and metric, from the daily counts
-- (drift_categorical) and the windows (drift_windows): sample sizes, the Jensen–Shannon
-- distance of the two mixes (base 2, so 0…1), the chi-square statistic of the 2 × k
-- table (no continuity correction) with its degrees of freedom, and the category whose
-- share moved most. The float sums add in category order: a parallel hash aggregate adds in
-- any order, and an incremental build must give the last bit a full one gives.
with sides as (
    select windows.window_id, values.metric, values.category, values.n,
        values.day between windows.window_start and windows.window_end as is_current
    from drift_windows as windows
    inner join drift_categorical as values
        on values.agent_name = windows.agent_name
        and (values.day between windows.window_start and windows.window_end
            or values.day between windows.reference_start and windows.reference_end)
),

counts as (
    select
        window_id, metric, category,
        coalesce(sum(n) filter (where is_current), 0)::bigint as cur,
        coalesce(sum(n) filter (where not is_current), 0)::bigint as ref
    from sides
    group by all
),

totals as (
    select window_id, metric, sum(cur)::bigint as n_current, sum(ref)::bigint as n_reference
    from counts
    group by all
),

shares as (
    select
        counts.*,
        totals.n_current,
        totals.n_reference,
        cur / totals.n_current as p_cur,
        ref / totals.n_reference as p_ref,
        (cur / totals.n_current + ref / totals.n_reference) / 2 as p_mid,
        (cur + ref) * totals.n_current / (totals.n_current + totals.n_reference) as expected_cur,
        (cur + ref) * totals.n_reference / (totals.n_current + totals.n_reference) as expected_ref
    from counts
    inner join totals using (window_id, metric)
    where totals.n_current > 0 and totals.n_reference > 0
),

statistics as (
    select
        window_id, metric,
        sqrt(greatest(
            (sum(case when p_ref > 0 then p_ref * log2(p_ref / p_mid) else 0 end
                order by category)
            + sum(case when p_cur > 0 then p_cur * log2(p_cur / p_mid) else 0 end
                order by category)) / 2,
            0
        )) as js_distance,
        sum((cur - expected_cur) ** 2 / expected_cur + (ref - expected_ref) ** 2 / expected_ref
            order by category) as chi2_statistic,
        count(*) - 1 as chi2_dof,
        first(category order by abs(p_cur - p_ref) desc, category) as moved_category,
        first(p_ref order by abs(p_cur - p_ref) desc, category) as moved_reference_share,
        first(p_cur order by abs(p_cur - p_ref) desc, category) as moved_current_share
    from shares
    group by all
)

select totals.window_id, totals.metric, totals.n_current, totals.n_reference, statistics.* exclude (window_id, metric)
from totals
left join statistics using (window_id, metric)
