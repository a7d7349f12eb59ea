#!/usr/bin/env bash
# Feast's own client reads Quiver's server: Feast's Python SDK (feast==0.67.*
# from PyPI, in a venv cached under ~/.cache/quiver) with
# `online_store: type: remote` pointed at `quiver serve`, through
# FeatureStore.get_online_features, must return what `quiver get` says for
# the same ids. A missing Python, pip or PyPI fails the step; it never skips.
# Usage: tests/interop/feast_reads_quiver.sh PATH/TO/quiver  (or QUIVER=PATH)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
quiver="${1:-${QUIVER:?usage: $0 PATH/TO/quiver}}"

# A venv named by QUIVER_FEAST_VENV is the user's: used, never replaced.
venv="${QUIVER_FEAST_VENV:-$HOME/.cache/quiver/feast-venv}"
if ! "$venv/bin/python" -c 'import feast, sys; sys.exit(not feast.__version__.startswith("0.67."))' 2>/dev/null; then
  [ -z "${QUIVER_FEAST_VENV:-}" ] || { echo "$venv has no feast 0.67 (pip install 'feast==0.67.*')" >&2; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install --quiet 'feast==0.67.*' || { echo "pip could not install feast==0.67.*" >&2; exit 1; }
fi

# shellcheck source=tests/interop/serve_demo.sh
source "$here/serve_demo.sh"

"$venv/bin/python" "$here/feast_reads_quiver.py" --url "http://$http" --repo-dir "$work/feast" \
  --expected "$work/quiver_get.json" --ids "${found[@]}" --missing "$missing"
