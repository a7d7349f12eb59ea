#!/usr/bin/env bash
# Spark, the independent reader: a repository written by the `quiver` binary
# (two job runs, so two Delta versions) is read by PySpark + Delta Lake, which
# must agree with `quiver history` row for row, including time travel.
# Usage: tests/interop/spark_reads_quiver.sh PATH/TO/quiver
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
mkdir -p "$repo/data"
"$quiver" datagen energy --households 4 --out "$work/full.csv" >/dev/null
grep -v ',2014-02-2[0-9],' "$work/full.csv" > "$repo/data/energy.csv"
"$quiver" apply --repo "$repo" >/dev/null
"$quiver" run energy_features --repo "$repo" --quiet >/dev/null
for id in MAC000002 MAC000003 MAC000004 MAC000005; do
  "$quiver" history energy_features --repo "$repo" --id "$id" --format json >> "$work/v0.jsonl"
done
cp "$work/full.csv" "$repo/data/energy.csv"
"$quiver" run energy_features --repo "$repo" --quiet >/dev/null
for id in MAC000002 MAC000003 MAC000004 MAC000005; do
  "$quiver" history energy_features --repo "$repo" --id "$id" --format json >> "$work/latest.jsonl"
done
"$python" "$here/spark_reads_quiver.py" --table "$repo/data/offline/energy_features" \
  --history-latest "$work/latest.jsonl" --history-v0 "$work/v0.jsonl"
