#!/usr/bin/env bash
# Spark, the independent writer: PySpark + delta-spark writes the energy
# view's offline table; the `quiver` binary must list Spark's commit
# (`quiver log`), load the online store from it (`quiver materialize`) and
# build the training set Spark's own point-in-time join gives on the same files.
# Usage: tests/interop/quiver_reads_spark.sh PATH/TO/quiver
set -euo pipefail
export SPARK_LOCAL_IP=127.0.0.1  # Spark stays on loopback
here="$(cd "$(dirname "$0")" && pwd)"
quiver="$1"
SKIP_WARM="${SKIP_WARM:-1}" "$here/../../benches/pyspark/setup.sh" >/dev/null
python="${QUIVER_PYSPARK_VENV:-$HOME/.cache/quiver/pyspark-venv}/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
"$quiver" init "$repo" >/dev/null
"$quiver" datagen energy --households 4 --out "$repo/data/energy.csv" >/dev/null
"$quiver" apply --repo "$repo" >/dev/null
table="$repo/data/offline/energy_features"
"$python" "$here/quiver_reads_spark.py" write --csv "$repo/data/energy.csv" \
  --table "$table" --entities "$work/entities.csv"

"$quiver" log energy_features --repo "$repo" --format json > "$work/log.json"
grep -q '"writer": "Apache-Spark' "$work/log.json" || { echo "FAILED quiver log names Spark as the writer"; cat "$work/log.json"; exit 1; }
"$quiver" materialize energy_features --repo "$repo" --quiet
for id in MAC000002 MAC000003 MAC000004 MAC000005; do
  "$quiver" get energy_features --repo "$repo" --id "$id" --format json | tr -d '\n' >> "$work/online.jsonl"
  echo >> "$work/online.jsonl"
done
"$quiver" training-set --repo "$repo" --entities "$work/entities.csv" --quiet \
  --features energy_features:energy_sum,energy_features:energy_sum_3months,energy_features:energy_count,energy_features:energy_max_1yr \
  --out "$work/training.parquet"
"$python" "$here/quiver_reads_spark.py" check --table "$table" --entities "$work/entities.csv" \
  --training "$work/training.parquet" --online "$work/online.jsonl"
