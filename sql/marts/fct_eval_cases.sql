-- fct_eval_cases: one row per offline eval case: a trace tagged `fleet.eval.run_id` (and
-- `fleet.eval.item_id`), as eval frameworks and Langfuse dataset runs record them. Its
-- scores are its `gen_ai.evaluation.result` events; its cost is that of its LLM calls,
-- priced like production (fct_llm_calls). eval_results joins the two.
-- grain: agent_name, conversation_id
-- materialized: fact
-- columns:
--   day: UTC date the case started (the Parquet partition)
--   agent_name: agent under evaluation
--   conversation_id: the case (gen_ai.conversation.id, else the trace id)
--   run_id: `fleet.eval.run_id`
--   item_id: `fleet.eval.item_id` (else the conversation id)
--   dataset: `fleet.eval.dataset`
--   variant: `fleet.eval.variant`
--   intent: the case's `fleet.intent`
--   agent_version: agent (prompt) version
--   model: the model most of its LLM calls used
--   started_at: first span start (UTC)
--   duration_ms: the case latency
--   cost_usd: cost of its LLM calls (NULL when none is priced)
--   n_unpriced_calls: LLM calls with no price
--   input_tokens: input tokens, cached included
--   output_tokens: output tokens, reasoning included
select
    day, agent_name, conversation_id, eval_run_id as run_id,
    coalesce(eval_item_id, conversation_id) as item_id, eval_dataset as dataset,
    eval_variant as variant, intent, agent_version, model, started_at, duration_ms, cost_usd,
    n_unpriced_calls, input_tokens, output_tokens
from fct_cases__all
where eval_run_id is not null
