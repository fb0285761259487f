#!/usr/bin/python3
"""B12's Python client: calls SystemService.WhoAmI at a steady rate the way
interop/clients/python does (grpcio, mutual TLS, the same reconnect backoff, every call
with wait_for_ready and a deadline) and logs every call like plantmesh-loadgen
--calls-log: issue and end time (Unix seconds), status code name, worker (always 0).

  PYTHONPATH=GEN restart_python_client.py --endpoint H:P --ca ca.crt --cert c.crt \
      --key c.key --rate 100 --duration 6 --calls-log FILE --json FILE

GEN holds the stubs generated from proto/ (see interop/clients/python/defect_client.py).
"""
import argparse
import json
import threading
import time

import grpc

from plantmesh.system.v1 import system_service_pb2
from plantmesh.system.v1 import system_service_pb2_grpc

# As interop/clients/python/defect_client.py.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 5000),
    ("grpc.max_reconnect_backoff_ms", 5000),
]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--endpoint", "--ca", "--cert", "--key", "--calls-log", "--json"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--deadline", type=float, default=1)
    args = parser.parse_args()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key),
        certificate_chain=read(args.cert))
    calls = []
    lock = threading.Lock()
    pending = []
    with grpc.secure_channel(args.endpoint, credentials, options=CHANNEL_OPTIONS) as channel:
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=10)  # connected first

        def record(issued):
            def done(future):
                ended = time.time()
                code = future.code() if future.code() is not None else grpc.StatusCode.UNKNOWN
                with lock:
                    calls.append((issued, ended, code.name))
            return done

        start = time.time()
        due = start
        while due < start + args.duration:
            now = time.time()
            if due > now:
                time.sleep(due - now)  # the rate of the scenario
            issued = time.time()
            future = system.WhoAmI.future(system_service_pb2.WhoAmIRequest(),
                                          timeout=args.deadline, wait_for_ready=True)
            future.add_done_callback(record(issued))
            pending.append(future)
            due += 1.0 / args.rate
        for future in pending:
            try:
                future.result()
            except grpc.RpcError:
                pass
    # Callbacks may still run just after result() returns: wait for all (bounded).
    give_up = time.time() + 10
    while time.time() < give_up:
        with lock:
            if len(calls) == len(pending):
                break
        time.sleep(0.01)
    with lock:
        calls.sort()
        with open(args.calls_log, "w") as f:
            f.write("# issued_unix_s ended_unix_s code worker\n")
            for issued, ended, code in calls:
                f.write("%.6f %.6f %s 0\n" % (issued, ended, code))
        ok = sum(1 for c in calls if c[2] == "OK")
    with open(args.json, "w") as f:
        json.dump({"label": "python", "target_rate": args.rate, "succeeded": ok,
                   "failed": len(calls) - ok}, f)


if __name__ == "__main__":
    main()
