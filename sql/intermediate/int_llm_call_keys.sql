-- int_llm_call_keys: one row per (provider, model, service tier) × time segment × input-token band: the rates its LLM calls are costed at.
-- Everything a call's cost depends on but its token counts is decided here, on these few
-- rows, so that costing a call (`int_llm_calls__costed`) is one hash join on its provider,
-- model and tier with two range checks (start, input tokens), then tokens × rates:
-- - keys: every (provider, model) of `model_resolution` (the build resolves the pairs of
--   every span, so of every call) in every service tier of the calls, with the price
--   model it resolves to;
-- - segments: the key's time axis cut at every start and end of its list-price windows
--   (`model_prices`) and of the config/prices.yaml overrides that match it, so neither
--   the list price nor the overrides change within a segment: each is decided at the
--   segment's start, which stands for every instant of it;
-- - bands: the input-token axis cut at every tier edge of the key's price model, each
--   band priced by the list-price row whose tier holds it (none: no list price, as for
--   an unknown model or fewer than 0 input tokens);
-- - the overrides chosen for the segment (the most specific entry wins).
-- Bounds are inclusive and never NULL ('-infinity'/'infinity', the least/greatest
-- BIGINT), so the join's range checks are plain comparisons that hold for any value.
-- No date per call (a UTC cast per call cost more than the rest of the join) and no
-- three-string DISTINCT over the calls: with keys per call day the price join took 7.5×
-- its floor at 10M calls, with these ≈ 2.3× (`make bench`, cost part: calls spread over
-- 512 days; the floor reads no key column, this join hashes three strings per call).
-- materialized: slice
-- columns:
--   starts_at: first instant of the segment ('-infinity': since always)
--   ends_at: last instant of the segment, inclusive ('infinity': for ever)
--   input_tokens_from: least input tokens of the band, inclusive (least BIGINT: no bound)
--   input_tokens_to: most input tokens of the band, inclusive (greatest BIGINT: no bound)
--   is_priced: the call has a price (list or override) for input or output tokens
--   cost_multiplier: multiplier from config/prices.yaml (1 when none applies)
--   price_overrides_applied: the prices.yaml entries that set this call's prices
--   input_rate_usd_per_mtok: USD per million input tokens: override, else list, else 0
--   output_rate_usd_per_mtok: USD per million output tokens: override, else list, else 0
--   cache_read_rate_usd_per_mtok: USD per million cache reads: override, else list, else 0
--   cache_write_rate_usd_per_mtok: USD per million cache writes: override, else list, else 0
--   cache_read_apart: 1 when cache reads have a price of their own (taken out of the input tokens), else 0
--   cache_write_apart: 1 when cache writes have a price of their own (taken out of the input tokens), else 0
--   priced_multiplier: cost_multiplier when is_priced, else NULL (so the cost is NULL: unpriced)
with
-- the service tiers of the calls: one column's distinct values (a dictionary lookup, not
-- a hash of three strings per call: a quarter of the time)
service_tiers as (
    select distinct service_tier from int_spans__attributed where is_llm_call
),

-- every (provider, model) the build resolved (`model_resolution` holds the pairs of
-- every span, hence of every call) in every tier: a few keys no call has, never matched
call_keys as (
    select distinct
        model_resolution.provider,
        model_resolution.model,
        service_tiers.service_tier,
        model_resolution.price_provider_id,
        model_resolution.price_model_id
    from model_resolution
    cross join service_tiers
),

list_prices as (
    select call_keys.provider, call_keys.model, call_keys.service_tier, prices.*
    from call_keys
    join model_prices as prices
        on prices.price_provider_id = call_keys.price_provider_id
        and prices.price_model_id = call_keys.price_model_id
),

-- the overrides that match a key whatever the date (the date is the segment's)
key_overrides as (
    select
        call_keys.provider as key_provider,
        call_keys.model as key_model,
        call_keys.service_tier as key_service_tier,
        overrides.* replace (
            cast(overrides.valid_from as timestamptz) as valid_from,
            cast(overrides.valid_to as timestamptz) as valid_to
        )
    from call_keys
    join price_overrides as overrides
        on overrides.provider in (call_keys.provider, call_keys.price_provider_id)
        and (overrides.model is null
            or overrides.model in (call_keys.model, call_keys.price_model_id))
        and (overrides.service_tier is null
            or overrides.service_tier is not distinct from call_keys.service_tier)
),

segment_starts as (
    select provider, model, service_tier, '-infinity'::timestamptz as starts_at
    from call_keys
    union
    select provider, model, service_tier, valid_from from list_prices
    union
    select provider, model, service_tier, valid_to from list_prices
    union
    select key_provider, key_model, key_service_tier, valid_from from key_overrides
    union
    select key_provider, key_model, key_service_tier, valid_to from key_overrides
),

segments as (
    select
        provider, model, service_tier, starts_at,
        coalesce(
            lead(starts_at) over (
                partition by provider, model, service_tier order by starts_at
            ) - interval 1 microsecond,
            'infinity'::timestamptz
        ) as ends_at
    from segment_starts
    where starts_at is not null
),

band_starts as (
    select
        provider, model, service_tier,
        cast(-9223372036854775808 as bigint) as input_tokens_from
    from call_keys
    union
    select provider, model, service_tier, tier_input_tokens_over + 1 from list_prices
    union
    select provider, model, service_tier, tier_input_tokens_upto + 1 from list_prices
),

bands as (
    select
        provider, model, service_tier, input_tokens_from,
        coalesce(
            lead(input_tokens_from) over (
                partition by provider, model, service_tier order by input_tokens_from
            ) - 1,
            cast(9223372036854775807 as bigint)
        ) as input_tokens_to
    from band_starts
    where input_tokens_from is not null
),

pieces as (
    select
        call_keys.*,
        segments.starts_at,
        segments.ends_at,
        bands.input_tokens_from,
        bands.input_tokens_to
    from call_keys
    join segments
        on segments.provider is not distinct from call_keys.provider
        and segments.model is not distinct from call_keys.model
        and segments.service_tier is not distinct from call_keys.service_tier
    join bands
        on bands.provider is not distinct from call_keys.provider
        and bands.model is not distinct from call_keys.model
        and bands.service_tier is not distinct from call_keys.service_tier
),

-- a piece's list price: the row valid at its start, in the tier holding its least tokens
priced as (
    select
        pieces.*,
        list_prices.input_usd_per_mtok,
        list_prices.output_usd_per_mtok,
        list_prices.cache_read_usd_per_mtok,
        list_prices.cache_write_usd_per_mtok
    from pieces
    left join list_prices
        on list_prices.provider is not distinct from pieces.provider
        and list_prices.model is not distinct from pieces.model
        and list_prices.service_tier is not distinct from pieces.service_tier
        and (list_prices.valid_from is null or pieces.starts_at >= list_prices.valid_from)
        and (list_prices.valid_to is null or pieces.starts_at < list_prices.valid_to)
        and pieces.input_tokens_from > list_prices.tier_input_tokens_over
        and (list_prices.tier_input_tokens_upto is null
            or pieces.input_tokens_from <= list_prices.tier_input_tokens_upto)
),

chosen as (
    select
        segments.provider, segments.model, segments.service_tier, segments.starts_at,
        arg_max(
            {
                entry: entry,
                input: input_usd_per_mtok,
                output: output_usd_per_mtok,
                cache_read: cache_read_usd_per_mtok,
                cache_write: cache_write_usd_per_mtok
            },
            precedence
        ) filter (
            where coalesce(input_usd_per_mtok, output_usd_per_mtok,
                cache_read_usd_per_mtok, cache_write_usd_per_mtok) is not null
        ) as price_override,
        arg_max({entry: entry, multiplier: multiplier}, precedence)
            filter (where multiplier is not null) as multiplier_override
    from segments
    join key_overrides as overrides
        on overrides.key_provider is not distinct from segments.provider
        and overrides.key_model is not distinct from segments.model
        and overrides.key_service_tier is not distinct from segments.service_tier
        and (overrides.valid_from is null or segments.starts_at >= overrides.valid_from)
        and (overrides.valid_to is null or segments.starts_at < overrides.valid_to)
    group by all
),

effective as (
    select
        priced.* exclude (
            input_usd_per_mtok, output_usd_per_mtok,
            cache_read_usd_per_mtok, cache_write_usd_per_mtok
        ),
        coalesce(chosen.price_override.input, priced.input_usd_per_mtok)
            as input_usd_per_mtok,
        coalesce(chosen.price_override.output, priced.output_usd_per_mtok)
            as output_usd_per_mtok,
        coalesce(chosen.price_override.cache_read, priced.cache_read_usd_per_mtok)
            as cache_read_usd_per_mtok,
        coalesce(chosen.price_override.cache_write, priced.cache_write_usd_per_mtok)
            as cache_write_usd_per_mtok,
        coalesce(chosen.multiplier_override.multiplier, 1.0) as cost_multiplier,
        nullif(
            concat_ws(
                ' × ', chosen.price_override.entry, chosen.multiplier_override.entry
            ),
            ''
        ) as price_overrides_applied
    from priced
    left join chosen
        on chosen.provider is not distinct from priced.provider
        and chosen.model is not distinct from priced.model
        and chosen.service_tier is not distinct from priced.service_tier
        and chosen.starts_at = priced.starts_at
),

-- rates and flags such that the cost is the same arithmetic, term for term, as written
-- with the prices (see int_llm_calls__costed): the same doubles, to the last bit
final as (
    select
        provider, model, service_tier, price_provider_id, price_model_id,
        starts_at, ends_at, input_tokens_from, input_tokens_to,
        coalesce(input_usd_per_mtok, output_usd_per_mtok) is not null as is_priced,
        cost_multiplier,
        price_overrides_applied,
        coalesce(input_usd_per_mtok, 0) as input_rate_usd_per_mtok,
        coalesce(output_usd_per_mtok, 0) as output_rate_usd_per_mtok,
        coalesce(cache_read_usd_per_mtok, 0) as cache_read_rate_usd_per_mtok,
        coalesce(cache_write_usd_per_mtok, 0) as cache_write_rate_usd_per_mtok,
        cast(cache_read_usd_per_mtok is not null as bigint) as cache_read_apart,
        cast(cache_write_usd_per_mtok is not null as bigint) as cache_write_apart,
        if(is_priced, cost_multiplier, null) as priced_multiplier
    from effective
)

select * from final
