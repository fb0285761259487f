#!/usr/bin/env bash
# The Debian packages as a site installs them, by docs/runbook.md's "Install on one
# host": `cpack -G DEB` from the build, then the runbook's blocks verbatim
# (tests/support/runbook.sh): install (`apt-get install` of all three into this
# machine), database, certificates, configure; the system user, the config's owner and
# mode and the unit are checked; each instance (plantmesh@defect, @planning, @telemetry)
# is started from the installed unit's own ExecStart (no systemd here: the line is read
# from the unit, %i expanded, run as the unit's User with its Environment and then its
# EnvironmentFile) against a PostgreSQL and a Redis made for the test; the runbook's
# check (every service SERVING) and "Rotate certificates" (rotate, rotate-check: the new
# key, made by root, is read by the servers running as plantmesh) run verbatim; the
# installed plantctl calls it; sdk/examples is built against the installed headers and
# libraries alone and reports a defect through it; then SIGTERM (every server must drain
# and exit 0) and `apt-get purge`, which must leave none of the packages' files behind.
#   debian_packages_test.sh <source dir> <build dir>
# Needs root (it installs packages); exits 77 (skipped) otherwise, and refuses to run
# when one of the packages is already installed (it would remove someone's install).
set -euo pipefail
SOURCE_DIR=$1
BUILD_DIR=$2
PACKAGES=(plantmesh-server plantctl libplantmesh-sdk-dev)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck disable=SC2034  # read by runbook.sh
RUNBOOK=$SOURCE_DIR/docs/runbook.md
# shellcheck source=tests/support/runbook.sh
. "$SOURCE_DIR/tests/support/runbook.sh"
# shellcheck source=tests/support/poll.sh
. "$SOURCE_DIR/tests/support/poll.sh"
# shellcheck source=tests/support/test_helpers.sh
. "$SOURCE_DIR/tests/support/test_helpers.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing packages needs root"
  exit 77
fi
# One run at a time on this machine, also across build trees and ctest runs (ctest's
# RESOURCE_LOCK only orders the tests of one ctest): they install the same packages.
exec 9>/var/lock/plantmesh-debian-packages-test.lock
flock 9
for package in "${PACKAGES[@]}"; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    echo "FAIL: $package is already installed on this machine; not touching it" >&2
    exit 1
  fi
done

WORK=$(mktemp -d /tmp/plantmesh-debs-XXXXXX)
chmod 755 "$WORK"
SERVER_PIDS=()      # runuser, one per instance
SERVER_CHILDREN=()  # the servers
REDIS_PID=
cleanup() {
  local code=$?
  # A server runs as runuser's child: SIGKILL to runuser alone would leave it running.
  for pid in "${SERVER_PIDS[@]}"; do
    for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ -n "$REDIS_PID" ] && kill -TERM "$REDIS_PID" 2>/dev/null || true
  if [ -f "$WORK/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop \
      >/dev/null 2>&1 || true
  fi
  # Never leave our packages installed, whatever failed.
  apt-get purge -y -qq "${PACKAGES[@]}" >/dev/null 2>&1 || true
  if [ "$code" -ne 0 ]; then
    print_server_logs "$WORK"
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT

echo "==> cpack -G DEB"
(cd "$BUILD_DIR" && cpack -G DEB -B "$WORK/debs" >"$WORK/cpack.log") || { cat "$WORK/cpack.log"; fail "cpack"; }
for package in "${PACKAGES[@]}"; do
  deb=$(ls "$WORK"/debs/"${package}"_*.deb) || fail "no package $package"
  [ "$(dpkg-deb -f "$deb" Package)" = "$package" ] || fail "$deb is not $package"
done
dpkg-deb -f "$WORK"/debs/plantmesh-server_*.deb Depends | grep -q 'libgrpc++1.51' ||
  fail "plantmesh-server does not depend on the gRPC runtime library"

# The runbook's values ("Install on one host"), this test's way; its blocks run verbatim.
export DEBS=$WORK/debs PLANTMESH_ETC=/etc/plantmesh PKI=$WORK/pki SERVER_DNS=localhost SERVER_IP=127.0.0.1
export OPS_CONFIG=$WORK/ops/plantctl.toml

echo "==> runbook \"Install on one host\": install (apt-get install ./…deb)"
run_runbook_block install "$WORK"
getent passwd plantmesh | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "no system user plantmesh"
[ "$(stat -c '%U:%G %a' /etc/plantmesh/server.toml)" = "root:plantmesh 640" ] ||
  fail "/etc/plantmesh/server.toml: $(stat -c '%U:%G %a' /etc/plantmesh/server.toml)"
UNIT=/usr/lib/systemd/system/plantmesh@.service
[ -f "$UNIT" ] || fail "no $UNIT"
[ -f /usr/share/bash-completion/completions/plantctl ] || fail "no bash completion"
# ProposePlan's CBC solver program, where the server looks for it; it loads (its shared
# libraries are the package's dependencies) and answers --help with its usage.
SOLVER=/usr/libexec/plantmesh/plantmesh-cbc-solver
{ "$SOLVER" --help 2>&1 || true; } | grep -q "plantmesh-server's CBC solver" ||
  fail "$SOLVER does not run"
/usr/bin/plantctl --version | grep -q '^plantctl ' || fail "plantctl --version"
[ "$(command -v plantctl)" = /usr/bin/plantctl ] || fail "plantctl on PATH is $(command -v plantctl)"

echo "==> PostgreSQL and Redis for the installed servers; runbook: database, certificates, configure"
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 \
  --no-locale >"$WORK/initdb.log"
PG_PORT=$(free_port)
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
# Redis binds in the background: its port and the services' are taken together.
read -r REDIS_PORT DEFECT_PORT PLANNING_PORT TELEMETRY_PORT <<<"$(free_ports 4)"
REDIS_CONF=$WORK/redis.conf
write_redis_conf "$REDIS_CONF"
redis-server "$REDIS_CONF" --port "$REDIS_PORT" --bind 127.0.0.1 >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
export REDIS_CONF
export DEFECT_PORT PLANNING_PORT TELEMETRY_PORT REDIS_PORT
export POSTGRES_URL=postgresql://plantmesh@127.0.0.1:$PG_PORT/plantmesh
PGHOST=127.0.0.1 PGPORT=$PG_PORT PATH=$PG_BIN:$PATH RUNBOOK_USER=postgres run_runbook_block database "$WORK"
run_runbook_block certificates "$WORK"
run_runbook_block configure "$WORK"
[ "$(stat -c '%U:%G %a' /etc/plantmesh/server.toml)" = "root:plantmesh 640" ] ||
  fail "after configure, /etc/plantmesh/server.toml: $(stat -c '%U:%G %a' /etc/plantmesh/server.toml)"
grep -q "^postgres-url = \"$POSTGRES_URL\"$" /etc/plantmesh/server.toml || fail "configure: postgres-url"
[ "$(stat -c '%G' "$(readlink -f /etc/plantmesh/tls/server.key)")" = plantmesh ] ||
  fail "the server key is not in the group plantmesh"

echo "==> systemctl enable --now plantmesh@{defect,planning,telemetry}: each unit's ExecStart, as its User, with its Environment and EnvironmentFile"
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }
user=$(unit_value User)
[ "$user" = plantmesh ] || fail "the unit runs as '$user', not plantmesh"
for instance in defect planning telemetry; do
  exec_start=$(unit_value ExecStart | sed "s/%i/$instance/g")
  env_file=$(unit_value EnvironmentFile | sed -e 's/^-//' -e "s/%i/$instance/g")
  [ "$env_file" = "/etc/plantmesh/$instance.env" ] || fail "EnvironmentFile $env_file"
  # Environment= first, the EnvironmentFile over it (as systemd); a reload each second
  # so that the rotation below shows at once.
  # shellcheck disable=SC2046,SC2086  # ExecStart and the variables split as systemd does (no quotes in them)
  runuser -u "$user" -- env -i PATH=/usr/bin:/bin $(unit_value Environment | sed "s/%i/$instance/g") \
    PLANTMESH_TLS_RELOAD_SECONDS=1 $(grep -v '^#' "$env_file") $exec_start \
    >"$WORK/server-$instance.out" 2>"$WORK/server-$instance.log" &
  SERVER_PIDS+=($!)
  echo "    plantmesh@$instance: $exec_start"
done
listening() { grep -q '^LISTENING ' "$WORK/server-$1.out" 2>/dev/null; }
for instance in defect planning telemetry; do
  poll 60 listening "$instance" || fail "plantmesh@$instance did not start listening in 60 s"
done
# runuser stays the parent: signals go to the servers themselves, their status comes back through runuser.
for pid in "${SERVER_PIDS[@]}"; do
  child=$(pgrep -P "$pid" -u plantmesh -f '^/usr/bin/plantmesh-server ') || fail "a server does not run as plantmesh"
  SERVER_CHILDREN+=("$child")
done
echo "==> runbook: check (plantctl admin status, every service SERVING)"
poll 60 run_runbook_block check "$WORK" 2>/dev/null || { cat "$WORK/check.log"; fail "check: not every service SERVING"; }
[ "$(grep -c '"health":"SERVING"' "$WORK/check.log")" -eq 3 ] || { cat "$WORK/check.log"; fail "check: 3 rows"; }

echo "==> runbook \"Rotate certificates\": the new key, made by root, is read by the servers as plantmesh"
OLD=$(readlink /etc/plantmesh/tls/live)
# A later second than the installed one: a directory of its own (and a later notAfter).
later_second() { [ "$(date -u +%Y%m%dT%H%M%SZ)" != "$OLD" ]; }
poll 5 later_second || fail "the clock does not move"
run_runbook_block rotate "$WORK"
[ "$(readlink /etc/plantmesh/tls/live)" != "$OLD" ] || fail "rotate: tls/live still $OLD"
rotated() {
  run_runbook_block rotate-check "$WORK" 2>/dev/null || return 1
  local want
  want=$(sed -n 's/^not after: *//p' "$WORK/rotate-check.log")
  [ "$(grep -c "\"cert_not_after\":\"$want\"" "$WORK/rotate-check.log")" -eq 3 ]
}
poll 60 rotated || { cat "$WORK/rotate-check.log"; fail "the rotated certificate is not served"; }

export PLANTMESH_ENDPOINT=localhost:$DEFECT_PORT PLANTMESH_CA=$PKI/ca.crt \
  PLANTMESH_CERT=$PKI/ops.crt PLANTMESH_KEY=$PKI/ops.key
plantctl=(/usr/bin/plantctl --config "$OPS_CONFIG")
echo "==> the installed plantctl calls it"
"${plantctl[@]}" system who-am-i >"$WORK/whoami.json"
grep -q '"admin"' "$WORK/whoami.json" || { cat "$WORK/whoami.json"; fail "who-am-i: not admin"; }
grep -q 'plantmesh.defect.v1.DefectService' "$WORK/whoami.json" || fail "who-am-i: no defect service"

echo "==> sdk/examples built against the installed package alone"
cmake -S "$SOURCE_DIR/sdk/examples" -B "$WORK/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  >"$WORK/examples.log" 2>&1 || { cat "$WORK/examples.log"; fail "configure sdk/examples"; }
grep -q "/usr/lib/cmake/PlantMesh" "$WORK/examples/CMakeCache.txt" ||
  fail "sdk/examples did not find the installed PlantMesh package"
cmake --build "$WORK/examples" -j 2 >>"$WORK/examples.log" 2>&1 ||
  { tail -n 30 "$WORK/examples.log"; fail "build sdk/examples"; }
"$WORK/examples/defect_report" --vin VIN-DEB-1 | tee "$WORK/report.out"
grep -q "reported defect [0-9]* (DEFECT_STATUS_REPORTED)" "$WORK/report.out" || fail "defect_report"
"${plantctl[@]}" defect list-defects --vin VIN-DEB-1 -o csv | grep -q VIN-DEB-1 ||
  fail "plantctl does not list the reported defect"

echo "==> SIGTERM: every server drains and exits 0"
for child in "${SERVER_CHILDREN[@]}"; do kill -TERM "$child"; done
for pid in "${SERVER_PIDS[@]}"; do
  code=0
  wait "$pid" || code=$?
  [ "$code" -eq 0 ] || fail "a server exited $code after SIGTERM"
done
SERVER_PIDS=()

echo "==> apt-get purge leaves nothing behind"
apt-get purge -y -qq "${PACKAGES[@]}" >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "purge"; }
for path in /usr/bin/plantmesh-server "$SOLVER" /usr/bin/plantctl "$UNIT" /etc/plantmesh \
    /usr/include/plantmesh /usr/lib/cmake/PlantMesh /usr/lib/pkgconfig/plantmesh.pc \
    /usr/share/plantmesh /usr/share/bash-completion/completions/plantctl; do
  [ ! -e "$path" ] || fail "$path is still there after purge"
done
echo "PASS: packages built, installed, run from the unit, used by plantctl and the SDK, purged"
