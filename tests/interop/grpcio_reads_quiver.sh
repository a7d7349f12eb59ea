#!/usr/bin/env bash
# A gRPC client that is not Quiver's reads Quiver's server: Python grpcio
# (the C-core client, with upb protobuf; grpcio-tools from PyPI in a venv
# cached under ~/.cache/quiver) compiles proto/quiver/serving/v1/serving.proto
# and calls `quiver serve`. Both answers, Feast's shape and the columnar one
# (whose bytes Quiver writes without prost), must decode, agree cell by cell,
# and hold what `quiver get` says for the same ids. A missing Python, pip or
# PyPI fails the step; it never skips.
# Usage: tests/interop/grpcio_reads_quiver.sh PATH/TO/quiver  (or QUIVER=PATH)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
quiver="${1:-${QUIVER:?usage: $0 PATH/TO/quiver}}"

# A venv named by QUIVER_GRPCIO_VENV is the user's: used, never replaced.
venv="${QUIVER_GRPCIO_VENV:-$HOME/.cache/quiver/grpcio-venv}"
if ! "$venv/bin/python" -c 'import grpc_tools, sys; from importlib.metadata import version
sys.exit(not version("grpcio-tools").startswith("1.85."))' 2>/dev/null; then
  [ -z "${QUIVER_GRPCIO_VENV:-}" ] || { echo "$venv has no grpcio-tools 1.85 (pip install 'grpcio-tools==1.85.*')" >&2; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install --quiet 'grpcio-tools==1.85.*' || { echo "pip could not install grpcio-tools==1.85.*" >&2; exit 1; }
fi

# shellcheck source=tests/interop/serve_demo.sh
source "$here/serve_demo.sh"

mkdir -p "$work/gen"
"$venv/bin/python" -m grpc_tools.protoc -I "$root/proto" --python_out="$work/gen" \
  --grpc_python_out="$work/gen" quiver/serving/v1/serving.proto

PYTHONPATH="$work/gen" "$venv/bin/python" "$here/grpcio_reads_quiver.py" --target "$grpc" \
  --quiver-toml "$repo/quiver.toml" --expected "$work/quiver_get.json" \
  --ids "${found[@]}" --missing "$missing"
