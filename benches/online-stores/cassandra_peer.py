"""The peer next to Quiver's Cassandra store: the reference design's own
workload, one prepared single-partition SELECT per random id, from the
DataStax Python driver (cassandra-driver), closed loop with WORKERS requests
in flight, token-aware, at LOCAL_ONE as Quiver reads.

It reads the same rows Quiver's store reads (the view's table, the current
layout generation from quiver_views, the newest event time first), so the
two differ only in the client.

Usage: cassandra_peer.py HOST:PORT KEYSPACE VIEW IDS_FILE WORKERS SECONDS
Prints one line: requests/s, p50, p99, p99.9 in microseconds, errors.
"""

import random
import sys
import threading
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.query import tuple_factory
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

WARMUP_SECONDS = 2.0


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


def main():
    address, keyspace, view, ids_file, workers, seconds = sys.argv[1:7]
    host, port = address.rsplit(":", 1)
    workers, seconds = int(workers), float(seconds)
    ids = [line.strip() for line in open(ids_file) if line.strip()]

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=ConsistencyLevel.LOCAL_ONE,
        request_timeout=10,
        row_factory=tuple_factory,
    )
    cluster = Cluster(
        [host], port=int(port), execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
    )
    session = cluster.connect(keyspace)
    generation = session.execute(
        "SELECT layout_generation FROM quiver_views WHERE view_name = %s", (view,)
    ).one()[0]
    columns = [
        row[0]
        for row in session.execute(
            "SELECT column_name FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, view),
        )
        if row[0] not in ("entity_key", "layout_generation")
    ]
    statement = session.prepare(
        "SELECT {} FROM \"{}\" WHERE entity_key = ? AND layout_generation = ? LIMIT 1".format(
            ", ".join('"{}"'.format(c) for c in columns), view
        )
    )

    latencies = []
    errors = [0]
    lock = threading.Lock()
    done = threading.Event()
    state = {"measuring": False, "stop": False, "in_flight": workers}

    def issue():
        key = random.choice(ids)
        started = time.perf_counter()
        future = session.execute_async(statement, (key, generation))
        future.add_callbacks(finished, failed, callback_args=(started,), errback_args=(started,))

    def next_or_stop():
        if state["stop"]:
            with lock:
                state["in_flight"] -= 1
                if state["in_flight"] == 0:
                    done.set()
        else:
            issue()

    def finished(rows, started):
        elapsed = time.perf_counter() - started
        if state["measuring"]:
            latencies.append(elapsed)
        next_or_stop()

    def failed(error, started):
        if state["measuring"]:
            errors[0] += 1
        next_or_stop()

    for _ in range(workers):
        issue()
    time.sleep(WARMUP_SECONDS)
    state["measuring"] = True
    begun = time.perf_counter()
    time.sleep(seconds)
    state["measuring"] = False
    measured = time.perf_counter() - begun
    state["stop"] = True
    done.wait(30)
    cluster.shutdown()

    values = sorted(latencies)
    print(
        "{:>9,.0f} req/s  p50 {:>7.1f} µs  p99 {:>8.1f} µs  p99.9 {:>8.1f} µs  errors {}".format(
            len(values) / measured,
            percentile(values, 0.50) * 1e6,
            percentile(values, 0.99) * 1e6,
            percentile(values, 0.999) * 1e6,
            errors[0],
        )
    )


if __name__ == "__main__":
    main()
