"""`make bench` part 6: the eval diff over 100k paired items with 2,000 bootstrap
resamples (issue target: < 10 s).

Two synthetic runs of 100k items × 2 trials (quality, cost, latency, tokens), in memory.
Floor: pairing the items and one mean difference (polars join + mean). Then
`diff.per_item` on both sides, `diff.pair` and `diff.compare` (bootstrap, Wilcoxon, sign
test, slices, worst regressions, decision), each in its own process.
"""

from __future__ import annotations

from tests.benchkit import record, run, target_line

SIDES = """
import time
import numpy as np
import polars as pl
rng = np.random.default_rng(5)
n, trials = {items}, 2
difficulty = rng.normal(0, 0.06, n)
def side(run, effect):
    k = n * trials
    return pl.DataFrame({{
        "run_id": [run] * k, "dataset": [f"slice-{{i % 5}}" for i in range(n)] * trials,
        "item_id": [f"item-{{i:06d}}" for i in range(n)] * trials,
        "trial": np.repeat(np.arange(1, trials + 1), n), "agent_name": ["a"] * k,
        "score_name": ["quality"] * k,
        "score_value": np.tile(0.8 + difficulty, trials) + effect + rng.normal(0, 0.04, k),
        "cost_usd": rng.lognormal(-6, 0.3, k), "latency_ms": rng.lognormal(7, 0.3, k),
        "input_tokens": rng.integers(500, 4000, k), "output_tokens": rng.integers(50, 800, k),
        "source_file": ["bench"] * k,
    }})
baseline, candidate = side("b", 0.0), side("c", -0.003)
"""
FLOOR = """
started = time.perf_counter()
means = [s.group_by("item_id").agg(pl.col("score_value").mean()) for s in (baseline, candidate)]
joined = means[0].join(means[1], on="item_id")
mean = (joined["score_value_right"] - joined["score_value"]).mean()
print(peak_rss_mb(), time.perf_counter() - started, joined.height)
"""
DIFF = """
from pipelines.evals import diff
from pipelines.policy import EvalDiffPolicy
started = time.perf_counter()
pairs = diff.pair(diff.per_item(baseline, "quality"), diff.per_item(candidate, "quality"))
result = diff.compare(pairs, 30_000, EvalDiffPolicy())
q = result["quality"]
print(peak_rss_mb(), time.perf_counter() - started, q["n_items"], q["ci_low"], q["ci_high"],
      result["decision"])
"""


def bench_evals(items: int) -> None:
    print(f"\n== eval diff over {items:,} paired items, 2,000 bootstrap resamples ==")
    sides = SIDES.format(items=items)
    _, floor = run("floor: pair items + mean difference", sides + FLOOR)
    _, done = run("fleetledger diff (compare)", sides + DIFF)
    floor_s, diff_s = float(floor[1]), float(done[1])
    print(f"  {int(done[2]):,} paired items: 95 % CI [{float(done[3]):+.5f}, "
          f"{float(done[4]):+.5f}] (true −0.003), decision {done[5]}")  # fmt: skip
    print(f"  ratio diff = ours / floor = {diff_s:.2f} s / {floor_s:.2f} s = "
          f"{diff_s / floor_s:.1f}")  # fmt: skip
    record("evals", items=int(done[2]), floor_s=floor_s, ratio=diff_s / floor_s)
    target_line("evals", "diff_s", diff_s, 10, "s")
