-- governance_gaps: one row per agent seen in traces or listed in the registry: what its registry entry lacks.
-- An agent is compliant when it is registered with an owner, team, purpose, risk tier and
-- data lineage. Agents seen in traces but missing from config/agents.yaml are listed with
-- the gap `registry entry`.
-- grain: agent_name
-- columns:
--   agent_name: agent as it appears in traces or the registry
--   is_registered: listed in config/agents.yaml
--   is_seen_in_traces: has cases in the warehouse
--   first_seen_day: first UTC day with cases
--   last_seen_day: last UTC day with cases
--   n_cases: cases handled, all time
--   team: owning team (registry)
--   owner: accountable person (registry)
--   missing: what is missing: registry entry, owner, team, purpose, risk_tier, data_lineage
--   n_gaps: number of missing items
--   is_compliant: nothing is missing
with seen as (
    select agent_name, min(day) as first_seen_day, max(day) as last_seen_day,
        sum(n_cases) as n_cases
    from agent_daily
    where agent_name is not null and n_cases > 0
    group by agent_name
),

registry as (
    select *, true as is_registered from agents
),

final as (
    select
        agent_name,
        coalesce(registry.is_registered, false) as is_registered,
        seen.agent_name is not null as is_seen_in_traces,
        seen.first_seen_day,
        seen.last_seen_day,
        coalesce(seen.n_cases, 0) as n_cases,
        registry.team,
        registry.owner,
        list_filter([
            if(registry.is_registered is null, 'registry entry', null),
            if(registry.is_registered and nullif(trim(registry.owner), '') is null, 'owner', null),
            if(registry.is_registered and nullif(trim(registry.team), '') is null, 'team', null),
            if(registry.is_registered and nullif(trim(registry.purpose), '') is null,
                'purpose', null),
            if(registry.is_registered and nullif(trim(registry.risk_tier), '') is null,
                'risk_tier', null),
            if(registry.is_registered and nullif(trim(registry.data_lineage), '') is null,
                'data_lineage', null)
        ], lambda gap: gap is not null) as missing,
        len(missing) as n_gaps,
        n_gaps = 0 as is_compliant
    from seen
    full outer join registry using (agent_name)
)

select * from final
order by n_gaps desc, agent_name
