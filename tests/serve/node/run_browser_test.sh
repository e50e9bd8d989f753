#!/bin/sh
# Runs node/browser_chat.mjs (playwright-core + Debian's /usr/bin/chromium) against
# serve_fixture_server. Exit 77 (ctest: skipped) when chromium, node or npm are missing or
# playwright-core cannot be installed (e.g. offline). Nothing is installed when a tool is absent.
server_bin="$1"; work="$2"; here="$(dirname "$0")"
[ -x /usr/bin/chromium ] || { echo "SKIP: /usr/bin/chromium not found (Debian package chromium)"; exit 77; }
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "SKIP: node/npm not found"; exit 77; }
mkdir -p "$work"
if [ ! -d "$work/node_modules/playwright-core" ]; then
  (cd "$work" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 120 npm install --silent --no-audit --no-fund playwright-core@1 >/dev/null 2>&1) ||
    { echo "SKIP: npm install playwright-core failed (offline?)"; exit 77; }
fi
cp "$here/browser_chat.mjs" "$work/"
rm -f "$work/chat_page.png"
"$server_bin" > "$work/server.out" &
pid=$!
port=""
for i in $(seq 1 100); do
  port=$(sed -n 's/^PORT //p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { kill $pid; echo "server did not start"; exit 1; }
(cd "$work" && timeout 150 node browser_chat.mjs "$port" "$work")
rc=$?
kill -TERM $pid
wait $pid
server_rc=$?
[ $server_rc -eq 0 ] || { echo "server exited with $server_rc after SIGTERM"; rc=1; }
[ $rc -ne 0 ] || [ -s "$work/chat_page.png" ] || { echo "no screenshot written"; rc=1; }
exit $rc
