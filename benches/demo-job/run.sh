#!/usr/bin/env bash
# The full demo job — 5,560 households, about 3.5 million rows: read the CSV,
# compute the 15 window features, write the Delta table and the online store —
# timed against the same job in PySpark local[2] (benches/pyspark/energy_job.py)
# in the same run, alternating the two so machine noise hits both alike.
#
# Usage: benches/demo-job/run.sh [RUNS]     (default 3)
# Prints one line per run and the medians; wall time and peak RSS from GNU time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
# The same feature set as the test build, so no second DataFusion build.
cargo build --release --workspace --bins --examples --manifest-path "$root/Cargo.toml" >&2
quiver="$CARGO_TARGET_DIR/release/quiver"
"$root/benches/pyspark/setup.sh" >/dev/null
python="${QUIVER_PYSPARK_VENV:-$HOME/.cache/quiver/pyspark-venv}/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$quiver" datagen energy --out "$work/energy.csv" >&2

measure() { # prints "seconds peak_MiB" for the command
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  awk '{ printf "%.1f %.0f\n", $1, $2 / 1024 }' "$work/time"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ)"
echo "run quiver_s quiver_MiB pyspark_s pyspark_MiB"
for i in $(seq "$runs"); do
  rm -rf "$work/repo" "$work/spark"
  "$quiver" init "$work/repo" >/dev/null
  mkdir -p "$work/repo/data"
  ln "$work/energy.csv" "$work/repo/data/energy.csv"
  "$quiver" apply --repo "$work/repo" >/dev/null
  q="$(measure "$quiver" run energy_features --repo "$work/repo" --quiet)"
  rows="$(grep -o 'read [0-9,]* source rows' "$work/out")"
  s="$(measure "$python" "$root/benches/pyspark/energy_job.py" --csv "$work/energy.csv" --out "$work/spark")"
  echo "$i $q $s   ($rows)"
done | tee "$work/runs"
python3 - "$work/runs" <<'PY'
import statistics, sys
rows = [line.split()[1:5] for line in open(sys.argv[1]) if line[:1].isdigit()]
q, qm, s, sm = (statistics.median(float(r[i]) for r in rows) for i in range(4))
print(f"median of {len(rows)}: quiver {q:.1f} s, {qm:.0f} MiB; pyspark {s:.1f} s, {sm:.0f} MiB; "
      f"pyspark/quiver time {s / q:.1f}x, quiver/pyspark memory {qm / sm:.1f}x")
PY
