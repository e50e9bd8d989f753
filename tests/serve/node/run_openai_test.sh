#!/bin/sh
# Runs node/openai_client.mjs against serve_fixture_server. Exit 77 (ctest: skipped) when
# node/npm are missing or the openai package cannot be installed (e.g. offline).
server_bin="$1"; work="$2"; here="$(dirname "$0")"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "SKIP: node/npm not found"; exit 77; }
mkdir -p "$work"
if [ ! -d "$work/node_modules/openai" ]; then
  (cd "$work" && timeout 120 npm install --silent --no-audit --no-fund openai@4 >/dev/null 2>&1) ||
    { echo "SKIP: npm install openai failed (offline?)"; exit 77; }
fi
cp "$here/openai_client.mjs" "$work/"
"$server_bin" test-key > "$work/server.out" &
pid=$!
port=""
for i in $(seq 1 100); do
  port=$(sed -n 's/^PORT //p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { kill $pid; echo "server did not start"; exit 1; }
(cd "$work" && timeout 60 node openai_client.mjs "$port")
rc=$?
kill -TERM $pid
wait $pid
server_rc=$?
# SIGTERM is a graceful shutdown: exit status 0.
[ $server_rc -eq 0 ] || { echo "server exited with $server_rc after SIGTERM"; rc=1; }
exit $rc
