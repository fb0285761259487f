#!/usr/bin/env bash
# docs/runbook.md's one-host blocks, run verbatim (tests/support/runbook.sh) against
# real servers: "Install on one host" (database, certificates, configure, check),
# "Rotate certificates" (rotate, rotate-check), "Add an integrator identity"
# (integrator, integrator-check) and "Scale a service" (scale, scale-check).
# The packages are not installed here (deploy.debian_packages does that): the built
# plantmesh-server and plantctl stand in for /usr/bin's, and /etc/plantmesh is a
# scratch directory laid out as the package's postinst lays it (tls/, the shipped
# server.toml with its /etc/plantmesh paths pointed there). Each instance
# (plantmesh@defect, ...) is started as systemd would start it: the unit file's
# ExecStart with %i expanded, its Environment= lines, then its EnvironmentFile; the test
# adds PLANTMESH_TLS_RELOAD_SECONDS=1 so that a rotation shows within a second or two.
# Checks:
#   - check: every service SERVING;
#   - rotate: every service serves the new certificate's expiry (it differs from the
#     old one, and was not served before), the processes never restarted;
#   - integrator: who-am-i as the new identity shows the role integrator (it had none
#     in the bindings the servers started with), and a call of that role succeeds;
#   - scale: plantmesh@defect-2 (PLANTMESH_SERVICES=defect from its env file) answers,
#     and a defect created through either instance reaches a list-and-watch on each.
#   runbook_one_host_test.sh <source dir> <plantmesh-server> <plantctl>
set -euo pipefail
SOURCE_DIR=$1
SERVER_BIN=$2
PLANTCTL_BIN=$3
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck disable=SC2034  # read by runbook.sh
RUNBOOK=$SOURCE_DIR/docs/runbook.md
UNIT=$SOURCE_DIR/deploy/debian/plantmesh@.service
# shellcheck source=tests/support/runbook.sh
. "$SOURCE_DIR/tests/support/runbook.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/plantmesh-runbook-XXXXXX")
chmod 755 "$WORK"
declare -A SERVER_PIDS=()
OTHER_PIDS=()
REDIS_PID=
as_postgres=()
[ "$(id -u)" -eq 0 ] && as_postgres=(runuser -u postgres --)
cleanup() {
  local code=$?
  for pid in "${OTHER_PIDS[@]}" "${SERVER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ -n "$REDIS_PID" ] && kill -TERM "$REDIS_PID" 2>/dev/null || true
  if [ -f "$WORK/pg/data/PG_VERSION" ]; then
    "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "$code" -ne 0 ]; then
    print_server_logs "$WORK"
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
# shellcheck source=tests/support/poll.sh
. "$SOURCE_DIR/tests/support/poll.sh"
# shellcheck source=tests/support/test_helpers.sh
. "$SOURCE_DIR/tests/support/test_helpers.sh"

echo "==> PostgreSQL and Redis"
mkdir -p "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$WORK/pg"
"${as_postgres[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --no-locale \
  >"$WORK/initdb.log"
PG_PORT=$(free_port)
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
# Redis binds in the background: its port and the services' are taken together.
read -r REDIS_PORT DEFECT_PORT PLANNING_PORT TELEMETRY_PORT DEFECT_2_PORT <<<"$(free_ports 5)"
REDIS_CONF=$WORK/redis.conf
write_redis_conf "$REDIS_CONF"
redis-server "$REDIS_CONF" --port "$REDIS_PORT" --bind 127.0.0.1 >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
export REDIS_CONF

echo "==> /etc/plantmesh as the package lays it out, at $WORK/etc"
ETC=$WORK/etc
mkdir -p "$ETC/tls"
chmod 750 "$ETC" "$ETC/tls"
sed "s|/etc/plantmesh/|$ETC/|g" "$SOURCE_DIR/deploy/debian/server.toml" >"$ETC/server.toml"

# The runbook's values, this test's way.
export PLANTMESH_ETC=$ETC PKI=$WORK/pki SERVER_DNS=localhost SERVER_IP=127.0.0.1
export DEFECT_PORT PLANNING_PORT TELEMETRY_PORT DEFECT_2_PORT
export POSTGRES_URL=postgresql://plantmesh@127.0.0.1:$PG_PORT/plantmesh REDIS_PORT
export OPS_CONFIG=$WORK/ops/plantctl.toml
PATH=$(dirname "$PLANTCTL_BIN"):$PATH
export PATH
command -v plantctl | grep -qx "$PLANTCTL_BIN" || fail "plantctl on PATH is $(command -v plantctl)"

echo "==> Install on one host: database, certificates, configure"
PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres PATH=$PG_BIN:$PATH run_runbook_block database "$WORK"
run_runbook_block certificates "$WORK"
run_runbook_block configure "$WORK"
[ -L "$ETC/tls/live" ] || fail "no symlink tls/live"

# start_instance NAME: as systemd starts plantmesh@NAME (see the header).
start_instance() {
  local instance=$1 exec_start env=()
  exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT" | sed -e "s/%i/$instance/g" \
    -e "s|/etc/plantmesh/|$ETC/|g" -e "s|^/usr/bin/plantmesh-server |$SERVER_BIN |")
  while read -r line; do env+=("$line"); done < <(sed -n 's/^Environment=//p' "$UNIT" | sed "s/%i/$instance/g")
  env+=(PLANTMESH_TLS_RELOAD_SECONDS=1)
  # A sanitizer build's options (suppressions for the uninstrumented Debian gRPC, exit
  # codes) are the test run's, not the unit's: keep them through env -i.
  local option
  for option in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; do
    [ -z "${!option:-}" ] || env+=("$option=${!option}")
  done
  local env_file
  env_file=$(sed -n 's/^EnvironmentFile=-\?//p' "$UNIT" | sed -e "s/%i/$instance/g" -e "s|/etc/plantmesh/|$ETC/|g")
  [ -f "$env_file" ] && while read -r line; do
    [ -z "$line" ] || [[ $line == \#* ]] || env+=("$line")
  done <"$env_file"
  echo "    plantmesh@$instance: ${env[*]} $exec_start"
  # shellcheck disable=SC2086  # ExecStart is a command line: split it as systemd does
  env -i PATH=/usr/bin:/bin "${env[@]}" $exec_start >"$WORK/server-$instance.out" 2>"$WORK/server-$instance.log" &
  SERVER_PIDS[$instance]=$!
}
listening() { grep -q '^LISTENING ' "$WORK/server-$1.out" 2>/dev/null || { kill -0 "${SERVER_PIDS[$1]}" || fail "plantmesh@$1 exited"; false; }; }

echo "==> systemctl enable --now plantmesh@defect plantmesh@planning plantmesh@telemetry (as the unit)"
for instance in defect planning telemetry; do start_instance "$instance"; done
for instance in defect planning telemetry; do
  poll 60 listening "$instance" || fail "plantmesh@$instance not listening after 60 s"
done
poll 60 run_runbook_block check "$WORK" 2>/dev/null || { cat "$WORK/check.log"; fail "check: not every service SERVING"; }
grep -c '"health":"SERVING"' "$WORK/check.log" | grep -qx 3 || { cat "$WORK/check.log"; fail "check: 3 SERVING rows"; }

echo "==> Rotate certificates"
# served_expiries: the cert_not_after of every row of rotate-check's admin status.
served_expiries() { sed -n 's/.*"cert_not_after":"\([^"]*\)".*/\1/p' "$WORK/rotate-check.log" | sort -u; }
file_expiry() { sed -n 's/^not after: *//p' "$WORK/rotate-check.log"; }
run_runbook_block rotate-check "$WORK"
OLD=$(file_expiry)
if [ -z "$OLD" ] || [ "$(served_expiries)" != "$OLD" ]; then
  cat "$WORK/rotate-check.log"
  fail "before the rotation: not every service serves '$OLD'"
fi
# The new certificate in a later second than the first: a directory of its own (named by
# the second), and a later notAfter (a resolution of a second). The second after now, not
# after the old directory's name: on a busy machine the old certificate was issued a second
# after its directory was named, the new one in that same second, and both expired alike.
OLD_DIR=$(readlink "$ETC/tls/live")
ISSUED_BY=$(date -u +%s)
later_second() { [ "$(date -u +%s)" -gt "$ISSUED_BY" ]; }
poll 5 later_second || fail "the clock does not move"
run_runbook_block rotate "$WORK"
[ "$(readlink "$ETC/tls/live")" != "$OLD_DIR" ] || fail "rotate: tls/live still $OLD_DIR"
rotated() {
  run_runbook_block rotate-check "$WORK" 2>/dev/null || return 1
  [ "$(file_expiry)" != "$OLD" ] && [ "$(served_expiries)" = "$(file_expiry)" ] &&
    [ "$(grep -c '"cert_not_after"' "$WORK/rotate-check.log")" -eq 3 ]
}
poll 60 rotated || { cat "$WORK/rotate-check.log"; fail "the rotated certificate is not served by every service"; }
for instance in defect planning telemetry; do
  kill -0 "${SERVER_PIDS[$instance]}" || fail "plantmesh@$instance restarted"
done
echo "    served: $(file_expiry) (was $OLD)"

echo "==> Add an integrator identity"
grep -q mes-connector "$ETC/role-bindings.json" && fail "mes-connector bound before the block ran"
run_runbook_block integrator "$WORK"
knows_integrator() {
  run_runbook_block integrator-check "$WORK" 2>/dev/null &&
    grep -q '"roles":\["integrator"\]' "$WORK/integrator-check.log"
}
poll 30 knows_integrator || { cat "$WORK/integrator-check.log"; fail "who-am-i does not show the role integrator"; }
grep -q '"identity":"spiffe://plantmesh.local/service/mes-connector"' "$WORK/integrator-check.log" ||
  { cat "$WORK/integrator-check.log"; fail "who-am-i: identity"; }
integrator=(plantctl --config "$OPS_CONFIG" --cert "$PKI/integrators/mes-connector.crt"
  --key "$PKI/integrators/mes-connector.key")
"${integrator[@]}" -o json defect list-defects >/dev/null || fail "list-defects as the integrator"

echo "==> Scale a service: plantmesh@defect-2"
run_runbook_block scale "$WORK"
start_instance defect-2
poll 60 listening defect-2 || fail "plantmesh@defect-2 not listening after 60 s"
poll 60 run_runbook_block scale-check "$WORK" 2>/dev/null || { cat "$WORK/scale-check.log"; fail "scale-check"; }
grep '"service":"defect"' "$WORK/scale-check.log" | grep "\"endpoint\":\"localhost:$DEFECT_2_PORT\"" |
  grep -q '"health":"SERVING"' || { cat "$WORK/scale-check.log"; fail "scale-check: defect at $DEFECT_2_PORT"; }
ops=(plantctl --config "$OPS_CONFIG")
at_2=(--service-endpoint "defect=localhost:$DEFECT_2_PORT")
"${ops[@]}" -o json defect create-defect-category --category.code PAINT-SCRATCH \
  --category.title "Paint scratch" --category.default_severity SEVERITY_MINOR >/dev/null
create() {
  "$@" -o json defect create-defect --defect.vin "$VIN" --defect.model SEDAN-2.0 --defect.zone PAINT \
    --defect.station P-07 --defect.category_code PAINT-SCRATCH --defect.severity SEVERITY_MAJOR \
    --defect.description "Scratch on the left rear door" --defect.detected_by "Inspector 12" \
    --defect.shift 2026-11-21/A >/dev/null
}
VIN=VIN-RUNBOOK-0 create "${ops[@]}"
# A list-and-watch on each instance; once its list (VIN-RUNBOOK-0) is printed, its watch
# follows from the list's cursor, so nothing created afterwards can be missed.
"${ops[@]}" -o json defect list-defects --watch >"$WORK/watch-1.out" 2>"$WORK/watch-1.err" &
OTHER_PIDS+=($!)
"${ops[@]}" "${at_2[@]}" -o json defect list-defects --watch >"$WORK/watch-2.out" 2>"$WORK/watch-2.err" &
OTHER_PIDS+=($!)
listed() { grep -q VIN-RUNBOOK-0 "$WORK/watch-$1.out"; }
poll 30 listed 1 || { cat "$WORK/watch-1.err"; fail "no list from instance 1"; }
poll 30 listed 2 || { cat "$WORK/watch-2.err"; fail "no list from instance 2"; }
VIN=VIN-RUNBOOK-1 create "${ops[@]}"
VIN=VIN-RUNBOOK-2 create "${ops[@]}" "${at_2[@]}"
both_seen() { grep -q VIN-RUNBOOK-1 "$WORK/watch-$1.out" && grep -q VIN-RUNBOOK-2 "$WORK/watch-$1.out"; }
poll 30 both_seen 1 || { cat "$WORK/watch-1.out" "$WORK/watch-1.err"; fail "watcher on instance 1"; }
poll 30 both_seen 2 || { cat "$WORK/watch-2.out" "$WORK/watch-2.err"; fail "watcher on instance 2"; }

echo "==> SIGTERM: every instance drains and exits 0"
for pid in "${OTHER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for instance in "${!SERVER_PIDS[@]}"; do
  kill -TERM "${SERVER_PIDS[$instance]}"
  code=0
  wait "${SERVER_PIDS[$instance]}" || code=$?
  unset "SERVER_PIDS[$instance]"
  [ "$code" -eq 0 ] || fail "plantmesh@$instance exited $code"
done
echo "PASS: the runbook's one-host blocks installed, rotated, added an integrator and scaled"
