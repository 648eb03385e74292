"""A Dask cluster of worker processes for the cluster tests (issue 22)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dask_cluster(s3_endpoint):
    """The scheduler address of a local cluster of 2 worker processes, 1 thread each (as
    a cluster of one-core machines), for the session (it takes 4-7 s to start). Its
    workers are nanny-managed: one killed is restarted. They start after the session's
    S3 server, with its AWS environment: workers reach a bucket with their own."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address
