#!/usr/bin/env python3
"""Independent reader: open a Delta table (e.g. written by delta-rs) with Spark + Delta Lake,
print schema, row count, number of distinct partition values and a few rows as JSON.
Exits non-zero on any error or on a row-count mismatch with --expect-rows."""
import argparse
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--table", required=True)
    ap.add_argument("--expect-rows", type=int)
    ap.add_argument("--version", type=int, help="time travel: versionAsOf")
    ap.add_argument("--rows", type=int, default=5, help="rows to dump as JSON (sorted by id, day_date)")
    ap.add_argument("--partition-col", default="day_date")
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    path = os.path.abspath(args.table)
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        print(f"ERROR: {path} has no _delta_log directory", file=sys.stderr)
        return 2

    from common import make_spark
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    spark = make_spark("quiver-delta-reader", args.driver_memory)
    spark.conf.set("spark.sql.jsonGenerator.ignoreNullFields", "false")  # show nulls in the JSON dump
    try:
        reader = spark.read.format("delta")
        if args.version is not None:
            reader = reader.option("versionAsOf", args.version)
        df = reader.load(path)

        dt = DeltaTable.forPath(spark, path)
        detail = dt.detail().collect()[0]
        last = dt.history(1).collect()[0]
        print(json.dumps({
            "table": path,
            "latest_version": int(last["version"]),
            "read_version": args.version if args.version is not None else int(last["version"]),
            "latest_operation": last["operation"],
            "min_reader_version": detail["minReaderVersion"],
            "min_writer_version": detail["minWriterVersion"],
            "table_features": sorted(detail["tableFeatures"] or []) if "tableFeatures" in detail.asDict() else None,
            "partition_columns": list(detail["partitionColumns"] or []),
            "num_files_latest": detail["numFiles"],
        }))
        print("schema:")
        df.printSchema()

        # one pass: row count + distinct partitions
        pc = args.partition_col
        if pc in df.columns:
            agg = df.agg(F.count(F.lit(1)).alias("n"), F.countDistinct(pc).alias("p")).collect()[0]
            rows, parts = int(agg["n"]), int(agg["p"])
        else:
            rows, parts = df.count(), None
        print(json.dumps({"rows": rows, f"distinct_{pc}": parts}))

        sort_cols = [c for c in ("id", pc) if c in df.columns]
        sample = df.orderBy(*sort_cols) if sort_cols else df
        print(f"first {args.rows} rows sorted by {sort_cols}:")
        for line in sample.limit(args.rows).toJSON().collect():
            print(line)

        if args.expect_rows is not None and rows != args.expect_rows:
            print(f"ERROR: row count mismatch: got {rows}, expected {args.expect_rows}", file=sys.stderr)
            return 3
        print("OK")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        spark.stop()


if __name__ == "__main__":
    try:
        rc = main()
    except Exception:
        traceback.print_exc()
        rc = 1
    sys.exit(rc)
