-- data_quality: Great Expectations results summarised per day, table and expectation.
-- grain: day, table_name, expectation
-- columns:
--   day: lake partition (UTC date) of the validated rows
--   table_name: canonical table the suite checked
--   expectation: expectation and column, e.g. not_null(trace_id)
--   batches: validated batches (one per ingested file version and day)
--   failed_batches: batches in which the expectation did not hold
--   element_count: rows GX checked (a sample of up to 5,000 per table and day per run)
--   unexpected_count: rows that broke the expectation
--   success: true when every batch met the expectation
with results as (
    select * from lake_data_quality
),

final as (
    select
        cast(day as date) as day,
        table_name,
        expectation,
        count(*) as batches,
        count(*) filter (where not success) as failed_batches,
        sum(element_count) as element_count,
        sum(coalesce(unexpected_count, 0)) as unexpected_count,
        bool_and(success) as success
    from results
    group by all
)

select * from final
