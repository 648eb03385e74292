-- slo_burn_daily: one row per agent × UTC day × SLO: error-budget burn rates over a short and a long window, and the burn alert.
-- Multi-window burn-rate alerting (Google SRE workbook): burn rate = bad-event share ÷ the
-- share the SLO allows (1× spends the budget exactly; see int_slo_burn_windows for the
-- events and windows). An SLO burns when both windows reach their thresholds
-- (slo_burn_policy, policy.yaml `slo_burn:`) and each holds at least its minimum events
-- (cases; audit events for audit completeness): the short window shows it is happening
-- now, the long one that it is more than a blip. An episode is a run of consecutive
-- burning days; its first day is the alert (is_new_alert).
-- grain: agent_name, slo, day
-- materialized: table
-- columns:
--   day: the UTC day
--   agent_name: agent, resolved from its trace's root agent span
--   slo: p95_case_latency_ms, fallback_rate or audit_completeness
--   target: the agent's target (registry override, else policy)
--   target_source: policy or registry
--   allowed_bad_share: share of events the SLO lets go bad: 5 % (a p95), the fallback target, 1 − the audit target
--   n_short_events: events in the short window (cases; audit events for audit_completeness)
--   n_short_bad_events: events of the short window that spend error budget
--   n_long_events: events in the long window
--   n_long_bad_events: events of the long window that spend error budget
--   short_burn_rate: n_short_bad_events ÷ n_short_events ÷ allowed_bad_share (NULL: no event, or the SLO allows none)
--   long_burn_rate: n_long_bad_events ÷ n_long_events ÷ allowed_bad_share (NULL: no event, or the SLO allows none)
--   short_days: calendar days of the short window, ending on the day (policy)
--   long_days: calendar days of the long window, ending on the day (policy)
--   short_burn_threshold: short_burn_rate needed to burn (policy short_burn_rate)
--   long_burn_threshold: long_burn_rate needed to burn (policy long_burn_rate)
--   min_short_cases: events the short window needs before it is judged (policy)
--   min_long_cases: events the long window needs before it is judged (policy)
--   is_burning: both windows hold their minimum events and reach their burn thresholds
--   is_new_alert: the first burning day of an episode (the day before did not burn)
--   reason: the burn rates against their thresholds and the short window's counts, in words
with windows as (
    select * from int_slo_burn_windows
),

policy as (  -- the thresholds renamed: short_burn_rate and long_burn_rate are the rates here
    select
        short_days,
        long_days,
        short_burn_rate as short_burn_threshold,
        long_burn_rate as long_burn_threshold,
        min_short_cases,
        min_long_cases
    from slo_burn_policy
),

rated as (
    select
        windows.*,
        windows.n_short_bad_events / nullif(windows.n_short_events, 0)
            / nullif(windows.allowed_bad_share, 0) as short_burn_rate,
        windows.n_long_bad_events / nullif(windows.n_long_events, 0)
            / nullif(windows.allowed_bad_share, 0) as long_burn_rate,
        policy.*,
        windows.n_short_events >= policy.min_short_cases
            and windows.n_long_events >= policy.min_long_cases as is_judged,
        coalesce(short_burn_rate >= policy.short_burn_threshold, false) as is_short_burning,
        coalesce(long_burn_rate >= policy.long_burn_threshold, false) as is_long_burning
    from windows
    cross join policy
),

worded as (
    select
        *,
        is_judged and is_short_burning and is_long_burning as is_burning,
        case slo
            when 'p95_case_latency_ms' then 'latency'
            when 'fallback_rate' then 'fallback'
            else 'audit completeness'
        end || ' burn ' || coalesce(printf('%.1f×', short_burn_rate), 'n/a') || ' over '
        || short_days || if(short_days = 1, ' day', ' days') || ' and '
        || coalesce(printf('%.1f×', long_burn_rate), 'n/a') || ' over ' || long_days || ' days'
        || printf(' (thresholds %g× and %g×)', short_burn_threshold, long_burn_threshold)
            as burn_words,
        if(slo = 'audit_completeness', 'audit events', 'cases') as unit,
        case slo
            when 'p95_case_latency_ms' then printf(
                '%d of %d cases took at least the %g ms target, where a p95 objective allows 5 %%',
                n_short_bad_events, n_short_events, target)
            when 'fallback_rate' then printf(
                '%d of %d cases fell back against a %g %% objective',
                n_short_bad_events, n_short_events, target * 100)
            else printf(
                '%d of %d audit events were incomplete against a %g %% objective',
                n_short_bad_events, n_short_events, target * 100)
        end as count_words
    from rated
),

final as (
    select
        * exclude (is_judged, is_short_burning, is_long_burning, burn_words, unit, count_words),
        is_burning and not coalesce(
            lag(is_burning) over by_day and lag(day) over by_day = day - 1, false
        ) as is_new_alert,
        burn_words || case
            when is_burning then ': ' || count_words
            when not is_judged then ', too few ' || unit || ' to judge: ' || concat_ws(', ',
                if(n_short_events < min_short_cases, printf('%d over %d %s (needs %d)',
                    n_short_events, short_days, if(short_days = 1, 'day', 'days'),
                    min_short_cases), null),
                if(n_long_events < min_long_cases, printf('%d over %d days (needs %d)',
                    n_long_events, long_days, min_long_cases), null))
            when is_short_burning then ': only the short window burns'
            when is_long_burning then ': only the long window burns'
            else ': neither window burns'
        end as reason
    from worded
    window by_day as (partition by agent_name, slo order by day)
)

select * from final
