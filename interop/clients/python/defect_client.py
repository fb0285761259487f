#!/usr/bin/python3
"""A third-party client of PlantMesh in Python: stubs generated from proto/ with
grpc_python_plugin, mutual TLS, and rich errors read from the standard
`grpc-status-details-bin` trailer (google.rpc.Status-compatible).

Generate the stubs first (Debian: protobuf-compiler, protobuf-compiler-grpc):
  protoc -I proto --python_out=GEN --grpc_python_out=GEN \
      --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin $(find proto -name '*.proto')
then run with PYTHONPATH=GEN:
  defect_client.py --endpoint HOST:PORT --ca ca.crt --cert me.crt --key me.key
Prints one line per check; exits 0 when all pass, 1 otherwise.

Riding through a server restart: every call but the first waits for a connection
within its deadline (wait_for_ready=True with a timeout), and the channel retries a
lost connection after 100 ms, growing to 5 s at most. Without wait_for_ready a call
made while the connection is down fails at once with UNAVAILABLE, and does not make
grpcio reconnect: after a restart calls fail for ~12 s although the server is back.
The first call is made without it, so that a refused certificate or a wrong CA is
reported at once rather than as a timeout. A call in flight when the server goes away
(UNAVAILABLE after a crash; CANCELLED when it shuts down, as gRPC 1.51 ends the calls
still open after its drain) is sent again by grpcio's retry policy when the contract
marks its method retry-safe (retry_service_config).
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid

import grpc
from google.protobuf import descriptor_pb2

from plantmesh.api.v1 import error_details_pb2
from plantmesh.defect.v1 import defect_pb2
from plantmesh.defect.v1 import defect_service_pb2
from plantmesh.defect.v1 import defect_service_pb2_grpc
from plantmesh.system.v1 import system_service_pb2
from plantmesh.system.v1 import system_service_pb2_grpc

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


def retry_service_config(*services):
    """A gRPC service config that retries the methods the contract marks retry-safe
    (idempotency_level NO_SIDE_EFFECTS, or IDEMPOTENT: a write made safe by its
    request_id or etag) when the server went away under the call: UNAVAILABLE, and
    CANCELLED, which the server sends for calls still open when it shuts down. Client
    streams are left out (grpcio would hold their messages to send them again)."""
    safe = (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)
    names = [{"service": service.full_name, "method": method.name}
             for service in services for method in service.methods
             if method.GetOptions().idempotency_level in safe and not method.client_streaming]
    return json.dumps({"methodConfig": [{
        "name": names,
        "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.1s", "maxBackoff": "2s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"]}}]})


# Reconnection backoff suited to a plant network (grpcio defaults: 1 s growing to 120 s),
# and the retry policy of the services this client calls.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 5000),  # the time one connection attempt gets
    ("grpc.max_reconnect_backoff_ms", 5000),
    ("grpc.service_config", retry_service_config(
        defect_service_pb2.DESCRIPTOR.services_by_name["DefectService"],
        system_service_pb2.DESCRIPTOR.services_by_name["SystemService"])),
]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def field_violations(error):
    """The (field, description) pairs of a BadRequest detail in the error's trailers."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = error_details_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.type_url == BAD_REQUEST_TYPE:
                bad_request = error_details_pb2.BadRequest.FromString(detail.value)
                return [(v.field, v.description) for v in bad_request.field_violations]
    return []


def sample_defect(vin):
    return defect_pb2.Defect(
        vin=vin, model="SEDAN-2.0", zone="PAINT", station="P-07",
        category_code="PAINT-SCRATCH", severity=defect_pb2.SEVERITY_MAJOR,
        description="Reported from Python", shift="2026-11-21/A")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--expect-identity", default="")
    parser.add_argument("--restart-check", metavar="ENV_FILE",
                        help="instead of the API checks: call WhoAmI steadily while "
                             "e2e_live_server (--live-server-pid) restarts the server")
    parser.add_argument("--live-server-pid", type=int, default=0)
    args = parser.parse_args()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key),
        certificate_chain=read(args.cert))
    if args.restart_check:
        return restart_check(args, credentials)
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures += 1

    def expect_invalid(call, request, field, what):
        try:
            call(request, timeout=10, wait_for_ready=True)
            check(False, "%s was accepted" % what)
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  "%s: %s %s" % (what, error.code().name, error.details()))
            violations = field_violations(error)
            check([f for f, _ in violations] == [field],
                  "%s: field violations %s" % (what, violations))

    with grpc.secure_channel(args.endpoint, credentials, options=CHANNEL_OPTIONS) as channel:
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        defects = defect_service_pb2_grpc.DefectServiceStub(channel)

        # The first call fails fast: a TLS refusal is reported as such, at once.
        me = system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=10)
        check(bool(me.identity), "WhoAmI: identity %s, roles %s" % (me.identity, list(me.roles)))
        if args.expect_identity:
            check(me.identity == args.expect_identity, "WhoAmI: expected identity")

        request_id = str(uuid.uuid4())
        request = defect_service_pb2.CreateDefectRequest(
            defect=sample_defect("VIN-PY-1"), request_id=request_id)
        created = defects.CreateDefect(request, timeout=10, wait_for_ready=True).defect
        check(created.id != "" and created.status == defect_pb2.DEFECT_STATUS_REPORTED,
              "CreateDefect: defect %s %s" % (created.id,
                                              defect_pb2.DefectStatus.Name(created.status)))
        again = defects.CreateDefect(request, timeout=10, wait_for_ready=True).defect
        check(again.id == created.id, "CreateDefect retried with the same request_id: same defect")

        bad = defect_service_pb2.CreateDefectRequest(defect=sample_defect("not a vin!"),
                                                     request_id=str(uuid.uuid4()))
        try:
            defects.CreateDefect(bad, timeout=10, wait_for_ready=True)
            check(False, "CreateDefect with a bad VIN was accepted")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  "bad VIN: %s %s" % (error.code().name, error.details()))
            violations = field_violations(error)
            check(any(field == "defect.vin" for field, _ in violations),
                  "bad VIN: field violations %s" % violations)

        # Several changes per message: they come in `changes`, oldest first, `event` unset.
        watch = defects.WatchDefects(
            defect_service_pb2.WatchDefectsRequest(cursor="0", max_changes_per_response=50),
            timeout=10, wait_for_ready=True)
        first = next(watch)
        watch.cancel()
        check(len(first.changes) >= 1 and not first.HasField("event")
              and all(c.event.cursor for c in first.changes),
              "WatchDefects, up to 50 changes a message: %d in the first" % len(first.changes))
        try:
            next(defects.WatchDefects(
                defect_service_pb2.WatchDefectsRequest(max_changes_per_response=1001),
                timeout=10, wait_for_ready=True))
            check(False, "WatchDefects with max_changes_per_response 1001 was accepted")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT
                  and [f for f, _ in field_violations(error)] == ["max_changes_per_response"],
                  "max_changes_per_response 1001: %s %s" % (error.code().name, error.details()))

        # Many long violations stay within a default client's 8 KiB of trailers: twenty
        # unknown statuses (each violation lists every value name) are INVALID_ARGUMENT
        # naming statuses[0] first, not RESOURCE_EXHAUSTED "metadata size exceeds limit".
        try:
            defects.ListDefects(defect_service_pb2.ListDefectsRequest(
                statuses=list(range(100, 120))), timeout=10, wait_for_ready=True)
            check(False, "ListDefects with 20 unknown statuses was accepted")
        except grpc.RpcError as error:
            fields = [f for f, _ in field_violations(error)]
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT and fields[:1] == ["statuses[0]"]
                  and "more field violations not listed" in field_violations(error)[-1][1],
                  "20 unknown statuses: %s, %d violations listed" % (error.code().name,
                                                                     len(fields) - 1))

        # max_chars counts characters (code points), not bytes: a request_id of 128
        # two-byte characters is taken, one of 129 refused naming it.
        accented = defect_service_pb2.CreateDefectRequest(defect=sample_defect("VIN-PY-E"),
                                                          request_id="\u00e9" * 128)
        created = defects.CreateDefect(accented, timeout=10, wait_for_ready=True).defect
        check(created.id != "", "request_id of 128 x U+00E9 (256 bytes): accepted")
        accented.request_id = "\u00e9" * 129
        expect_invalid(defects.CreateDefect, accented, "request_id", "request_id of 129 characters")

        # Input rules: a NUL in text is refused naming the field, never cut or stored.
        nul = defect_service_pb2.CreateDefectRequest(defect=sample_defect("VIN-PY-NUL"),
                                                     request_id=str(uuid.uuid4()))
        nul.defect.description = "scratch\x00tail"
        expect_invalid(defects.CreateDefect, nul, "defect.description", "NUL in description")

        # A proto3 string that is not UTF-8: Python's protobuf will not build one, but any
        # client can send the bytes. The same request with Latin-1 bytes in the description,
        # sent without a serializer.
        marked = defect_service_pb2.CreateDefectRequest(defect=sample_defect("VIN-PY-UTF8"),
                                                        request_id=str(uuid.uuid4()))
        marked.defect.description = "Kratzer an der MARK"
        raw = marked.SerializeToString().replace(b"MARK", b"T\xfcr ")
        create_raw = channel.unary_unary("/plantmesh.defect.v1.DefectService/CreateDefect")
        expect_invalid(create_raw, raw, "defect.description", "invalid UTF-8 in description")

    return 1 if failures else 0


def restart_check(args, credentials):
    """WhoAmI every 10 ms (5 s deadline, wait_for_ready) on one channel while the live
    server is killed and restarted on the same port: the first call after it is back
    succeeds within 10 s (the longest reconnect backoff, 5 s with gRPC's 20 % jitter, and
    a slow handshake), and no call fails once that first call is answered and 6 s have
    passed. The steady calls have a 5 s deadline: a 1 s deadline also failed calls the
    reconnected server answered slowly (an ASan build on a busy machine: 21 of them),
    which is not what this checks. Prints the figures."""
    restarts_file = args.restart_check + ".restarts"
    calls = []  # (issued, ok, error)
    stop = threading.Event()
    with grpc.secure_channel(args.endpoint, credentials, options=CHANNEL_OPTIONS) as channel:
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=10)

        def steady():
            while not stop.is_set():
                issued = time.monotonic()
                try:
                    system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=5,
                                  wait_for_ready=True)
                    calls.append((issued, True, ""))
                except grpc.RpcError as error:
                    calls.append((issued, False, "%s %s" % (error.code().name, error.details())))
                time.sleep(0.01)  # the pace of the scenario

        caller = threading.Thread(target=steady)
        caller.start()
        killed = time.monotonic()
        os.kill(args.live_server_pid, signal.SIGUSR1)
        deadline = killed + 60
        while not os.path.exists(restarts_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        back = time.monotonic()
        if not os.path.exists(restarts_file):
            stop.set()
            caller.join()
            print("FAIL the server was not restarted")
            return 1
        failures = 0
        try:
            system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=10, wait_for_ready=True)
            print("ok   the first call after the restart with a 10 s deadline succeeded")
        except grpc.RpcError as error:
            print("FAIL the first call after the restart: %s %s"
                  % (error.code().name, error.details()))
            failures += 1
        first_done = time.monotonic()
        settled = max(back + 6, first_done)
        while sum(1 for issued, _, _ in calls if issued >= settled) < 20:
            if time.monotonic() > settled + 60:
                break
            time.sleep(0.05)
        stop.set()
        caller.join()
    late = [error for issued, ok, error in calls if issued >= settled and not ok]
    if late:
        print("FAIL %d calls failed once the restart had settled, e.g. %s"
              % (len(late), late[0]))
        failures += 1
    else:
        print("ok   no call failed once the restart had settled")
    # A call in flight when the server was killed is sent again (the retry policy), and
    # waits for the restarted server within its deadline: none ends UNAVAILABLE or
    # CANCELLED (outside testing: one did at every restart, without the policy).
    lost = [error for _, ok, error in calls
            if not ok and error.split(" ")[0] in ("UNAVAILABLE", "CANCELLED")]
    if lost:
        print("FAIL %d calls ended as the server went away, e.g. %s" % (len(lost), lost[0]))
        failures += 1
    else:
        print("ok   no call ended UNAVAILABLE or CANCELLED as the server went away")
    before = sum(1 for issued, ok, _ in calls if issued < back and not ok)
    after = sum(1 for issued, ok, _ in calls if issued >= back and not ok)
    first_ok = min((issued for issued, ok, _ in calls if issued >= back and ok), default=None)
    print("     server down %.3f s (kill to healthy); 5 s-deadline call done %.3f s after; "
          "steady caller: %d of %d calls failed before the server was back, %d after; "
          "first success issued %s after"
          % (back - killed, first_done - back, before, len(calls), after,
             "%.3f s" % (first_ok - back) if first_ok is not None else "never"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
