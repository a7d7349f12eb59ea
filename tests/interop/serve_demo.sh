# Shared by the interop checks of `quiver serve` (sourced, not run): a
# three-household demo repository where the job has run, what `quiver get`
# says for three ids found and one missing, and `quiver serve` on it on
# free ports. Needs $quiver. Sets $work (removed on exit), $repo, $found (an
# array), $missing, $server (the pid), and $http and $grpc (host:port).
# `quiver get`'s answer is $work/quiver_get.json.
# shellcheck shell=bash
: "${quiver:?set quiver (the binary) before sourcing serve_demo.sh}"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

repo="$work/repo"
"$quiver" init "$repo" >/dev/null
"$quiver" datagen energy --households 3 --out "$repo/data/energy.csv" >/dev/null
"$quiver" apply --repo "$repo" >/dev/null
"$quiver" run energy_features --repo "$repo" --quiet >/dev/null
found=(MAC000002 MAC000003 MAC000004)
missing=MAC999999
get_args=()
for id in "${found[@]}" "$missing"; do get_args+=(--id "$id"); done
"$quiver" get energy_features --repo "$repo" "${get_args[@]}" --format json > "$work/quiver_get.json"

QUIVER_GRPC_ADDR=127.0.0.1:0 "$quiver" serve --repo "$repo" --http-addr 127.0.0.1:0 2> "$work/serve.log" &
server=$!
http=""
grpc=""
for _ in $(seq 1 300); do
  # quiver serve: HTTP on ADDR, gRPC on ADDR …
  http="$(sed -n 's/^quiver serve: HTTP on \([^,]*\),.*/\1/p' "$work/serve.log")"
  grpc="$(sed -n 's/^quiver serve: HTTP on [^,]*, gRPC on \([^ ,]*\).*/\1/p' "$work/serve.log")"
  [ -n "$http" ] && [ -n "$grpc" ] && break
  kill -0 "$server" 2>/dev/null || { echo "quiver serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
if [ -z "$http" ] || [ -z "$grpc" ]; then
  echo "quiver serve did not start within 30 s:" >&2; cat "$work/serve.log" >&2; exit 1
fi
