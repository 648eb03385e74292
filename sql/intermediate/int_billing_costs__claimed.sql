-- int_billing_costs__claimed: each billed line with the registered agents that claim it.
-- Claims come from the billing keys in config/agents.yaml, most specific first:
--   a line with an api key  → the agents declaring that key; if none, the agents
--                             declaring the line's project/workspace and NO api key
--                             (a project-wide claim);
--   a line without one      → the agents whose focus_tag `key=value` is among the line's
--                             tags; if none, the agents declaring its project/workspace.
-- A line nobody claims is unattributed spend, with the reason; it is never spread.
-- columns:
--   claim_basis: api_key, tag or project: which key the claim was made on (NULL: nobody)
--   claimants: the agents that claim the line
--   unattributed_reason: why nobody claims the line (NULL when claimed)
with lines as (
    select * from stg_billing_costs
),

keys as (
    select * from int_agent_billing_keys
),

routes as (
    select distinct route_key, api_key_id, sub_account_id, tags from lines
),

route_claims as (
    select
        routes.route_key,
        list_sort(list(keys.agent_name) filter (
            where keys.api_key = routes.api_key_id
        )) as by_api_key,
        list_sort(list(keys.agent_name) filter (
            where keys.api_key is null and keys.sub_account = routes.sub_account_id
        )) as by_project_wide,
        list_sort(list(keys.agent_name) filter (
            where keys.tag_key <> '' and map_extract_value(routes.tags, keys.tag_key) = keys.tag_value
        )) as by_tag,
        list_sort(list(keys.agent_name) filter (
            where keys.sub_account = routes.sub_account_id
        )) as by_project
    from routes
    left join keys on true
    group by routes.route_key
),

claimed as (
    select
        routes.route_key,
        case
            when routes.api_key_id is not null and len(by_api_key) > 0 then 'api_key'
            when routes.api_key_id is not null and len(by_project_wide) > 0 then 'project'
            when routes.api_key_id is null and len(by_tag) > 0 then 'tag'
            when routes.api_key_id is null and len(by_project) > 0 then 'project'
        end as claim_basis,
        case claim_basis
            when 'api_key' then by_api_key
            when 'tag' then by_tag
            when 'project' then if(routes.api_key_id is null, by_project, by_project_wide)
        end as claimants,
        case when claim_basis is null then
            case
                when routes.api_key_id is not null then
                    'api key ' || routes.api_key_id || ' is in no agent''s billing keys'
                    || coalesce(' and project/workspace ' || routes.sub_account_id
                        || ' is claimed by no agent project-wide', '')
                when routes.sub_account_id is not null then
                    'no agent claims project/workspace ' || routes.sub_account_id
                    || ' or any of the line''s tags'
                else 'the line names no api key, project/workspace or claimed tag'
            end
        end as unattributed_reason
    from routes
    join route_claims using (route_key)
),

final as (
    select lines.*, claimed.claim_basis, claimed.claimants, claimed.unattributed_reason
    from lines
    join claimed using (route_key)
)

select * from final
