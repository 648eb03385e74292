-- int_untraced_usage_daily: per agent × UTC day × billing provider, the usage its claimed bill shows against its traces.
-- Billed usage: the usage reports' rows where the provider sends them, else the token
-- quantities of its cost lines (as billing_reconciliation_daily). Claims follow
-- int_billing_costs__claimed: cost lines keep its claimants; a usage row (no tags) is
-- claimed by the agents declaring its api key, else by those claiming its project/workspace
-- project-wide (with no api key; any agent declaring it when the row has no key). A route
-- (day × provider × project/workspace × api key) claimed by several agents is split by
-- their traced tokens that day (equally when none traced); the last takes the remainder,
-- so the agents' billed counts add up to the route's exactly. Traced calls count on the
-- provider they name when the agent has claimed usage there that day; calls on a provider
-- no bill names (azure.ai.openai, billed by Microsoft) count on its claimed provider with
-- the most billed tokens that day; calls on another billed provider are left out.
-- n_untraced_calls: greatest(0, billed_requests − traced_calls) when the requests are
-- known, else untraced_tokens ÷ the agent's traced tokens per call, rounded; with no
-- traced token that day, greatest(0, billed rows − traced_calls), a billed row (usage
-- row with tokens, or one model's token cost lines) being at least one call.
-- materialized: table
-- grain: agent_name, day, provider
-- columns:
--   agent_name: registered agent claiming the usage
--   day: UTC date of the usage bucket / charge period
--   provider: billing provider as the bill names it (openai, anthropic, Microsoft …)
--   billed_requests: model requests the usage reports bill (NULL unless every row gives one)
--   billed_tokens: billed input (cached included) + output tokens, the agent's share
--   traced_calls: the agent's traced LLM calls that day on that provider
--   traced_tokens: their input + output tokens
--   untraced_tokens: greatest(0, billed_tokens − traced_tokens)
--   n_untraced_calls: estimated LLM calls the bill shows and the traces lack (see above)
with usage as (
    select * from stg_billing_usage
),

lines as (
    select * from int_billing_costs__claimed
),

calls as (
    select * from llm_calls_daily
),

keys as (
    select * from int_agent_billing_keys
),

usage_routes as (
    select
        usage_day as day,
        provider,
        to_json({sub_account_id: sub_account_id, api_key_id: api_key_id})::varchar as route,
        any_value(sub_account_id) as sub_account_id,
        any_value(api_key_id) as api_key_id,
        sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) as billed_tokens,
        if(count(n_requests) = count(*), sum(n_requests), null) as billed_requests,
        count(*) filter (where coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0)
            as n_billed_rows
    from usage
    group by all
),

usage_claims as (
    select
        usage_routes.* exclude (sub_account_id, api_key_id),
        coalesce(
            list_sort(list(keys.agent_name) filter (where keys.api_key = usage_routes.api_key_id)),
            list_sort(list(keys.agent_name) filter (
                where keys.sub_account = usage_routes.sub_account_id
                and (usage_routes.api_key_id is null or keys.api_key is null)
            ))
        ) as claimants
    from usage_routes
    left join keys on true
    group by all
),

line_routes as (
    select
        charge_day as day,
        provider,
        route_key as route,
        any_value(claimants) as claimants,
        sum(consumed_quantity * case
            when regexp_matches(lower(consumed_unit), '^1000[ _]?tokens$|^1k') then 1000
            when regexp_matches(lower(consumed_unit), '^1m[ _]?tokens$|^1m') then 1000000
            else 1
        end) as billed_tokens,
        cast(null as hugeint) as billed_requests,
        count(distinct coalesce(model, '')) as n_billed_rows
    from lines
    where token_type is not null and lower(consumed_unit) like '%token%'
        and provider not in (select provider from usage)
    group by all
),

claims as (
    select routes.* exclude (claimants), claimant.agent_name
    from (
        select * from usage_claims
        union all by name
        select * from line_routes
    ) as routes
    cross join unnest(routes.claimants) as claimant(agent_name)
),

claimed_days as (
    select
        agent_name,
        day,
        first(provider order by billed_tokens desc, provider) as main_provider,
        list(provider) as providers
    from (select agent_name, day, provider, sum(billed_tokens) as billed_tokens from claims group by all)
    group by all
),

traced as (
    select
        calls.agent_name,
        calls.day,
        if(list_contains(claimed_days.providers, calls.provider), calls.provider,
            claimed_days.main_provider) as provider,
        sum(calls.n_llm_calls) as traced_calls,
        sum(calls.input_tokens + calls.output_tokens) as traced_tokens
    from calls
    join claimed_days using (agent_name, day)
    where list_contains(claimed_days.providers, calls.provider)
        or calls.provider is null
        or calls.provider not in (
            select provider from usage union select provider from lines
        )
    group by all
),

shares as (
    select
        claims.*,
        coalesce(traced.traced_tokens, 0) as weight,
        case when sum(weight) over route > 0 then weight / sum(weight) over route
            else 1.0 / count(*) over route end as share,
        row_number() over (route order by weight desc, claims.agent_name) = count(*) over route
            as is_last
    from claims
    left join traced using (agent_name, day, provider)
    window route as (partition by claims.day, claims.provider, claims.route)
),

provisional as (
    select
        *,
        floor(billed_tokens * share) as tokens_floor,
        floor(billed_requests * share) as requests_floor
    from shares
),

split as (
    select
        agent_name,
        day,
        provider,
        if(is_last, billed_tokens - (sum(tokens_floor) over route - tokens_floor), tokens_floor)
            as billed_tokens,
        if(is_last, billed_requests - (sum(requests_floor) over route - requests_floor),
            requests_floor) as billed_requests,
        ceil(n_billed_rows * share) as n_billed_rows
    from provisional
    window route as (partition by day, provider, route)
),

agent_usage as (
    select
        agent_name,
        day,
        provider,
        cast(if(count(billed_requests) = count(*), sum(billed_requests), null) as bigint)
            as billed_requests,
        cast(round(sum(billed_tokens)) as bigint) as billed_tokens,
        cast(sum(n_billed_rows) as bigint) as n_billed_rows
    from split
    group by all
),

compared as (
    select
        agent_usage.*,
        cast(coalesce(traced.traced_calls, 0) as bigint) as traced_calls,
        cast(coalesce(traced.traced_tokens, 0) as bigint) as traced_tokens
    from agent_usage
    left join traced using (agent_name, day, provider)
),

final as (
    select
        agent_name,
        day,
        provider,
        billed_requests,
        billed_tokens,
        traced_calls,
        traced_tokens,
        greatest(0, billed_tokens - traced_tokens) as untraced_tokens,
        cast(case
            when billed_requests is not null then greatest(0, billed_requests - traced_calls)
            when billed_tokens <= traced_tokens then 0
            when traced_tokens > 0
                then round((billed_tokens - traced_tokens) / (traced_tokens / traced_calls))
            else greatest(0, n_billed_rows - traced_calls)
        end as bigint) as n_untraced_calls
    from compared
)

select * from final
order by day, provider, agent_name
