-- fleet_monthly: one row per calendar month (UTC): every fleet-level figure the portfolio review shows.
-- Cases and computed cost sum agent_monthly; billed, reconciled computed cost and trace
-- coverage sum billing_reconciliation_daily (USD lines only); unattributed spend is the
-- USD allocation nobody claims (cost_allocation_monthly); verdicts count
-- portfolio_monthly. A month with cases or a bill has a row.
-- grain: month_start
-- columns:
--   month_start: first day of the calendar month (UTC)
--   n_agents: agents with cases in the month
--   n_cases: cases started in the month, all agents
--   n_resolved_cases: of those, resolved
--   computed_usd: computed cost of the month's cases (priced calls only)
--   is_cost_partial: some agent's cost is partial or unknown (unpriced calls)
--   cost_per_resolved_case_usd: computed_usd ÷ n_resolved_cases
--   net_saving_usd: sum of the agents' net savings against humans (agents with a baseline and a known cost)
--   billed_usd: billed cost in USD, every provider
--   billed_before_usd: billed_usd of the month before
--   billed_change: billed_usd ÷ billed_before_usd − 1
--   reconciled_computed_usd: computed cost of the traced calls, as billing_reconciliation_daily places them
--   gap_usd: billed_usd − reconciled_computed_usd: billed but not explained by traced calls
--   unattributed_usd: USD billed on lines no registered agent claims
--   billed_tokens: provider-reported tokens
--   traced_tokens: traced tokens of the same rows
--   trace_coverage: traced_tokens ÷ billed_tokens
--   n_quarantined_spans: spans held back at ingest, any agent or none
--   n_untraced_calls: LLM calls the bills show and the traces lack (estimated), claimed lines only
--   n_retire: agents whose verdict is retire
--   n_watch: agents whose verdict is watch
--   n_keep: agents whose verdict is keep
--   n_insufficient_data: agents whose verdict is insufficient data
with cases as (
    select
        month_start,
        count(*) filter (where n_cases > 0) as n_agents,
        sum(n_cases) as n_cases,
        sum(n_resolved_cases) as n_resolved_cases,
        sum(cost_usd) as computed_usd,
        bool_or(is_cost_partial or (n_cases > 0 and cost_usd is null)) as is_cost_partial,
        sum(net_saving_usd) as net_saving_usd
    from agent_monthly
    group by all
),

bills as (
    select
        cast(date_trunc('month', day) as date) as month_start,
        cast(sum(billed_cost_usd) as double) as billed_usd,
        sum(computed_cost_usd) as reconciled_computed_usd,
        sum(billed_tokens) as billed_tokens,
        sum(traced_tokens) filter (where billed_tokens is not null) as traced_tokens
    from billing_reconciliation_daily
    group by all
),

unattributed as (
    select billing_month as month_start, cast(sum(allocated_cost) as double) as unattributed_usd
    from cost_allocation_monthly
    where is_unattributed and billing_currency = 'USD'
    group by all
),

month_gaps as (
    select period_start as month_start,
        sum(n_quarantined_spans) as n_quarantined_spans,
        sum(n_untraced_calls) as n_untraced_calls
    from int_audit_gaps('month')
    group by all
),

verdicts as (
    select
        month_start,
        count(*) filter (where verdict = 'retire') as n_retire,
        count(*) filter (where verdict = 'watch') as n_watch,
        count(*) filter (where verdict = 'keep') as n_keep,
        count(*) filter (where verdict = 'insufficient data') as n_insufficient_data
    from portfolio_monthly
    group by all
),

grain as (
    select month_start from cases
    union
    select month_start from bills
),

final as (
    select
        grain.month_start,
        coalesce(cases.n_agents, 0) as n_agents,
        coalesce(cases.n_cases, 0) as n_cases,
        coalesce(cases.n_resolved_cases, 0) as n_resolved_cases,
        cases.computed_usd,
        coalesce(cases.is_cost_partial, false) as is_cost_partial,
        cases.computed_usd / nullif(cases.n_resolved_cases, 0) as cost_per_resolved_case_usd,
        cases.net_saving_usd,
        bills.billed_usd,
        before.billed_usd as billed_before_usd,
        bills.billed_usd / nullif(billed_before_usd, 0) - 1 as billed_change,
        bills.reconciled_computed_usd,
        bills.billed_usd - bills.reconciled_computed_usd as gap_usd,
        coalesce(unattributed.unattributed_usd, 0) as unattributed_usd,
        bills.billed_tokens,
        bills.traced_tokens,
        bills.traced_tokens / nullif(bills.billed_tokens, 0) as trace_coverage,
        coalesce(month_gaps.n_quarantined_spans, 0) as n_quarantined_spans,
        coalesce(month_gaps.n_untraced_calls, 0) as n_untraced_calls,
        coalesce(verdicts.n_retire, 0) as n_retire,
        coalesce(verdicts.n_watch, 0) as n_watch,
        coalesce(verdicts.n_keep, 0) as n_keep,
        coalesce(verdicts.n_insufficient_data, 0) as n_insufficient_data
    from grain
    left join cases using (month_start)
    left join bills using (month_start)
    left join bills as before on before.month_start = grain.month_start - interval 1 month
    left join unattributed using (month_start)
    left join month_gaps using (month_start)
    left join verdicts using (month_start)
)

select * from final
order by month_start
