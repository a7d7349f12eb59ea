#!/usr/bin/env python3
"""The demo view's work done by DuckDB: the same 15 trailing windows over the
same CSV, into day-partitioned Parquet (no Delta log, no online store).
The SQL is the view's (crates/quiver-core/templates/energy/features/
energy_features.sql) with DuckDB's spelling of the day number.

Usage: energy_duckdb.py CSV OUT_DIR
"""
import sys
import duckdb

csv, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"""
CREATE VIEW energy_daily AS SELECT * FROM read_csv('{csv}', header = true, columns = {{
  'household_id': 'VARCHAR', 'day': 'DATE', 'energy_median': 'DOUBLE', 'energy_mean': 'DOUBLE',
  'energy_max': 'DOUBLE', 'energy_count': 'BIGINT', 'energy_std': 'DOUBLE', 'energy_sum': 'DOUBLE',
  'energy_min': 'DOUBLE'}})
""")
windows = []
for suffix, days in (("3months", 90), ("6months", 180), ("1yr", 365)):
    frame = f"(PARTITION BY household ORDER BY day_index ROWS BETWEEN {days - 1} PRECEDING AND CURRENT ROW)"
    windows += [
        f"SUM(energy_sum) OVER {frame} AS energy_sum_{suffix}",
        f"SUM(energy_count) OVER {frame} AS energy_count_{suffix}",
        f"MAX(energy_max) OVER {frame} AS energy_max_{suffix}",
        f"AVG(energy_mean) OVER {frame} AS energy_mean_{suffix}",
        f"STDDEV_SAMP(energy_sum) OVER {frame} AS energy_stddev_{suffix}",
    ]
con.execute(f"""
COPY (
WITH readings AS (
    SELECT *, (day - DATE '1970-01-01')::BIGINT AS day_number, TRUE AS is_reading FROM energy_daily
),
calendar AS (
    SELECT household_id, unnest(generate_series(first_day, last_day)) AS day_number
    FROM (SELECT household_id, MIN(day_number) AS first_day, MAX(day_number) AS last_day
          FROM readings GROUP BY household_id)
),
every_day AS (
    SELECT COALESCE(c.household_id, r.household_id) AS household,
           COALESCE(c.day_number, r.day_number) AS day_index, r.*
    FROM calendar c FULL JOIN readings r
      ON r.household_id = c.household_id AND r.day_number = c.day_number
),
windowed AS (
    SELECT household_id AS id, day AS day_date, is_reading, energy_median, energy_mean,
           energy_max, energy_count, energy_std, energy_sum, energy_min,
           {", ".join(windows)}
    FROM every_day
)
SELECT * EXCLUDE (is_reading) FROM windowed WHERE is_reading
) TO '{out}' (FORMAT parquet, PARTITION_BY (day_date))
""")
