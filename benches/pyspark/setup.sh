#!/usr/bin/env bash
# Idempotent, non-interactive setup for the PySpark + Delta Lake peer benchmark.
# Creates a venv in ./.venv with pinned packages; Delta jars are resolved from
# Maven Central on first Spark start (configure_spark_with_delta_pip) and cached in ~/.ivy2.
set -euo pipefail
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"  # Spark stays on loopback
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${QUIVER_PYSPARK_VENV:-$HOME/.cache/quiver/pyspark-venv}"
PYSPARK_VERSION=3.5.5
DELTA_SPARK_VERSION=3.3.2   # delta-spark 3.3.x requires pyspark >=3.5.3,<3.6 ; Maven: io.delta:delta-spark_2.12:3.3.2
if ! command -v java >/dev/null 2>&1; then
  echo "java not found: installing openjdk-17-jre-headless via apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless
fi
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "pyspark==$PYSPARK_VERSION" "delta-spark==$DELTA_SPARK_VERSION"
# Warm the ivy cache (downloads io.delta jars from Maven Central once).
if [ "${SKIP_WARM:-0}" != "1" ]; then
  PYTHONPATH="$HERE" "$VENV/bin/python" - <<'PY'
from common import make_spark
spark = make_spark("quiver-setup-warm", driver_memory="1g")
print("spark", spark.version, "ok; delta jars cached in ~/.ivy2")
spark.stop()
PY
fi
echo "setup done: $VENV"
