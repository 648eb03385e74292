-- change_events: one row per new agent version, model or variant reaching production:
-- when, from what, to what, how its traffic ramped, and whether an eval diff gated it.
-- A value is new on the first day it serves a production case after the agent's first day
-- (agent_changes). It changed from the agent's dominant value of that dimension on its
-- previous day with data (NULL: none, e.g. a first variant). The gate is the latest eval
-- diff (`fleetledger diff`, the eval_diffs seed) of the agent whose candidate ran the new
-- value (its prompt versions, models or variants) and whose candidate was evaluated before
-- the change's first production day: the change is gated when that diff shipped it.
-- grain: agent_name, dimension, to_value
-- columns:
--   agent_name: agent
--   dimension: what changed: agent_version, model or variant
--   from_value: the dominant value the day before (NULL: none)
--   to_value: the new value
--   first_day: first day it served production cases
--   first_share: its share of the agent's cases that day
--   full_traffic_day: first day it served ≥ 95 % of the agent's cases (NULL: not yet)
--   days_to_full_traffic: full_traffic_day − first_day (0: a switch; NULL: not yet)
--   peak_share: its highest daily share so far
--   last_seen_day: last day it served production cases
--   n_cases: production cases it served so far
--   ramp: its daily share over the first 31 days, as (day, share)
--   is_canary: it started below 50 % of the traffic
--   gate_diff: the gating eval diff (DATA/diffs/<name>.json; NULL: none)
--   gate_decision: that diff's decision (ship or hold)
--   gate_evaluated_until: when its candidate's last eval item ran
--   is_gated: an eval diff shipped this value before its first production day
--   gate_note: the gate in words
with dimension_days as (
    select day, agent_name, 'agent_version' as dimension, agent_version as value,
        sum(n_cases) as n_cases, any_value(n_agent_cases) as n_agent_cases
    from int_agent_configurations_daily where agent_version is not null group by all
    union all
    select day, agent_name, 'model', model, sum(n_cases), any_value(n_agent_cases)
    from int_agent_configurations_daily where model is not null group by all
    union all
    select day, agent_name, 'variant', variant, sum(n_cases), any_value(n_agent_cases)
    from int_agent_configurations_daily where variant is not null group by all
),

shares as (
    select *, n_cases / n_agent_cases as traffic_share from dimension_days
),

agent_first as (
    select agent_name, min(day) as agent_first_day
    from int_agent_configurations_daily
    group by agent_name
),

dominant as (
    select agent_name, dimension, day, first(value order by n_cases desc, value) as value
    from shares
    group by all
),

new_values as (
    select shares.agent_name, shares.dimension, shares.value, min(shares.day) as first_day
    from shares
    inner join agent_first using (agent_name)
    group by all
    having min(shares.day) > any_value(agent_first.agent_first_day)
),

previous as (
    select new_values.*, dominant.value as from_value
    from new_values
    asof left join dominant
        on dominant.agent_name = new_values.agent_name
        and dominant.dimension = new_values.dimension
        and dominant.day < new_values.first_day
),

ramps as (
    select
        new_values.agent_name,
        new_values.dimension,
        new_values.value,
        any_value(shares.traffic_share) filter (where shares.day = new_values.first_day)
            as first_share,
        min(shares.day) filter (where shares.traffic_share >= 0.95) as full_traffic_day,
        max(shares.traffic_share) as peak_share,
        max(shares.day) as last_seen_day,
        sum(shares.n_cases) as n_cases,
        list({'day': shares.day, 'share': round(shares.traffic_share, 4)} order by shares.day)
            filter (where shares.day <= new_values.first_day + 30) as ramp
    from new_values
    inner join shares using (agent_name, dimension, value)
    group by all
),

gates as (
    select
        new_values.agent_name,
        new_values.dimension,
        new_values.value,
        eval_diffs.diff_name,
        eval_diffs.decision,
        eval_diffs.evaluated_until
    from new_values
    inner join eval_diffs
        on eval_diffs.agent_name = new_values.agent_name
        and cast(timezone('UTC', eval_diffs.evaluated_until) as date) < new_values.first_day
        and list_contains(
            case new_values.dimension
                when 'agent_version' then eval_diffs.candidate_prompt_versions
                when 'model' then eval_diffs.candidate_models
                else eval_diffs.candidate_variants
            end,
            new_values.value
        )
    qualify row_number() over (
        partition by new_values.agent_name, new_values.dimension, new_values.value
        order by eval_diffs.evaluated_until desc, eval_diffs.generated_at desc,
            eval_diffs.diff_name desc
    ) = 1
),

final as (
    select
        previous.agent_name,
        previous.dimension,
        previous.from_value,
        previous.value as to_value,
        previous.first_day,
        ramps.first_share,
        ramps.full_traffic_day,
        ramps.full_traffic_day - previous.first_day as days_to_full_traffic,
        ramps.peak_share,
        ramps.last_seen_day,
        ramps.n_cases,
        ramps.ramp,
        ramps.first_share < 0.5 as is_canary,
        gates.diff_name as gate_diff,
        gates.decision as gate_decision,
        gates.evaluated_until as gate_evaluated_until,
        coalesce(gates.decision = 'ship', false) as is_gated,
        case
            when gates.decision = 'ship' then
                'shipped by eval diff ' || gates.diff_name || ' (candidate evaluated '
                || strftime(timezone('UTC', gates.evaluated_until), '%Y-%m-%d') || ')'
            when gates.decision is not null then
                'the latest eval diff of this candidate, ' || gates.diff_name || ', held it'
            else 'no eval diff ran this ' || replace(previous.dimension, 'agent_', '')
                || ' before ' || strftime(previous.first_day, '%Y-%m-%d')
        end as gate_note
    from previous
    inner join ramps using (agent_name, dimension, value)
    left join gates using (agent_name, dimension, value)
)

select * from final
order by agent_name, first_day, dimension
