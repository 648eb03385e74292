-- cost_allocation_monthly: billed cost per month × provider × billing route, allocated to the agents that claim it.
-- Within a route the billed cost is split by each claimant's computed cost that month
-- (equally when none has any); the last claimant takes the remainder, so the allocations
-- of a route sum exactly to its billed cost. Lines no agent claims are one
-- `is_unattributed` row each route, with the reason: reported, never spread. Agents seen
-- in traces but missing from config/agents.yaml get a row of their own (claim_basis
-- `unregistered`, nothing allocated) with their computed cost, so they can be found.
-- Amounts are in billing_currency: sum only within one currency.
-- grain: billing_month, provider, billing_currency, sub_account_id, api_key_id, claim_basis, agent_name
-- columns:
--   billing_month: first day of the UTC month the charges started in
--   provider: billing provider as the bill names it (openai, anthropic, Microsoft …)
--   billing_currency: ISO currency of billed_cost and allocated_cost
--   sub_account_id: OpenAI project, Anthropic workspace, cloud subscription / account
--   api_key_id: API key of the route (null when the bill has none)
--   claim_basis: api_key, tag, project, unregistered, or null when unattributed
--   agent_name: the agent the cost is allocated to; null when unattributed
--   is_unattributed: no registered agent claims the route's lines
--   unattributed_reason: why nobody claims it
--   route_billed_cost: the route's whole billed cost that month (decimal)
--   allocated_cost: this agent's share of it (decimal; a route's shares sum exactly to it)
--   allocation_share: allocated_cost ÷ route_billed_cost
--   agent_computed_cost_usd: the agent's computed cost that month (all its traced calls)
--   n_lines: billed line items in the route
with lines as (
    select * from int_billing_costs__claimed
),

agent_costs as (
    select
        agent_name,
        cast(date_trunc('month', day) as date) as billing_month,
        sum(cost_usd) as computed_cost_usd
    from llm_calls_daily
    group by all
),

routes as (
    select
        billing_month, provider, billing_currency, sub_account_id, api_key_id, route_key,
        any_value(claim_basis) as claim_basis,
        any_value(claimants) as claimants,
        any_value(unattributed_reason) as unattributed_reason,
        sum(billed_cost) as route_billed_cost,
        count(*) as n_lines
    from lines
    group by billing_month, provider, billing_currency, sub_account_id, api_key_id, route_key
),

claims as (
    select
        routes.* exclude (claimants),
        claimant.agent_name,
        coalesce(agent_costs.computed_cost_usd, 0) as weight
    from routes
    cross join unnest(routes.claimants) as claimant(agent_name)
    left join agent_costs using (agent_name, billing_month)
),

weighted as (
    select
        *,
        case when sum(weight) over route > 0 then weight / sum(weight) over route
            else 1.0 / count(*) over route end as share,
        row_number() over (route order by weight desc, agent_name) = count(*) over route
            as is_last
    from claims
    window route as (partition by billing_month, provider, billing_currency, route_key)
),

provisional as (
    select *, cast(route_billed_cost::double * share as decimal(20, 10)) as rounded
    from weighted
),

allocated as (
    select
        * exclude (rounded, share, is_last, weight),
        weight as agent_computed_cost_usd,
        case when is_last
            then route_billed_cost - (sum(rounded) over route - rounded)
            else rounded
        end as allocated_cost
    from provisional
    window route as (partition by billing_month, provider, billing_currency, route_key)
),

unattributed as (
    select
        routes.* exclude (claimants),
        cast(null as varchar) as agent_name,
        cast(null as double) as agent_computed_cost_usd,
        route_billed_cost as allocated_cost
    from routes
    where claimants is null
),

unregistered as (
    select
        agent_costs.billing_month,
        cast(null as varchar) as provider,
        'USD' as billing_currency,
        cast(null as varchar) as sub_account_id,
        cast(null as varchar) as api_key_id,
        cast(null as varchar) as route_key,
        'unregistered' as claim_basis,
        'traced agent missing from config/agents.yaml: its bill sits in the unattributed '
            || 'lines of the route it uses' as unattributed_reason,
        cast(0 as decimal(38, 10)) as route_billed_cost,
        0 as n_lines,
        agent_costs.agent_name,
        agent_costs.computed_cost_usd as agent_computed_cost_usd,
        cast(0 as decimal(38, 10)) as allocated_cost
    from agent_costs
    anti join agents using (agent_name)
    where agent_costs.agent_name is not null
),

unioned as (
    select * from allocated
    union all by name select * from unattributed
    union all by name select * from unregistered
),

final as (
    select
        billing_month,
        provider,
        billing_currency,
        sub_account_id,
        api_key_id,
        claim_basis,
        agent_name,
        claim_basis is null as is_unattributed,
        unattributed_reason,
        route_billed_cost,
        allocated_cost,
        if(route_billed_cost = 0, null, allocated_cost::double / route_billed_cost::double)
            as allocation_share,
        agent_computed_cost_usd,
        n_lines
    from unioned
)

select * from final
order by billing_month, provider, billing_currency, sub_account_id, api_key_id, agent_name
