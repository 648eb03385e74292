-- billing_reconciliation_daily: per UTC day × provider × project/workspace × model, what the bill says against what the traces say.
-- Traced calls are placed on the provider and project/workspace their agent's billed lines
-- come from (the route of the lines it claims, see int_billing_costs__claimed); calls of
-- agents with no claimed lines (unregistered ones) keep their traced provider and no
-- project. Billed tokens come from the usage reports where the provider sent one, else
-- from the token quantities of the cost lines (FOCUS). Models are compared by name.
-- columns:
--   day: UTC date (charge period / usage bucket / call start)
--   provider: billing provider (or the traced one, for calls no bill is known for)
--   sub_account_id: OpenAI project, Anthropic workspace or cloud subscription
--   model: model as billed or traced
--   billed_cost_usd: billed cost in USD (non-USD lines are counted, never summed in)
--   n_non_usd_lines: billed lines in another currency, left out of billed_cost_usd
--   computed_cost_usd: cost computed from the traced calls (list price + overrides)
--   delta_usd: billed_cost_usd − computed_cost_usd
--   delta_pct: delta_usd ÷ billed_cost_usd
--   n_llm_calls: traced LLM calls
--   n_unpriced_calls: traced calls whose model has no price (not in computed_cost_usd)
--   billed_tokens: provider-reported input (cached included) + output tokens
--   traced_tokens: traced input + output tokens
--   trace_coverage: traced_tokens ÷ billed_tokens; below 1 = traffic the traces miss
with calls as (
    select * from llm_calls_daily
),

lines as (
    select * from int_billing_costs__claimed
),

agent_routes as (
    select
        agent_name,
        arg_max({provider: provider, sub_account_id: sub_account_id}, billed) as route
    from (
        select claimant.agent_name, lines.provider, lines.sub_account_id,
            sum(lines.billed_cost) as billed
        from lines
        cross join unnest(lines.claimants) as claimant(agent_name)
        group by all
    )
    group by agent_name
),

traced as (
    select
        calls.day,
        coalesce(agent_routes.route.provider, calls.provider) as provider,
        agent_routes.route.sub_account_id as sub_account_id,
        calls.model,
        sum(calls.n_llm_calls) as n_llm_calls,
        sum(calls.n_unpriced_calls) as n_unpriced_calls,
        sum(calls.cost_usd) as computed_cost_usd,
        sum(calls.input_tokens + calls.output_tokens) as traced_tokens
    from calls
    left join agent_routes using (agent_name)
    group by all
),

billed as (
    select
        charge_day as day,
        provider,
        sub_account_id,
        model,
        sum(billed_cost) filter (where is_usd) as billed_cost_usd,
        count(*) filter (where not is_usd) as n_non_usd_lines,
        sum(consumed_quantity * case
            when regexp_matches(lower(consumed_unit), '^1000[ _]?tokens$|^1k') then 1000
            when regexp_matches(lower(consumed_unit), '^1m[ _]?tokens$|^1m') then 1000000
            else 1
        end) filter (
            where token_type is not null and lower(consumed_unit) like '%token%'
        ) as cost_line_tokens
    from lines
    group by all
),

usage as (
    select
        usage_day as day,
        provider,
        sub_account_id,
        model,
        sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) as usage_tokens
    from stg_billing_usage
    group by all
),

usage_providers as (
    select distinct provider, true as reports_usage from stg_billing_usage
),

grain as (
    select day, provider, sub_account_id, model from traced
    union
    select day, provider, sub_account_id, model from billed
    union
    select day, provider, sub_account_id, model from usage
),

final as (
    select
        grain.day,
        grain.provider,
        grain.sub_account_id,
        grain.model,
        billed.billed_cost_usd,
        coalesce(billed.n_non_usd_lines, 0) as n_non_usd_lines,
        traced.computed_cost_usd,
        billed.billed_cost_usd - coalesce(traced.computed_cost_usd, 0) as delta_usd,
        delta_usd / nullif(billed.billed_cost_usd, 0) as delta_pct,
        coalesce(traced.n_llm_calls, 0) as n_llm_calls,
        coalesce(traced.n_unpriced_calls, 0) as n_unpriced_calls,
        if(usage_providers.reports_usage, usage.usage_tokens, billed.cost_line_tokens)
            as billed_tokens,
        coalesce(traced.traced_tokens, 0) as traced_tokens,
        traced_tokens / nullif(billed_tokens, 0) as trace_coverage
    from grain
    left join traced
        on traced.day = grain.day and traced.provider is not distinct from grain.provider
        and traced.sub_account_id is not distinct from grain.sub_account_id
        and traced.model is not distinct from grain.model
    left join billed
        on billed.day = grain.day and billed.provider is not distinct from grain.provider
        and billed.sub_account_id is not distinct from grain.sub_account_id
        and billed.model is not distinct from grain.model
    left join usage
        on usage.day = grain.day and usage.provider is not distinct from grain.provider
        and usage.sub_account_id is not distinct from grain.sub_account_id
        and usage.model is not distinct from grain.model
    left join usage_providers on usage_providers.provider = grain.provider
)

select * from final
order by day, provider, sub_account_id, model
