#!/usr/bin/env bash
# The Debian packages as a site installs them: `cpack -G DEB` from the build, then
# `apt-get install ./…deb` of all three into this machine; the system user, the config
# and the unit are checked; the server is started from the unit's own ExecStart (no
# systemd here: the line is read from the installed unit, %i expanded, run as the unit's
# User with its EnvironmentFile) against a PostgreSQL, a Redis and a dev PKI made for
# the test; the installed plantctl calls it; sdk/examples is built against the installed
# headers and libraries alone and reports a defect through it; then SIGTERM (the server
# must drain and exit 0) and `apt-get purge`, which must leave none of the packages'
# files behind.
#   debian_packages_test.sh <source dir> <build dir>
# Needs root (it installs packages); exits 77 (skipped) otherwise, and refuses to run
# when one of the packages is already installed (it would remove someone's install).
set -euo pipefail
SOURCE_DIR=$1
BUILD_DIR=$2
PACKAGES=(plantmesh-server plantctl libplantmesh-sdk-dev)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

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
SERVER_PID=
SERVER_CHILD=
REDIS_PID=
cleanup() {
  local code=$?
  # The server runs as runuser's child: SIGKILL to runuser alone would leave it running.
  if [ -n "$SERVER_PID" ]; then
    [ -n "$SERVER_CHILD" ] || SERVER_CHILD=$(pgrep -P "$SERVER_PID" || true)
    # shellcheck disable=SC2086
    [ -n "$SERVER_CHILD" ] && kill -KILL $SERVER_CHILD 2>/dev/null || true
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  [ -n "$REDIS_PID" ] && kill -TERM "$REDIS_PID" 2>/dev/null || true
  if [ -f "$WORK/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop \
      >/dev/null 2>&1 || true
  fi
  # Never leave our packages installed, whatever failed.
  apt-get purge -y -qq "${PACKAGES[@]}" >/dev/null 2>&1 || true
  if [ "$code" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "---- plantmesh-server log ----" >&2
    tail -n 50 "$WORK/server.log" >&2
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "==> cpack -G DEB"
(cd "$BUILD_DIR" && cpack -G DEB -B "$WORK/debs" >"$WORK/cpack.log") || { cat "$WORK/cpack.log"; fail "cpack"; }
for package in "${PACKAGES[@]}"; do
  deb=$(ls "$WORK"/debs/"${package}"_*.deb) || fail "no package $package"
  [ "$(dpkg-deb -f "$deb" Package)" = "$package" ] || fail "$deb is not $package"
done
dpkg-deb -f "$WORK"/debs/plantmesh-server_*.deb Depends | grep -q 'libgrpc++1.51' ||
  fail "plantmesh-server does not depend on the gRPC runtime library"

echo "==> apt-get install ./…deb"
apt-get install -y -qq --no-install-recommends "$WORK"/debs/*.deb >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log"; fail "apt-get install"; }
getent passwd plantmesh | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "no system user plantmesh"
[ "$(stat -c '%U:%G %a' /etc/plantmesh/server.toml)" = "root:plantmesh 640" ] ||
  fail "/etc/plantmesh/server.toml: $(stat -c '%U:%G %a' /etc/plantmesh/server.toml)"
UNIT=/usr/lib/systemd/system/plantmesh@.service
[ -f "$UNIT" ] || fail "no $UNIT"
[ -f /usr/share/bash-completion/completions/plantctl ] || fail "no bash completion"
/usr/bin/plantctl --version | grep -q '^plantctl ' || fail "plantctl --version"

echo "==> PostgreSQL, Redis and a dev PKI for the installed server"
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 \
  --no-locale >"$WORK/initdb.log"
PG_PORT=$(free_port)
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE plantmesh"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
/usr/bin/plantctl pki init --dir "$WORK/pki" >/dev/null
/usr/bin/plantctl pki issue --dir "$WORK/pki" --name plantmesh-server --kind server \
  --dns localhost --ip 127.0.0.1 >/dev/null
/usr/bin/plantctl pki issue --dir "$WORK/pki" --name ops --role admin >/dev/null
install -m 640 -o root -g plantmesh "$WORK/pki/ca.crt" /etc/plantmesh/tls/ca.crt
install -m 640 -o root -g plantmesh "$WORK/pki/plantmesh-server.crt" /etc/plantmesh/tls/server.crt
install -m 640 -o root -g plantmesh "$WORK/pki/plantmesh-server.key" /etc/plantmesh/tls/server.key
install -m 640 -o root -g plantmesh "$WORK/pki/role-bindings.json" /etc/plantmesh/role-bindings.json
# The installed example config, pointed at this test's servers (the keys stay as shipped).
sed -i -e "s|^postgres-url = .*|postgres-url = \"postgresql://postgres@127.0.0.1:$PG_PORT/plantmesh\"|" \
  -e "s|^redis-port = .*|redis-port = $REDIS_PORT|" /etc/plantmesh/server.toml
SERVER_PORT=$(free_port)
printf 'PLANTMESH_LISTEN=127.0.0.1:%s\nPLANTMESH_PROBE_LISTEN=\n' "$SERVER_PORT" >/etc/plantmesh/defect.env

echo "==> the unit's ExecStart for plantmesh@defect, as its User, with its EnvironmentFile"
unit_value() { sed -n "s/^$1=//p" "$UNIT" | head -n 1; }
exec_start=$(unit_value ExecStart | sed 's/%i/defect/g')
user=$(unit_value User)
env_file=$(unit_value EnvironmentFile | sed -e 's/^-//' -e 's/%i/defect/g')
[ "$user" = plantmesh ] || fail "the unit runs as '$user', not plantmesh"
[ "$env_file" = /etc/plantmesh/defect.env ] || fail "EnvironmentFile $env_file"
echo "    $exec_start"
# shellcheck disable=SC2086  # ExecStart is a command line: split it as systemd does (no quotes in it)
runuser -u "$user" -- env -i PATH=/usr/bin:/bin $(grep -v '^#' "$env_file") $exec_start \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
  grep -q '^LISTENING ' "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited at start"
  sleep 0.1
done
grep -q '^LISTENING ' "$WORK/server.out" || fail "the server did not start listening in 30 s"
# runuser stays the parent: signals go to the server itself, its status comes back through runuser.
SERVER_CHILD=$(pgrep -u plantmesh -f '^/usr/bin/plantmesh-server ') || fail "the server does not run as plantmesh"

export PLANTMESH_ENDPOINT=127.0.0.1:$SERVER_PORT PLANTMESH_CA=$WORK/pki/ca.crt \
  PLANTMESH_CERT=$WORK/pki/ops.crt PLANTMESH_KEY=$WORK/pki/ops.key
plantctl=(/usr/bin/plantctl --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA"
  --cert "$PLANTMESH_CERT" --key "$PLANTMESH_KEY")
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

echo "==> SIGTERM: the server drains and exits 0"
kill -TERM "$SERVER_CHILD"
code=0
wait "$SERVER_PID" || code=$?
SERVER_PID=
[ "$code" -eq 0 ] || fail "the server exited $code after SIGTERM"

echo "==> apt-get purge leaves nothing behind"
apt-get purge -y -qq "${PACKAGES[@]}" >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "purge"; }
for path in /usr/bin/plantmesh-server /usr/bin/plantctl "$UNIT" /etc/plantmesh \
    /usr/include/plantmesh /usr/lib/cmake/PlantMesh /usr/lib/pkgconfig/plantmesh.pc \
    /usr/share/plantmesh /usr/share/bash-completion/completions/plantctl; do
  [ ! -e "$path" ] || fail "$path is still there after purge"
done
echo "PASS: packages built, installed, run from the unit, used by plantctl and the SDK, purged"
