"""A Dask cluster of worker processes for the cluster tests (filled in by issue 22)."""
