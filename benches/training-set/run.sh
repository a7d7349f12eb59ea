#!/usr/bin/env bash
# Point-in-time training sets on the demo history (5,560 households, 3.5 M
# rows), in the same run:
#   ENTITY_ROWS (default 1,000,000) rows: quiver training-set, DuckDB's ASOF
#   LEFT JOIN and pandas merge_asof over the same table files;
#   FEAST_ROWS (default 100,000) rows: quiver training-set and Feast 0.67's
#   get_historical_features with its DuckDB offline store.
# Then materialize: the whole table into the embedded online store, and an
# incremental materialize after a one-day append.
# Every output is checked against Quiver's (same rows, same values).
#
# Usage: benches/training-set/run.sh [RUNS] [ENTITY_ROWS] [FEAST_ROWS]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-3}"
entity_rows="${2:-1000000}"
feast_rows="${3:-100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
cargo build --release --locked --workspace --bins --examples --manifest-path "$root/Cargo.toml" >&2
quiver="$CARGO_TARGET_DIR/release/quiver"
venv="${QUIVER_BENCH_VENV:-$HOME/.cache/quiver/bench-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q duckdb pandas pyarrow 'feast[duckdb]==0.67.*'; }
python="$venv/bin/python"
peers="$root/benches/training-set/peers.py"

work="${QUIVER_BENCH_WORK:-$(mktemp -d)}"
trap 'rm -rf "$work"' EXIT
measure() { # COMMAND... ; prints "seconds peak_MiB"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  awk '{ printf "%.1f %.0f\n", $1, $2 / 1024 }' "$work/time"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
same() { # A B : the two training sets hold the same rows and values
  "$python" - "$1" "$2" <<'PY'
import sys, numpy as np, pandas as pd
a, b = (pd.read_parquet(p) for p in sys.argv[1:3])
for df in (a, b):
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True).astype("datetime64[us, UTC]")
cols = ["energy_sum_3months", "energy_sum_1yr", "energy_stddev_3months", "energy_max_1yr"]
key = ["id", "event_timestamp", "label"]
a, b = (df.sort_values(key, kind="stable").reset_index(drop=True) for df in (a, b))
ok = len(a) == len(b) and (a[key].values == b[key].values).all() and all(
    np.allclose(a[c].astype(float), b[c].astype(float), equal_nan=True) for c in cols)
sys.exit(0 if ok else f"{sys.argv[2]} differs from {sys.argv[1]}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ); quiver $(git -C "$root" rev-parse --short HEAD)"
repo="$work/repo"
"$quiver" init "$repo" >/dev/null && mkdir -p "$repo/data"
"$quiver" datagen energy --out "$work/full.csv" >/dev/null
last_day="$(tail -1 "$work/full.csv" | cut -d, -f2)"
grep -v ",$last_day," "$work/full.csv" >"$repo/data/energy.csv"
"$quiver" apply --repo "$repo" >/dev/null
"$quiver" run energy_features --repo "$repo" --quiet >/dev/null
table="$repo/data/offline/energy_features"
"$python" "$peers" entities "$entity_rows" "$work/entities.parquet" "$table"
"$python" "$peers" entities "$feast_rows" "$work/entities-feast.parquet" "$table"

echo "== training set, $entity_rows entity rows, $(($(wc -l <"$work/full.csv") - 1)) history rows minus the last day"
echo "run tool seconds peak_MiB"
: >"$work/t.quiver"; : >"$work/t.duckdb"; : >"$work/t.pandas"
for i in $(seq "$runs"); do
  read -r s m < <(measure "$quiver" training-set --repo "$repo" --entities "$work/entities.parquet" \
    --feature-service energy_model_v1 --out "$work/quiver.parquet" --quiet)
  echo "$i quiver $s $m"; echo "$s" >>"$work/t.quiver"
  read -r s m < <(measure "$python" "$peers" duckdb "$work/entities.parquet" "$table" "$work/duckdb.parquet")
  echo "$i duckdb-asof $s $m"; echo "$s" >>"$work/t.duckdb"
  read -r s m < <(measure "$python" "$peers" pandas "$work/entities.parquet" "$table" "$work/pandas.parquet")
  echo "$i pandas-merge_asof $s $m"; echo "$s" >>"$work/t.pandas"
done
same "$work/quiver.parquet" "$work/duckdb.parquet"
same "$work/quiver.parquet" "$work/pandas.parquet"
q=$(median <"$work/t.quiver"); d=$(median <"$work/t.duckdb"); p=$(median <"$work/t.pandas")
echo "median: quiver $q s, duckdb $d s, pandas $p s; quiver/duckdb $(awk -v a="$q" -v b="$d" 'BEGIN{printf "%.2f", a/b}'), quiver/pandas $(awk -v a="$q" -v b="$p" 'BEGIN{printf "%.2f", a/b}'); outputs equal"

echo "== training set, $feast_rows entity rows: quiver and Feast 0.67 (DuckDB offline store)"
"$python" "$peers" feast "$work/entities-feast.parquet" "$table" "$work/feast-warm.parquet" "$work/feast" >/dev/null 2>&1 # registry and source file
: >"$work/t.quiver"; : >"$work/t.feast"
for i in $(seq "$runs"); do
  read -r s m < <(measure "$quiver" training-set --repo "$repo" --entities "$work/entities-feast.parquet" \
    --feature-service energy_model_v1 --out "$work/quiver-feast-size.parquet" --quiet)
  echo "$i quiver $s $m"; echo "$s" >>"$work/t.quiver"
  read -r s m < <(measure "$python" "$peers" feast "$work/entities-feast.parquet" "$table" "$work/feast.parquet" "$work/feast")
  echo "$i feast $s $m"; echo "$s" >>"$work/t.feast"
done
same "$work/quiver-feast-size.parquet" "$work/feast.parquet"
q=$(median <"$work/t.quiver"); f=$(median <"$work/t.feast")
echo "median: quiver $q s, feast $f s; feast/quiver $(awk -v a="$f" -v b="$q" 'BEGIN{printf "%.1f", a/b}'); outputs equal"

echo "== materialize into the embedded store"
: >"$work/t.full"; : >"$work/t.inc"
v0_rows=$(($(wc -l <"$repo/data/energy.csv") - 1))
cp "$work/full.csv" "$repo/data/energy.csv"
"$quiver" run energy_features --repo "$repo" --quiet >/dev/null   # version 1: the last day
for i in $(seq "$runs"); do
  rm -rf "$repo/data/online"
  read -r s m < <(measure "$quiver" materialize energy_features --repo "$repo" --as-of-version 0 --quiet)
  echo "$i materialize-full-v0 $s $m"; echo "$s" >>"$work/t.full"
  read -r s m < <(measure "$quiver" materialize-incremental energy_features --repo "$repo" --quiet)
  echo "$i materialize-incremental-one-day $s $m"; echo "$s" >>"$work/t.inc"
  grep -q "1 added files" "$work/out" || { cat "$work/out"; exit 1; }
done
f=$(median <"$work/t.full"); n=$(median <"$work/t.inc")
echo "median: full materialize of $v0_rows table rows (latest of 5,560 entities) $f s = $(awk -v r="$v0_rows" -v s="$f" 'BEGIN{printf "%.0f", r/s}') rows/s; incremental after a one-day append $n s; full/incremental $(awk -v a="$f" -v b="$n" 'BEGIN{printf "%.1f", a/b}')"
