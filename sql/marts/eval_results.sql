-- eval_results: one row per offline eval run × item × trial × score, with its cost.
-- Two sources: native eval_results files, and traces tagged `fleet.eval.run_id` /
-- `fleet.eval.item_id` (fct_eval_cases) with their `gen_ai.evaluation.result` scores,
-- one trial per trace in time order; those are priced like production LLM calls.
-- A native row's cost is its own `cost_usd` when the eval gave one; else its tokens × the list
-- price valid on the day it ran, from the same genai-prices table as production (input
-- tokens tier; no cache split: eval rows carry input and output tokens only; prices.yaml
-- overrides are not applied, so both sides of a diff are priced alike).
-- grain: run_id, agent_name, item_id, trial, score_name
-- materialized: table
-- columns:
--   run_id: eval run
--   dataset: eval dataset
--   item_id: dataset item
--   trial: repetition of the item within the run
--   agent_name: agent under evaluation
--   variant: variant label (model / prompt version)
--   model: model used
--   prompt_version: prompt version used
--   intent: the traced case's `fleet.intent` (NULL for native rows: slice them by dataset)
--   score_name: score name
--   score_value: score value
--   cost_usd: the given cost, else the computed one; NULL when neither is known
--   cost_source: given / computed / unpriced
--   input_tokens: input tokens
--   output_tokens: output tokens
--   latency_ms: latency
--   evaluated_at: when the item ran (UTC)
--   source_file: the raw file the row came from (traced runs: the trace id)
with results as (
    select * from lake_eval_results
),

resolution as (
    select model, any_value(price_provider_id) as price_provider_id,
        any_value(price_model_id) as price_model_id
    from model_resolution
    where provider is null and price_model_id is not null
    group by model
),

priced as (
    select
        results.*,
        (coalesce(results.input_tokens, 0) * prices.input_usd_per_mtok
            + coalesce(results.output_tokens, 0) * prices.output_usd_per_mtok) / 1e6
            as computed_cost_usd
    from results
    left join resolution using (model)
    left join model_prices as prices
        on prices.price_provider_id = resolution.price_provider_id
        and prices.price_model_id = resolution.price_model_id
        and (prices.valid_from is null or results.evaluated_at >= prices.valid_from)
        and (prices.valid_to is null or results.evaluated_at < prices.valid_to)
        and coalesce(results.input_tokens, 0) > prices.tier_input_tokens_over
        and (prices.tier_input_tokens_upto is null
            or coalesce(results.input_tokens, 0) <= prices.tier_input_tokens_upto)
),

native as (
    select
        run_id, dataset, item_id, trial, agent_name, variant, model, prompt_version,
        null::varchar as intent, score_name, score_value,
        coalesce(cost_usd, computed_cost_usd) as cost_usd,
        case when cost_usd is not null then 'given'
            when computed_cost_usd is not null then 'computed' else 'unpriced' end
            as cost_source,
        input_tokens, output_tokens, latency_ms, evaluated_at, source_file
    from priced
),

traced_scores as (
    select cases.*, traces.trace_id, scores.name as score_name, scores.score_value
    from fct_eval_cases as cases
    join fct_case_traces as traces using (conversation_id, agent_name)
    join stg_evaluations as scores on scores.trace_id = traces.trace_id
    where scores.score_value is not null and scores.name <> 'case.outcome'
),

traced as (
    select
        run_id, dataset, item_id,
        dense_rank() over (partition by run_id, item_id order by started_at, conversation_id)
            as trial,
        agent_name, coalesce(variant, model) as variant, model,
        agent_version as prompt_version, intent, score_name, score_value, cost_usd,
        if(n_unpriced_calls > 0 or cost_usd is null, 'unpriced', 'computed') as cost_source,
        input_tokens, output_tokens, duration_ms as latency_ms,
        started_at as evaluated_at, 'trace:' || trace_id as source_file
    from traced_scores
)

select * from native
union all by name
select * from traced
