"""Task runner: with no Client, a temporary LocalCluster of worker processes, closed after."""

from __future__ import annotations

import os

from xdifferland.tasks import client_for, run_tasks


def _where(x):
    return x * x, os.getpid()


def test_no_client_means_a_temporary_local_cluster():
    from distributed import LocalCluster

    with client_for(None, n_workers=1) as client:
        cluster = client.cluster
        assert isinstance(cluster, LocalCluster)
        assert len(client.scheduler_info()["workers"]) == 1
    assert client.status == "closed" and cluster.status.name == "closed"
    results = run_tasks(_where, [(2,), (3,)], client=None, n_workers=1)
    assert [r for r, _ in results] == [4, 9]
    assert {pid for _, pid in results} != {os.getpid()}  # ran in a worker process
