-- stg_spans: one row per span (trace_id, span_id) from the lake; the latest ingest wins.
with source as (
    select * from lake_spans
),

final as (
    select * exclude (day)
    from source
    qualify row_number() over (
        partition by trace_id, span_id order by ingested_at desc, source_file desc
    ) = 1
)

select * from final
