#!/usr/bin/env python3
"""Spark (with Delta Lake from Maven Central) reads the offline table Quiver
wrote and must see exactly what `quiver history` sees, at the latest version
and, by time travel, at version 0.

Usage: spark_reads_quiver.py --table DIR --history-latest FILE --history-v0 FILE
where each FILE holds `quiver history … --format json` outputs, one per line.
Prints "interop: N passed, M failed" and exits non-zero on any failure.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../benches/pyspark"))


def load_history(path):
    rows = {}
    with open(path) as f:
        for line in f:
            for row in json.loads(line):
                rows[(row["id"], row["day_date"])] = row
    return rows


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--history-latest", required=True)
    ap.add_argument("--history-v0", required=True)
    args = ap.parse_args()

    from common import make_spark

    spark = make_spark("quiver-interop", driver_memory="1g")
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAILED {name}: {detail}", file=sys.stderr)

    for version, history_file in ((None, args.history_latest), (0, args.history_v0)):
        expected = load_history(history_file)
        ids = sorted({k[0] for k in expected})
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(os.path.abspath(args.table)).where(
            __import__("pyspark.sql.functions", fromlist=["col"]).col("id").isin(ids)
        )
        got = {}
        for row in df.collect():
            d = row.asDict()
            d["day_date"] = d["day_date"].isoformat()
            got[(d["id"], d["day_date"])] = d
        label = f"version {version if version is not None else 'latest'}"
        check(f"{label}: same rows", set(got) == set(expected),
              f"spark {len(got)} rows, quiver {len(expected)} rows")
        mismatches = [
            (key, column, got[key][column], value)
            for key, row in expected.items() if key in got
            for column, value in row.items()
            if not same(got[key].get(column), value)
        ]
        check(f"{label}: same values", not mismatches, str(mismatches[:5]))
        types = dict(df.dtypes)
        check(f"{label}: types", types.get("day_date") == "date"
              and types.get("energy_count_1yr") == "bigint"
              and types.get("energy_sum_3months") == "double", str(types))

    spark.stop()
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
