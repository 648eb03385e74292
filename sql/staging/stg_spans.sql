-- stg_spans: one row per span (trace_id, span_id) from the lake.
-- The key is unique in the lake already: ingest quarantines a span whose key is stored
-- (`pipelines.ingest.seen`) and a file's new version replaces its old one, so no
-- dedupe pass is needed here (one over every span cost more than the rest of a build).
with source as (
    select * from lake_spans
),

final as (
    select * exclude (day)
    from source
)

select * from final
