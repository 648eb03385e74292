-- billing_reconciliation_daily: per UTC day × provider × project/workspace (× model where billed), the bill against the traces.
-- Traced calls are placed on the provider and project/workspace their agent's billed lines
-- come from (the route of the lines it claims, see int_billing_costs__claimed); calls of
-- agents with no claimed lines (unregistered ones) keep their traced provider and no
-- project. Billed tokens come from the usage reports where the provider sent one, else
-- from the token quantities of the cost lines (FOCUS). Models are compared by name.
-- Grain: the finest both sides have. A day × provider × project/workspace is reconciled
-- per model only when its bill names a model on every line and usage row; when one lacks
-- it (OpenAI costs grouped by project only, an Anthropic cost report without description,
-- usage not grouped by model), its bill, usage and traced calls roll up into one row with
-- model NULL, so a project whose traces miss a share of its calls shows exactly that gap,
-- day by day. A cost line that names what it bills but no model (file search storage, web
-- search, a VM) does not lack one: it stays on its own model NULL row. Traced calls with
-- no bill behind them stay per model.
-- grain: day, provider, sub_account_id, model
-- columns:
--   day: UTC date (charge period / usage bucket / call start)
--   provider: billing provider (or the traced one, for calls no bill is known for)
--   sub_account_id: OpenAI project, Anthropic workspace or cloud subscription
--   model: model as billed or traced; NULL on a row that is not per model (is_model_grain)
--   is_model_grain: the row's day × provider × project is reconciled per model (see above)
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

usage as (
    select * from stg_billing_usage
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
        cast(null as boolean) as lacks_model,
        calls.n_llm_calls,
        calls.n_unpriced_calls,
        calls.cost_usd as computed_cost_usd,
        calls.input_tokens + calls.output_tokens as traced_tokens
    from calls
    left join agent_routes using (agent_name)
),

billed as (
    select
        charge_day as day,
        provider,
        sub_account_id,
        model,
        model is null and sku_id is null and charge_description is null as lacks_model,
        if(is_usd, billed_cost, null) as billed_cost_usd,
        not is_usd as is_non_usd,
        case when token_type is not null and lower(consumed_unit) like '%token%' then
            consumed_quantity * case
                when regexp_matches(lower(consumed_unit), '^1000[ _]?tokens$|^1k') then 1000
                when regexp_matches(lower(consumed_unit), '^1m[ _]?tokens$|^1m') then 1000000
                else 1
            end
        end as cost_line_tokens
    from lines
),

billed_usage as (
    select
        usage_day as day,
        provider,
        sub_account_id,
        model,
        model is null as lacks_model,
        coalesce(input_tokens, 0) + coalesce(output_tokens, 0) as usage_tokens
    from usage
),

facts as (
    select * from traced
    union all by name select * from billed
    union all by name select * from billed_usage
),

grains as (
    select
        day,
        provider,
        sub_account_id,
        not coalesce(bool_or(lacks_model), false) as is_model_grain
    from facts
    group by all
),

usage_providers as (
    select distinct provider, true as reports_usage from usage
),

reconciled as (
    select
        facts.day,
        facts.provider,
        facts.sub_account_id,
        if(grains.is_model_grain, facts.model, null) as model,
        grains.is_model_grain,
        sum(facts.billed_cost_usd) as billed_cost_usd,
        count(*) filter (where facts.is_non_usd) as n_non_usd_lines,
        sum(facts.computed_cost_usd) as computed_cost_usd,
        coalesce(sum(facts.n_llm_calls), 0) as n_llm_calls,
        coalesce(sum(facts.n_unpriced_calls), 0) as n_unpriced_calls,
        if(any_value(usage_providers.reports_usage), sum(facts.usage_tokens),
            sum(facts.cost_line_tokens)) as billed_tokens,
        coalesce(sum(facts.traced_tokens), 0) as traced_tokens
    from facts
    join grains
        on grains.day = facts.day and grains.provider is not distinct from facts.provider
        and grains.sub_account_id is not distinct from facts.sub_account_id
    left join usage_providers on usage_providers.provider = facts.provider
    group by all
),

final as (
    select
        day,
        provider,
        sub_account_id,
        model,
        is_model_grain,
        billed_cost_usd,
        n_non_usd_lines,
        computed_cost_usd,
        billed_cost_usd - coalesce(computed_cost_usd, 0) as delta_usd,
        delta_usd / nullif(billed_cost_usd, 0) as delta_pct,
        n_llm_calls,
        n_unpriced_calls,
        billed_tokens,
        traced_tokens,
        traced_tokens / nullif(billed_tokens, 0) as trace_coverage
    from reconciled
)

select * from final
order by day, provider, sub_account_id, model
