#!/usr/bin/env python3
"""The other direction of the Spark interop: PySpark + delta-spark writes a
feature view's offline table; Quiver must read it (log, materialize) and build
the same point-in-time training set that Spark computes from the same files.

Usage:
  quiver_reads_spark.py write --csv FILE --table DIR --entities FILE
      Spark computes the energy features from FILE into the Delta table DIR
      (the view's declared columns and types), and writes an entity file
      (id, event_timestamp, label) with rows before, at and between feature days.
  quiver_reads_spark.py check --table DIR --entities FILE --training FILE --online FILE
      Spark's point-in-time join of the entity file to DIR must equal Quiver's
      training set (Parquet), row for row, and Spark's latest row per id must
      equal what `quiver get --format json` (FILE) answered after materialize.
Prints "interop: N passed, M failed" and exits non-zero on any failure.
"""
import argparse
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../benches/pyspark"))

FEATURES = ["energy_sum", "energy_sum_3months", "energy_count", "energy_max_1yr"]


def write(args):
    from pyspark.sql import functions as F
    from common import make_spark
    from energy_job import build

    spark = make_spark("quiver-interop-write", driver_memory="1g", shuffle_partitions=2)
    df = build(spark, os.path.abspath(args.csv))
    # The view declares every count as int64 (Delta `long`).
    for name, dtype in df.dtypes:
        if dtype == "int":
            df = df.withColumn(name, F.col(name).cast("long"))
    (df.repartition("day_date").write.format("delta").mode("overwrite")
       .partitionBy("day_date").save(os.path.abspath(args.table)))
    days = sorted(r[0] for r in df.select("day_date").distinct().collect())
    ids = sorted(r[0] for r in df.select("id").distinct().collect())
    spark.stop()

    rng = random.Random(7)
    with open(args.entities, "w") as f:
        f.write("id,event_timestamp,label\n")
        rows = [(ids[0], f"{days[0]}T00:00:00Z"),            # exactly at the first feature day
                (ids[0], "2001-01-01T00:00:00Z"),             # before any feature row
                ("MAC999999", f"{days[-1]}T00:00:00Z")]       # an id the table does not have
        for _ in range(300):
            day = rng.choice(days)
            rows.append((rng.choice(ids), f"{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"))
        rows.append(rows[5])                                  # a duplicate row
        for i, (id_, ts) in enumerate(rows):
            f.write(f"{id_},{ts},row{i}\n")
    print(f"spark wrote {args.table}; {len(rows)} entity rows")


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def check(args):
    from pyspark.sql import Window, functions as F
    from common import make_spark

    spark = make_spark("quiver-interop-check", driver_memory="1g", shuffle_partitions=2)
    passed, failed = 0, 0

    def expect(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAILED {name}: {detail}", file=sys.stderr)

    table = spark.read.format("delta").load(os.path.abspath(args.table))
    entities = (spark.read.option("header", "true").csv(os.path.abspath(args.entities))
                .withColumn("row", F.monotonically_increasing_id())
                .withColumn("ts", F.to_timestamp("event_timestamp")))
    # Spark's point-in-time join: the latest feature day at or before ts.
    joined = (entities.join(table, (entities.id == table.id)
                            & (F.to_timestamp(table.day_date) <= entities.ts), "left")
              .withColumn("rank", F.row_number().over(
                  Window.partitionBy("row").orderBy(F.col("day_date").desc_nulls_last())))
              .where("rank = 1")
              .select("label", *[table[c].alias(c) for c in FEATURES]))
    spark_rows = {r["label"]: r.asDict() for r in joined.collect()}
    quiver = spark.read.parquet(os.path.abspath(args.training)).collect()
    labels = [r["label"] for r in quiver]
    expected_labels = [r["label"] for r in entities.orderBy("row").collect()]
    expect("training set keeps every row in order", labels == expected_labels,
           f"{len(labels)} rows vs {len(expected_labels)}")
    mismatches = [(r["label"], c, r[c], spark_rows[r["label"]][c])
                  for r in quiver if r["label"] in spark_rows
                  for c in FEATURES if not same(r[c], spark_rows[r["label"]][c])]
    expect("training set equals Spark's point-in-time join", not mismatches, str(mismatches[:5]))
    with_features = sum(1 for r in quiver if r["energy_sum"] is not None)
    expect("some rows have features and some do not", 0 < with_features < len(quiver),
           f"{with_features} of {len(quiver)}")

    latest = (table.withColumn("rank", F.row_number().over(
        Window.partitionBy("id").orderBy(F.col("day_date").desc())))
        .where("rank = 1").collect())
    online = {}
    with open(args.online) as f:
        for line in f:
            for obj in json.loads(line):
                online[obj["id"]] = obj
    for row in latest:
        got = online.get(row["id"])
        expect(f"online row of {row['id']} found", got is not None and got["status"] == "found",
               str(got))
        if got and got["status"] == "found":
            bad = [(c, got["features"][c], row[c]) for c in FEATURES
                   if not same(got["features"][c], row[c])]
            expect(f"online row of {row['id']} equals Spark's latest", not bad, str(bad))
            expect(f"online day of {row['id']}", got["day_date"].startswith(str(row["day_date"])),
                   f"{got['day_date']} vs {row['day_date']}")
    spark.stop()
    print(f"interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--csv", required=True)
    w.add_argument("--table", required=True)
    w.add_argument("--entities", required=True)
    c = sub.add_parser("check")
    c.add_argument("--table", required=True)
    c.add_argument("--entities", required=True)
    c.add_argument("--training", required=True)
    c.add_argument("--online", required=True)
    args = ap.parse_args()
    write(args) if args.cmd == "write" else check(args)


if __name__ == "__main__":
    main()
