#!/usr/bin/env bash
# The README's first command as a developer runs it: deploy/local/up (packages and build
# skipped: the binaries of this build tree) on a state directory and ports of the test's
# own, never a developer's .plantmesh/. Checks that
#   - each service runs as its own plantmesh-server process, with its own port, pid file,
#     certificate and identity (spiffe://plantmesh.local/service/<service>);
#   - every service answers health over mTLS (`plantctl admin status`: SERVING, identity
#     and certificate expiry as in the certificate up issued) and on its plaintext probe
#     port (grpc.health.v1, plantctl --insecure);
#   - a stopped service shows as UNAVAILABLE and makes admin status exit 24;
#   - `up` run again after using the mesh (its demo repair bay left busy, one service
#     stopped) succeeds: it restarts what is stopped, its demo takes another bay, and it
#     prints the banner;
#   - `down` stops every process up started (each pid recorded, PostgreSQL's postmaster)
#     and leaves none behind.
#   local_mesh_test.sh <source dir> <build dir>
# Exits 77 (skipped) when PostgreSQL 15, Redis or python3 are missing.
set -euo pipefail
SOURCE_DIR=$1
BUILD_DIR=$2
PG_BIN=/usr/lib/postgresql/15/bin
PLANTCTL=$BUILD_DIR/cli/plantctl
# shellcheck source=tests/support/test_helpers.sh
. "$SOURCE_DIR/tests/support/test_helpers.sh"

for tool in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" /usr/bin/redis-server /usr/bin/redis-cli \
    /usr/bin/python3 "$PLANTCTL" "$BUILD_DIR/server/plantmesh-server"; do
  if [ ! -x "$tool" ]; then
    echo "SKIP: $tool is missing"
    exit 77
  fi
done
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "SKIP: running as root without the user postgres (initdb refuses root)"
  exit 77
fi

# Two copies (two build trees' ctest) would race for the same free ports.
exec 9>/tmp/plantmesh-local-mesh-test.lock
flock -w 900 9 || fail "another deploy.local_mesh held the lock for 15 minutes"

STATE=$(mktemp -d /tmp/plantmesh-local-mesh-XXXXXX)
OUT=$(mktemp -d /tmp/plantmesh-local-mesh-out-XXXXXX)
export PLANTMESH_STATE_DIR=$STATE BUILD_DIR PLANTMESH_SKIP_DEPS=1 PLANTMESH_SKIP_BUILD=1
# Ports away from the defaults a developer's mesh uses, and below the kernel's ephemeral
# range: a port up found free must not be handed meanwhile to a socket another test (or
# this mesh's own clients) binds to port 0. up takes the next free ones.
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
base=$((10000 + RANDOM % (ephemeral_low - 10100)))
export PLANTMESH_PG_PORT=$base PLANTMESH_REDIS_PORT=$((base + 10))
export PLANTMESH_PORT=$((base + 20)) PLANTMESH_PROBE_PORT=$((base + 40))
# Metrics from the second probe port on: up must skip the ports it has handed out
# itself, not only those something listens on (outside testing: a metrics and a probe
# listener on one port, two services dead at start).
export PLANTMESH_METRICS_PORT=$((base + 41))
unset PLANTCTL_CONFIG PLANTMESH_ENDPOINT PLANTMESH_CA PLANTMESH_CERT PLANTMESH_KEY \
  PLANTMESH_INSECURE

alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
# Every process the mesh has now: the pid files up wrote, and PostgreSQL's postmaster.
mesh_pids() {
  local file
  for file in "$STATE"/run/*.pid; do [ -f "$file" ] && cat "$file"; done
  if [ -f "$STATE/ports.env" ]; then
    local pg_dir
    pg_dir=$(sed -n 's/^PG_DIR=//p' "$STATE/ports.env")
    [ -f "$pg_dir/data/postmaster.pid" ] && head -n 1 "$pg_dir/data/postmaster.pid"
  fi
  return 0
}
cleanup() {
  local code=$? pid
  if [ "$code" -ne 0 ]; then
    for log in "$STATE"/logs/*.log; do
      [ -f "$log" ] || continue
      echo "---- $log ----" >&2
      tail -n 20 "$log" >&2
    done
  fi
  if [ -n "${taken_pid:-}" ]; then kill "$taken_pid" 2>/dev/null || true; fi
  local pids
  pids=$(mesh_pids || true)
  "$SOURCE_DIR/deploy/local/down" --purge >/dev/null 2>&1 || true
  for pid in $pids; do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$STATE" "$OUT"
}
trap cleanup EXIT

as_ops() { "$PLANTCTL" --config "$STATE/plantctl/ops.toml" "$@"; }
# shellcheck source=tests/support/poll.sh
. "$SOURCE_DIR/tests/support/poll.sh"

echo "== up (first run), state in $STATE"
echo "== a first port that is no port is refused before anything starts"
for bad in 65536 abc; do
  if PLANTMESH_PORT=$bad "$SOURCE_DIR/deploy/local/up" >"$OUT/bad-port.log" 2>&1; then
    fail "up took PLANTMESH_PORT=$bad"
  fi
  grep -q "a port is a number 1-65535" "$OUT/bad-port.log" || {
    cat "$OUT/bad-port.log" >&2
    fail "up did not say why PLANTMESH_PORT=$bad is refused"
  }
done

echo "== --help and unknown arguments change nothing (outside testing: up --help ran an up)"
"$SOURCE_DIR/deploy/local/up" --help >"$OUT/up-help.log" 2>&1 || fail "up --help exited $?"
grep -q "PLANTMESH_STATE_DIR" "$OUT/up-help.log" || fail "up --help does not name its settings"
if "$SOURCE_DIR/deploy/local/up" --purge >"$OUT/up-arg.log" 2>&1; then fail "up took --purge"; fi
grep -q "unknown argument '--purge'" "$OUT/up-arg.log" || fail "up did not name its bad argument"
[ ! -e "$STATE/ports.env" ] || fail "up --help or a bad argument started something"

# The first Redis port tried is taken: up goes on to the next, and its servers must use
# that one, not PLANTMESH_REDIS_PORT (outside testing, a concurrent test's Redis held it:
# every server was refused by that Redis).
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' \
  "$PLANTMESH_REDIS_PORT" &
taken_pid=$!
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
poll 30 listening "$PLANTMESH_REDIS_PORT" || fail "no listener on $PLANTMESH_REDIS_PORT"
"$SOURCE_DIR/deploy/local/up" >"$OUT/up1.log" 2>&1 || {
  status=$?
  cat "$OUT/up1.log" >&2
  fail "up exited $status"
}
kill "$taken_pid" 2>/dev/null || true
if grep -q "Redis: starting on 127.0.0.1:$PLANTMESH_REDIS_PORT\$" "$OUT/up1.log"; then
  fail "up started Redis on the taken port $PLANTMESH_REDIS_PORT"
fi
grep -q "^PlantMesh is up" "$OUT/up1.log" || { cat "$OUT/up1.log" >&2; fail "no banner"; }
# The stop line names this mesh's state directory: a bare `down` stops the default one.
grep -qF "Stop everything with PLANTMESH_STATE_DIR=$(printf '%q' "$STATE") ./deploy/local/down" \
  "$OUT/up1.log" || fail "the banner's stop command does not name $STATE"

mapfile -t SERVICES < <("$BUILD_DIR/server/plantmesh-server" --version |
  sed -n 's/^contracts: \(.*\) (fingerprint.*/\1/p' | tr ',' '\n' |
  sed -n 's/^ *plantmesh\.\([a-z_]*\)\.v1$/\1/p' | grep -vx system)
[ "${#SERVICES[@]}" -ge 3 ] || fail "expected at least defect, telemetry, planning: ${SERVICES[*]}"
# shellcheck disable=SC1091
. "$STATE/ports.env"
duplicates=$(grep -E '^[A-Z_a-z]*PORT[A-Z_a-z]*=' "$STATE/ports.env" | cut -d= -f2 | sort | uniq -d)
[ -z "$duplicates" ] || fail "up handed out port(s) $duplicates twice: $(cat "$STATE/ports.env")"

echo "== a process per service: ${SERVICES[*]}"
declare -A PIDS=()
for service in "${SERVICES[@]}"; do
  pid=$(cat "$STATE/run/$service.pid") || fail "no pid file for $service"
  alive "$pid" || fail "$service (pid $pid) is not running"
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--config $STATE/services/$service.toml" ||
    fail "pid $pid is not $service's server: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
  grep -qx "services = \[\"$service\"\]" "$STATE/services/$service.toml" ||
    fail "$service's config hosts other services"
  for other in "${!PIDS[@]}"; do
    [ "${PIDS[$other]}" != "$pid" ] || fail "$service and $other share process $pid"
  done
  PIDS[$service]=$pid
  grep -q "^$service *127.0.0.1:" <(sed -n '/^  service /,/^  configs/p' "$OUT/up1.log" | sed 's/^  //') ||
    fail "the banner does not list $service"
done

# admin status rows as JSON, checked against the certificates up issued.
check_status() {  # <json file> <expected health per service: svc=HEALTH ...>
  /usr/bin/python3 - "$1" "$STATE" "${@:2}" <<'PY'
import json, os, subprocess, sys
path, state, expected = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
rows = {r["service"]: r for r in map(json.loads, open(path).read().splitlines())}
assert set(expected) <= set(rows), (expected, rows)
ports = set()
for service, health in expected.items():
    row = rows[service]
    assert row["health"] == health, row
    ports.add(row["endpoint"])
    if health != "SERVING":
        assert row["error"], row
        continue
    assert row["identity"] == f"spiffe://plantmesh.local/service/{service}", row
    assert row["full_name"].startswith(f"plantmesh.{service}.v1."), row
    assert row["version"], row
    show = subprocess.run([os.environ["PLANTCTL"], "pki", "show",
                           f"{state}/pki/services/{service}.crt"],
                          check=True, capture_output=True, text=True).stdout
    not_after = [l.split(None, 2)[2] for l in show.splitlines() if l.startswith("not after:")][0]
    assert row["cert_not_after"] == not_after.strip(), (row, not_after)
assert len(ports) == len(expected), f"services share an endpoint: {ports}"
PY
}
export PLANTCTL

echo "== health over mTLS (plantctl admin status)"
expect_serving=()
for service in "${SERVICES[@]}"; do expect_serving+=("$service=SERVING"); done
as_ops -o json admin status >"$OUT/status.json" || fail "admin status exited $?"
check_status "$OUT/status.json" "${expect_serving[@]}" || fail "admin status: $(cat "$OUT/status.json")"

echo "== health on the plaintext probe ports"
probe_flags=()
for service in "${SERVICES[@]}"; do
  port_var=PROBE_PORT_$service
  probe_flags+=(--service-endpoint "$service=127.0.0.1:${!port_var}")
done
"$PLANTCTL" --insecure "${probe_flags[@]}" -o json admin status >"$OUT/probe.json" 2>"$OUT/probe.err" ||
  fail "probe health exited $?: $(cat "$OUT/probe.json" "$OUT/probe.err")"
/usr/bin/python3 - "$OUT/probe.json" "${SERVICES[@]}" <<'PY' || fail "probe: $(cat "$OUT/probe.json")"
import json, sys
rows = {r["service"]: r for r in map(json.loads, open(sys.argv[1]).read().splitlines())}
for service in sys.argv[2:]:
    assert rows[service]["health"] == "SERVING", rows[service]
    assert rows[service]["identity"] == "", rows[service]  # plaintext: no certificate
PY
# The probe port offers nothing but health: WhoAmI is UNIMPLEMENTED there.
grep -q "UNIMPLEMENTED" "$OUT/probe.err" || fail "the probe port answered more than health"

echo "== use the mesh: a defect left in repair on the demo's bay RP-DEMO-1"
as_anna() { "$PLANTCTL" --config "$STATE/plantctl/anna.toml" "$@"; }
defect_id=$(as_anna -o json defect create-defect --defect.vin WVWZZZ1JZTEST0001 \
  --defect.model SEDAN-2.0 --defect.zone PAINT --defect.station P-07 \
  --defect.category_code PAINT-SCRATCH --defect.shift "$(date +%F)/A" \
  --defect.description "left in repair by the test" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["defect"]["id"])')
as_anna -o json defect assign-defect --id "$defect_id" --repair_place_id RP-DEMO-1 \
  --mechanic_id M-107 >/dev/null
"$PLANTCTL" --config "$STATE/plantctl/mike.toml" -o json defect start-repair --id "$defect_id" >/dev/null

echo "== a stopped service: UNAVAILABLE and exit 24"
stopped=${SERVICES[1]}
kill -TERM "${PIDS[$stopped]}"
poll 60 bash -c "! kill -0 ${PIDS[$stopped]} 2>/dev/null || grep -q '^State:.*Z' /proc/${PIDS[$stopped]}/status" ||
  fail "$stopped did not stop on SIGTERM"
set +e
as_ops -o json --timeout 3 admin status >"$OUT/stopped.json" 2>"$OUT/stopped.err"
code=$?
set -e
[ "$code" -eq 24 ] ||
  fail "admin status with $stopped stopped exited $code, not 24; its stderr: $(cat "$OUT/stopped.err")"
expect_stopped=()
for service in "${SERVICES[@]}"; do
  if [ "$service" = "$stopped" ]; then expect_stopped+=("$service=UNAVAILABLE")
  else expect_stopped+=("$service=SERVING"); fi
done
check_status "$OUT/stopped.json" "${expect_stopped[@]}" || fail "with $stopped stopped: $(cat "$OUT/stopped.json")"
grep -q "$stopped at 127.0.0.1:" "$OUT/stopped.err" || fail "stderr does not name $stopped"

echo "== up again after using the mesh"
# A service's own section is the operator's: up keeps it, edits and comments included,
# its header written as TOML allows (re-test: `[ planning ]` was replaced by the defaults).
printf '\n  [ planning ]  # edited\ntime-zone = "Europe/Vienna"   # the plant moved\n' >"$OUT/planning.section"
sed -i '/^\[planning\]/,$d' "$STATE/services/planning.toml"
cat "$OUT/planning.section" >>"$STATE/services/planning.toml"
# A certificate that ends within 7 days is issued again (outside testing: an aged mesh's
# expired certificates stopped its servers at start).
"$PLANTCTL" pki issue --dir "$STATE/pki" --name anna --role foreman --days 1 >/dev/null
# A person's certificate is no server's (outside testing: one issued with --dns served the
# defect service, and plantctl trusted it).
if "$PLANTCTL" pki issue --dir "$STATE/pki" --name rogue --dns localhost >"$OUT/rogue.log" 2>&1; then
  fail "pki issue gave a user certificate a host name"
fi
grep -q "a user certificate is a client's only" "$OUT/rogue.log" || fail "rogue: $(cat "$OUT/rogue.log")"
[ ! -e "$STATE/pki/rogue.crt" ] || fail "pki issue wrote rogue.crt"
# A refused role writes nothing either (outside testing: the certificate and key of
# `--role qc-engineer` were on disk after the exit 2).
if "$PLANTCTL" pki issue --dir "$STATE/pki" --name ivan --role qc-engineer >"$OUT/ivan.log" 2>&1; then
  fail "pki issue took the role qc-engineer"
fi
grep -q 'unknown role "qc-engineer"' "$OUT/ivan.log" || fail "ivan: $(cat "$OUT/ivan.log")"
[ ! -e "$STATE/pki/ivan.crt" ] && [ ! -e "$STATE/pki/ivan.key" ] ||
  fail "pki issue wrote ivan's certificate or key for a refused role"
# Nor a role of another trust domain, nor a binding file in no directory (re-test).
for args in "--trust-domain other.local" "--bindings $OUT/no-such-dir/rb.json"; do
  # shellcheck disable=SC2086 # two words each
  if "$PLANTCTL" pki issue --dir "$STATE/pki" --name ivan --role operator $args >"$OUT/ivan.log" 2>&1; then
    fail "pki issue took $args"
  fi
  grep -q "nothing written" "$OUT/ivan.log" || fail "ivan ($args): $(cat "$OUT/ivan.log")"
  [ ! -e "$STATE/pki/ivan.crt" ] || fail "pki issue $args wrote ivan.crt"
done
"$SOURCE_DIR/deploy/local/up" >"$OUT/up2.log" 2>&1 || {
  status=$?
  cat "$OUT/up2.log" >&2
  fail "second up exited $status"
}
grep -q "^PlantMesh is up" "$OUT/up2.log" || fail "no banner on the second run"
grep -q "anna's certificate ends within 7 days: issued again" "$OUT/up2.log" ||
  fail "up did not issue anna's ending certificate again"
anna_until=$("$PLANTCTL" pki show "$STATE/pki/anna.crt" | sed -n 's/^not after: *//p')
[ "$(date -d "$anna_until" +%s)" -gt $(($(date +%s) + 30 * 86400)) ] ||
  fail "anna's certificate after up ends $anna_until"
grep -q "assigns defect .* to RP-DEMO-2 " "$OUT/up2.log" ||
  fail "the second demo did not take the next free bay: $(grep assigns "$OUT/up2.log")"
grep -q "$stopped: starting" "$OUT/up2.log" || fail "the second up did not start $stopped again"
[ "$(sed -n '/^  \[ planning \]/,$p' "$STATE/services/planning.toml")" = "$(sed 1d "$OUT/planning.section")" ] ||
  fail "the second up did not keep the edited [planning] section: $(cat "$STATE/services/planning.toml")"
grep -q '^services = \["planning"\]' "$STATE/services/planning.toml" || fail "up's own keys were not written"
for service in "${SERVICES[@]}"; do
  [ "$service" = "$stopped" ] && continue
  [ "$(cat "$STATE/run/$service.pid")" = "${PIDS[$service]}" ] ||
    fail "the second up restarted $service, which was running"
  grep -q "$service: running (pid ${PIDS[$service]})" "$OUT/up2.log" || fail "$service not reused"
done
as_ops -o json admin status >"$OUT/status2.json" || fail "admin status after the second up exited $?"
check_status "$OUT/status2.json" "${expect_serving[@]}"
# The banner ends with admin status: every service SERVING.
for service in "${SERVICES[@]}"; do
  grep -qE "^$service +127\.0\.0\.1:[0-9]+ +SERVING " "$OUT/up2.log" ||
    fail "the banner's admin status lacks $service SERVING"
done

echo "== one up at a time"
# Outside testing: two ups at once recorded a dead server's pid. The servers up started
# do not hold its lock; an up while another holds it is refused, naming why.
flock -n "$STATE/up.lock" true || fail "the processes up started hold its lock"
exec 8>"$STATE/up.lock"
flock -n 8 || fail "cannot take up's lock"
set +e
"$SOURCE_DIR/deploy/local/up" >"$OUT/up-locked.log" 2>&1
code=$?
set -e
flock -u 8
exec 8>&-
[ "$code" -eq 2 ] || { cat "$OUT/up-locked.log" >&2; fail "an up while another runs exited $code, not 2"; }
grep -q "another deploy/local/up is running on" "$OUT/up-locked.log" ||
  fail "an up while another runs did not say why: $(cat "$OUT/up-locked.log")"

echo "== a service restarted by hand with its config"
# Outside testing: up called its port "taken by another program" (and advised choosing
# every port again), and down said "stopped" and left it running. Both find it.
hand=${SERVICES[0]}
# $1: how the config is named on the command line, from the state directory; with $2
# "env", in PLANTMESH_CONFIG instead.
restart_by_hand() {
  local old
  old=$(cat "$STATE/run/$hand.pid")
  kill -TERM "$old"
  poll 60 bash -c "! kill -0 $old 2>/dev/null || grep -q '^State:.*Z' /proc/$old/status" ||
    fail "$hand did not stop on SIGTERM"
  # (As an operator would: without this test's PLANTMESH_REDIS_PORT, up's first port tried,
  # which the server would read as its redis-port.)
  if [ "${2:-}" = env ]; then
    (cd "$STATE" && PLANTMESH_CONFIG=$1 exec env -u PLANTMESH_REDIS_PORT nohup \
      "$BUILD_DIR/server/plantmesh-server" >>"$STATE/logs/$hand.log" 2>&1 </dev/null) &
  else
    (cd "$STATE" && exec env -u PLANTMESH_REDIS_PORT nohup "$BUILD_DIR/server/plantmesh-server" \
      --config "$1" >>"$STATE/logs/$hand.log" 2>&1 </dev/null) &
  fi
  HAND_PID=$!
}
# up finds it and records its pid, whichever way its config was given (re-test: the
# PLANTMESH_CONFIG the server's --help offers was "another program" too).
for spelling in "$STATE/services/$hand.toml" "services/$hand.toml env"; do
  # shellcheck disable=SC2086
  restart_by_hand $spelling
  "$SOURCE_DIR/deploy/local/up" >"$OUT/up-hand.log" 2>&1 || {
    cat "$OUT/up-hand.log" >&2
    fail "up with $hand started by hand ($spelling) exited $?"
  }
  grep -q "pid $HAND_PID runs with $STATE/services/$hand.toml (started by hand)" "$OUT/up-hand.log" ||
    fail "up did not say it found $hand started by hand ($spelling): $(grep -i "$hand" "$OUT/up-hand.log")"
  [ "$(cat "$STATE/run/$hand.pid")" = "$HAND_PID" ] || fail "up did not record $hand's pid $HAND_PID"
done
# Again, named relative to its working directory as the README's example does (re-test:
# only the absolute spelling was found), its pid file now stale: down stops it too.
restart_by_hand "services/$hand.toml"

echo "== down"
pids=("$HAND_PID")
for pid in $(mesh_pids); do
  if alive "$pid"; then pids+=("$pid"); fi  # not the stale pid file's
done
[ "${#pids[@]}" -ge $((${#SERVICES[@]} + 2)) ] || fail "expected a pid per service, Redis, PostgreSQL: ${pids[*]}"
# Outside testing: `down --help` stopped the mesh, `down -p` stopped it without purging.
for arg in --help -p; do
  "$SOURCE_DIR/deploy/local/down" "$arg" >"$OUT/down-arg.log" 2>&1 || true
  grep -q "usage: deploy/local/down \[--purge\]" "$OUT/down-arg.log" || fail "down $arg: no usage"
done
for pid in "${pids[@]}"; do
  alive "$pid" || fail "down --help or down -p stopped pid $pid"
done
"$SOURCE_DIR/deploy/local/down" >"$OUT/down.log" 2>&1 || { cat "$OUT/down.log" >&2; fail "down exited $?"; }
for pid in "${pids[@]}"; do
  if alive "$pid"; then fail "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) is still running after down"; fi
done
set +e
as_ops -o json --timeout 3 admin status >/dev/null 2>&1
code=$?
set -e
[ "$code" -eq 24 ] || fail "admin status after down exited $code, not 24"
echo PASS
