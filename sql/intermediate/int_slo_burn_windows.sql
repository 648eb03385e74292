-- int_slo_burn_windows: per agent × day × SLO, the events and bad events of the burn-rate alert's short and long windows.
-- A window is the slo_burn_policy `short_days` / `long_days` calendar days ending on the
-- day (a day without a case counts none). Events per day, as slo_weekly counts them:
-- p95 case latency, cases (bad: at or above the agent's target); fallback rate, cases
-- (bad: fell back); audit completeness, agent_daily's audit events (bad: incomplete).
-- Production cases only (fct_cases; agent_daily reads it). The slow cases are counted
-- from the daily latency histograms of int_drift_values_daily (each production case's
-- duration_ms per agent and day, a day rollup), so that a build of one new day does not
-- read every case of the lake again. Days: each of the agent's days in agent_daily and
-- the long_days − 1 days after it, up to the fleet's last day.
-- A table rebuilt whole: a window reaches back across periods, so no per-period rollup.
-- materialized: table
-- columns:
--   day: the UTC day
--   slo: p95_case_latency_ms, fallback_rate or audit_completeness
--   target: the agent's target (registry override, else policy)
--   target_source: policy or registry
--   allowed_bad_share: share of events the SLO lets go bad: 5 % (a p95), the fallback target, 1 − the audit target
--   n_short_events: events in the short window (cases; audit events for audit_completeness)
--   n_short_bad_events: events of the short window that spend error budget
--   n_long_events: events in the long window
--   n_long_bad_events: events of the long window that spend error budget
with policy as (  -- integers: a date plus or minus them is a date
    select cast(short_days as integer) as short_days, cast(long_days as integer) as long_days
    from slo_burn_policy
),

daily as (
    select day, agent_name, n_cases, n_fallback_cases, n_audit_events, n_audit_complete_spans
    from agent_daily
),

targets as (
    select
        seen.agent_name,
        slo_policy.slo,
        coalesce(agents.slo_targets[slo_policy.slo], slo_policy.target) as target,
        if(agents.slo_targets[slo_policy.slo] is null, 'policy', 'registry') as target_source
    from (select distinct agent_name from daily) as seen
    cross join slo_policy
    left join agents using (agent_name)
),

slow_cases as (  -- from the daily latency histograms, not the cases: see the header
    select counts.day, counts.agent_name, sum(counts.n)::bigint as n_slow_cases
    from int_drift_values_daily as counts
    inner join targets
        on targets.agent_name = counts.agent_name and targets.slo = 'p95_case_latency_ms'
    where counts.metric = 'latency_ms' and counts.value >= targets.target
    group by all
),

daily_events as (
    select day, agent_name, 'p95_case_latency_ms' as slo, n_cases as n_events,
        coalesce(slow_cases.n_slow_cases, 0) as n_bad_events
    from daily
    left join slow_cases using (day, agent_name)
    union all
    select day, agent_name, 'fallback_rate', n_cases, n_fallback_cases from daily
    union all
    select day, agent_name, 'audit_completeness', n_audit_events,
        n_audit_events - n_audit_complete_spans
    from daily
),

spine as (
    select distinct agent_name, day + day_offset as day
    from (
        select daily.agent_name, daily.day,
            cast(unnest(range(policy.long_days)) as integer) as day_offset
        from daily
        cross join policy
    )
    where day + day_offset <= (select max(day) from daily)
),

windows as (
    select
        spine.agent_name,
        spine.day,
        daily_events.slo,
        coalesce(sum(daily_events.n_events)
            filter (where daily_events.day > spine.day - policy.short_days), 0) as n_short_events,
        coalesce(sum(daily_events.n_bad_events)
            filter (where daily_events.day > spine.day - policy.short_days), 0)
            as n_short_bad_events,
        sum(daily_events.n_events) as n_long_events,
        sum(daily_events.n_bad_events) as n_long_bad_events
    from spine
    cross join policy
    inner join daily_events
        on daily_events.agent_name = spine.agent_name
        and daily_events.day > spine.day - policy.long_days
        and daily_events.day <= spine.day
    group by spine.agent_name, spine.day, daily_events.slo
),

final as (
    select
        windows.day,
        windows.agent_name,
        windows.slo,
        targets.target,
        targets.target_source,
        case windows.slo
            when 'p95_case_latency_ms' then 0.05
            when 'fallback_rate' then targets.target
            else 1 - targets.target
        end as allowed_bad_share,
        cast(windows.n_short_events as bigint) as n_short_events,
        cast(windows.n_short_bad_events as bigint) as n_short_bad_events,
        cast(windows.n_long_events as bigint) as n_long_events,
        cast(windows.n_long_bad_events as bigint) as n_long_bad_events
    from windows
    inner join targets using (agent_name, slo)
)

select * from final
