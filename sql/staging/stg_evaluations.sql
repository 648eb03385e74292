-- stg_evaluations: one row per score (trace_id, span_id, name, evaluated_at) from the lake.
-- The key is unique in the lake already: ingest quarantines a score whose key is stored
-- (`pipelines.ingest.seen`) and a file's new version replaces its old one.
with source as (
    select * from lake_evaluations
),

final as (
    select * exclude (day)
    from source
)

select * from final
