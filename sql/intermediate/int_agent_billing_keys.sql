-- int_agent_billing_keys: one row per registered agent: the billing keys it claims its spend by (config/agents.yaml `billing:`).
-- materialized: view
-- columns:
--   api_key: the API key it declares (NULL: none)
--   sub_account: its OpenAI project, Anthropic workspace or cloud sub-account
--   tag_key: key of its FOCUS tag `key=value` ('' when none)
--   tag_value: value of its FOCUS tag
select
    agent_name,
    billing_keys['api_key'] as api_key,
    coalesce(
        billing_keys['openai_project'],
        billing_keys['anthropic_workspace'],
        billing_keys['sub_account']
    ) as sub_account,
    split_part(billing_keys['focus_tag'], '=', 1) as tag_key,
    substr(billing_keys['focus_tag'], length(tag_key) + 2) as tag_value
from agents
