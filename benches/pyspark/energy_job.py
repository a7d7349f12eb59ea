#!/usr/bin/env python3
"""Peer benchmark: the Quiver energy feature job done in PySpark + Delta Lake (local[2]).

Reads the per-household daily energy CSV, computes trailing calendar-day window
features (90/180/365 days ending at and including the row's day) and writes a
Delta table partitioned by day_date.  Prints one JSON line with timings.
"""
import argparse
import json
import os
import sys
import time

T0 = time.perf_counter()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402
from pyspark.sql.window import Window  # noqa: E402

from common import make_spark  # noqa: E402

RAW = ["energy_median", "energy_mean", "energy_max", "energy_count",
       "energy_std", "energy_sum", "energy_min"]
WINDOWS = [("3months", 90), ("6months", 180), ("1yr", 365)]

CSV_SCHEMA = T.StructType([
    T.StructField("household_id", T.StringType()),
    T.StructField("day", T.StringType()),
    T.StructField("energy_median", T.DoubleType()),
    T.StructField("energy_mean", T.DoubleType()),
    T.StructField("energy_max", T.DoubleType()),
    T.StructField("energy_count", T.IntegerType()),
    T.StructField("energy_std", T.DoubleType()),
    T.StructField("energy_sum", T.DoubleType()),
    T.StructField("energy_min", T.DoubleType()),
])


def build(spark, csv_path):
    df = (spark.read.option("header", "true").option("mode", "FAILFAST")
          .schema(CSV_SCHEMA).csv(csv_path))
    df = df.select(
        F.col("household_id").alias("id"),
        F.to_date("day", "yyyy-MM-dd").alias("day_date"),
        *RAW,
    ).withColumn("_d", F.unix_date("day_date"))  # days since epoch -> RANGE frame in calendar days

    feats = []
    for suffix, days in WINDOWS:
        w = Window.partitionBy("id").orderBy("_d").rangeBetween(-(days - 1), 0)
        feats += [
            F.sum("energy_sum").over(w).alias(f"energy_sum_{suffix}"),
            F.sum("energy_count").over(w).alias(f"energy_count_{suffix}"),
            F.max("energy_max").over(w).alias(f"energy_max_{suffix}"),
            F.avg("energy_mean").over(w).alias(f"energy_mean_{suffix}"),
            F.stddev_samp("energy_sum").over(w).alias(f"energy_stddev_{suffix}"),
        ]
    return df.select("id", "day_date", *RAW, *feats)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()

    spark = make_spark("quiver-energy-peer", args.driver_memory, args.shuffle_partitions, args.master)
    t_spark = time.perf_counter()
    out = build(spark, os.path.abspath(args.csv))
    # one shuffle on the partition column => one file per day_date directory
    (out.repartition("day_date")
        .write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        .partitionBy("day_date").save(os.path.abspath(args.out)))
    t_job = time.perf_counter()

    # rows written from the Delta commit metrics (no re-scan of the table)
    from delta.tables import DeltaTable
    h = DeltaTable.forPath(spark, os.path.abspath(args.out)).history(1).collect()[0]
    rows = int(h["operationMetrics"]["numOutputRows"])
    files = int(h["operationMetrics"]["numFiles"])
    version = int(h["version"])
    # PySpark launches the JVM as a child but never waits for it, so /usr/bin/time -v would not
    # see its memory/CPU.  Close the gateway's stdin (the JVM exits on EOF) and reap it here.
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    spark.stop()
    if proc is not None:
        try:
            proc.stdin.close()
            proc.wait(timeout=60)
        except Exception as e:  # never fail the benchmark over this
            print(f"warning: JVM not reaped: {e}", file=sys.stderr)
    t_end = time.perf_counter()
    print(json.dumps({
        "engine": "pyspark",
        "pyspark": __import__("pyspark").__version__,
        "delta_spark": __import__("importlib.metadata").metadata.version("delta-spark"),
        "master": args.master,
        "rows": rows,
        "files": files,
        "delta_version": version,
        "seconds": round(t_end - T0, 3),           # total wall time of the script
        "job_seconds": round(t_job - t_spark, 3),  # read CSV -> compute -> Delta commit
        "startup_seconds": round(t_spark - T0, 3),  # python imports + JVM + SparkSession
    }), flush=True)


if __name__ == "__main__":
    main()
