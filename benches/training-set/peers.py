#!/usr/bin/env python3
"""The training-set peers, on the same files as `quiver training-set`:

  entities  N OUT.parquet TABLE        a random entity file: N rows of an id of
                                       TABLE, a timestamp within its days, a label
  duckdb    ENTITIES TABLE OUT         DuckDB's ASOF LEFT JOIN
  pandas    ENTITIES TABLE OUT         pandas merge_asof (by id, backward)
  feast     ENTITIES TABLE OUT WORKDIR Feast's get_historical_features, DuckDB offline store

TABLE is the view's Delta table folder; its Parquet files are read with hive
partitioning (one version, so every file is live). Each writes OUT as Parquet
in the entity file's row order, with the four features of energy_model_v1.
"""
import os
import sys

FEATURES = ["energy_sum_3months", "energy_sum_1yr", "energy_stddev_3months", "energy_max_1yr"]


def files(table):
    return os.path.join(table, "*", "*.parquet")


def entities(n, out, table):
    import duckdb
    duckdb.sql(f"""
    COPY (
      WITH ids AS (SELECT DISTINCT id FROM read_parquet('{files(table)}', hive_partitioning = true)),
           numbered AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM ids),
           span AS (SELECT min(day_date)::TIMESTAMP AS lo, max(day_date)::TIMESTAMP AS hi
                    FROM read_parquet('{files(table)}', hive_partitioning = true)),
           draws AS (SELECT k, hash(k) % (SELECT count(*) FROM ids) AS i,
                            hash(k * 7) % CAST(epoch(hi) - epoch(lo) AS UBIGINT) AS offset_s
                     FROM range({n}) r(k), span)
      SELECT numbered.id,
             (span.lo + to_seconds(CAST(draws.offset_s AS BIGINT))) AT TIME ZONE 'UTC' AS event_timestamp,
             draws.k % 2 AS label
      FROM draws JOIN numbered USING (i), span
      ORDER BY draws.k
    ) TO '{out}' (FORMAT parquet)
    """)


def duckdb_asof(entities_file, table, out):
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    con.execute(f"""
    COPY (
      WITH e AS (SELECT *, row_number() OVER () AS quiver_row FROM read_parquet('{entities_file}')),
           f AS (SELECT id, day_date::TIMESTAMPTZ AS ts, {", ".join(FEATURES)}
                 FROM read_parquet('{files(table)}', hive_partitioning = true))
      SELECT e.id, e.event_timestamp, e.label, {cols}
      FROM e ASOF LEFT JOIN f ON e.id = f.id AND e.event_timestamp >= f.ts
      ORDER BY e.quiver_row
    ) TO '{out}' (FORMAT parquet)
    """)


def pandas_asof(entities_file, table, out):
    import pandas as pd
    import pyarrow.dataset as ds
    e = pd.read_parquet(entities_file)
    e["quiver_row"] = range(len(e))
    f = ds.dataset(table, format="parquet", partitioning="hive").to_table(
        columns=["id", "day_date", *FEATURES]).to_pandas()
    f["ts"] = pd.to_datetime(f["day_date"]).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    e["event_timestamp"] = pd.to_datetime(e["event_timestamp"], utc=True).astype("datetime64[us, UTC]")
    joined = pd.merge_asof(e.sort_values("event_timestamp"), f.sort_values("ts")[["id", "ts", *FEATURES]],
                           left_on="event_timestamp", right_on="ts", by="id", direction="backward")
    joined.sort_values("quiver_row")[["id", "event_timestamp", "label", *FEATURES]].to_parquet(out)


def feast(entities_file, table, out, workdir):
    import pandas as pd
    import pyarrow.dataset as ds
    from datetime import timedelta
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64
    os.makedirs(workdir, exist_ok=True)
    source_file = os.path.join(workdir, "energy_features.parquet")
    if not os.path.exists(source_file):
        f = ds.dataset(table, format="parquet", partitioning="hive").to_table(
            columns=["id", "day_date", *FEATURES]).to_pandas()
        f["day_ts"] = pd.to_datetime(f["day_date"]).dt.tz_localize("UTC")
        f.drop(columns=["day_date"]).to_parquet(source_file)
    with open(os.path.join(workdir, "feature_store.yaml"), "w") as y:
        y.write("project: quiver_bench\nregistry: registry.db\nprovider: local\n"
                "offline_store:\n  type: duckdb\nonline_store:\n  type: sqlite\n  path: online.db\n"
                "entity_key_serialization_version: 3\n")
    household = Entity(name="household", join_keys=["id"], value_type=ValueType.STRING)
    source = FileSource(path=source_file, timestamp_field="day_ts")
    view = FeatureView(name="energy_features", entities=[household], ttl=timedelta(days=36500),
                       schema=[Field(name=c, dtype=Float64) for c in FEATURES], source=source)
    store = FeatureStore(repo_path=workdir)
    store.apply([household, view])
    e = pd.read_parquet(entities_file)
    e["event_timestamp"] = pd.to_datetime(e["event_timestamp"], utc=True)
    result = store.get_historical_features(
        entity_df=e, features=[f"energy_features:{c}" for c in FEATURES]).to_df()
    result.to_parquet(out)
    print(f"feast rows {len(result)} of {len(e)}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"entities": lambda: entities(int(args[0]), args[1], args[2]),
     "duckdb": lambda: duckdb_asof(*args),
     "pandas": lambda: pandas_asof(*args),
     "feast": lambda: feast(*args)}[cmd]()
