#!/usr/bin/env bash
# The feature job at the demo's size and at ten times it, against DuckDB doing
# the same 15 windows from the same CSV into day-partitioned Parquet, in the
# same run (alternating, so machine noise hits both alike); at the demo's size
# also the previous Quiver binary, if given.
#
# Usage: benches/offline-job/run.sh [RUNS] [SIZES] [PREVIOUS_QUIVER]
#   RUNS   runs per size and tool (default 2)
#   SIZES  households, comma-separated (default 5560,55600: 3.5 M and 35 M rows)
# Prints one line per run (wall seconds, peak RSS MiB from GNU time) and the
# medians and ratios per size.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-2}"
sizes="${2:-5560,55600}"
previous="${3:-}"
# QUIVER_BIN: a release `quiver` already built from this checkout (skips the
# build, which otherwise makes the benches' own feature set).
if [ -n "${QUIVER_BIN:-}" ]; then
  quiver="$QUIVER_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
  cargo build --release --locked --workspace --bins --examples --manifest-path "$root/Cargo.toml" >&2
  quiver="$CARGO_TARGET_DIR/release/quiver"
fi
venv="${QUIVER_BENCH_VENV:-$HOME/.cache/quiver/bench-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q duckdb==1.* pandas pyarrow; }
python="$venv/bin/python"

work="${QUIVER_BENCH_WORK:-$(mktemp -d)}"
trap 'rm -rf "$work"' EXIT
measure() { # LABEL COMMAND... ; prints "seconds peak_MiB"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  awk '{ printf "%.1f %.0f\n", $1, $2 / 1024 }' "$work/time"
}
quiver_job() { # BINARY CSV
  rm -rf "$work/repo" && "$1" init "$work/repo" >/dev/null
  mkdir -p "$work/repo/data" && ln -sf "$2" "$work/repo/data/energy.csv"
  "$1" apply --repo "$work/repo" >/dev/null
  measure "$1" run energy_features --repo "$work/repo" --quiet
}
duckdb_job() { # CSV
  rm -rf "$work/duckdb-out"
  measure "$python" "$root/benches/offline-job/energy_duckdb.py" "$1" "$work/duckdb-out"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ); quiver $(git -C "$root" rev-parse --short HEAD)"
for households in ${sizes//,/ }; do
  csv="$work/energy-$households.csv"
  "$quiver" datagen energy --households "$households" --out "$csv" >/dev/null
  rows=$(($(wc -l <"$csv") - 1))
  echo "== $households households, $rows rows"
  echo "run tool seconds peak_MiB"
  : >"$work/q" ; : >"$work/d" ; : >"$work/p"
  for i in $(seq "$runs"); do
    read -r s m < <(quiver_job "$quiver" "$csv"); echo "$i quiver $s $m"; echo "$s $m" >>"$work/q"
    read -r s m < <(duckdb_job "$csv"); echo "$i duckdb $s $m"; echo "$s $m" >>"$work/d"
    if [ -n "$previous" ] && [ "$households" -le 5560 ]; then
      read -r s m < <(quiver_job "$previous" "$csv"); echo "$i quiver-previous $s $m"; echo "$s $m" >>"$work/p"
    fi
  done
  qs=$(cut -d' ' -f1 "$work/q" | median); qm=$(cut -d' ' -f2 "$work/q" | median)
  ds=$(cut -d' ' -f1 "$work/d" | median); dm=$(cut -d' ' -f2 "$work/d" | median)
  echo "median $households: quiver ${qs} s ${qm} MiB; duckdb ${ds} s ${dm} MiB; time ratio quiver/duckdb $(awk -v a="$qs" -v b="$ds" 'BEGIN{printf "%.2f", a/b}')"
  if [ -s "$work/p" ]; then
    ps=$(cut -d' ' -f1 "$work/p" | median); pm=$(cut -d' ' -f2 "$work/p" | median)
    echo "median $households: previous quiver ${ps} s ${pm} MiB"
  fi
done
