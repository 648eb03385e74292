-- stg_evaluations: one row per score from the lake; the latest ingest of a score wins.
with source as (
    select * from lake_evaluations
),

final as (
    select * exclude (day)
    from source
    qualify row_number() over (
        partition by trace_id, span_id, name, evaluated_at
        order by ingested_at desc, source_file desc
    ) = 1
)

select * from final
