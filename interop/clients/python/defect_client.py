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
"""
import argparse
import sys
import uuid

import grpc

from plantmesh.api.v1 import error_details_pb2
from plantmesh.defect.v1 import defect_pb2
from plantmesh.defect.v1 import defect_service_pb2
from plantmesh.defect.v1 import defect_service_pb2_grpc
from plantmesh.system.v1 import system_service_pb2
from plantmesh.system.v1 import system_service_pb2_grpc

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


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
    args = parser.parse_args()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key),
        certificate_chain=read(args.cert))
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures += 1

    def expect_invalid(call, request, field, what):
        try:
            call(request, timeout=10)
            check(False, "%s was accepted" % what)
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  "%s: %s %s" % (what, error.code().name, error.details()))
            violations = field_violations(error)
            check([f for f, _ in violations] == [field],
                  "%s: field violations %s" % (what, violations))

    with grpc.secure_channel(args.endpoint, credentials) as channel:
        system = system_service_pb2_grpc.SystemServiceStub(channel)
        defects = defect_service_pb2_grpc.DefectServiceStub(channel)

        me = system.WhoAmI(system_service_pb2.WhoAmIRequest(), timeout=10)
        check(bool(me.identity), "WhoAmI: identity %s, roles %s" % (me.identity, list(me.roles)))
        if args.expect_identity:
            check(me.identity == args.expect_identity, "WhoAmI: expected identity")

        request_id = str(uuid.uuid4())
        request = defect_service_pb2.CreateDefectRequest(
            defect=sample_defect("VIN-PY-1"), request_id=request_id)
        created = defects.CreateDefect(request, timeout=10).defect
        check(created.id != "" and created.status == defect_pb2.DEFECT_STATUS_REPORTED,
              "CreateDefect: defect %s %s" % (created.id,
                                              defect_pb2.DefectStatus.Name(created.status)))
        again = defects.CreateDefect(request, timeout=10).defect
        check(again.id == created.id, "CreateDefect retried with the same request_id: same defect")

        bad = defect_service_pb2.CreateDefectRequest(defect=sample_defect("not a vin!"),
                                                     request_id=str(uuid.uuid4()))
        try:
            defects.CreateDefect(bad, timeout=10)
            check(False, "CreateDefect with a bad VIN was accepted")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  "bad VIN: %s %s" % (error.code().name, error.details()))
            violations = field_violations(error)
            check(any(field == "defect.vin" for field, _ in violations),
                  "bad VIN: field violations %s" % violations)

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


if __name__ == "__main__":
    sys.exit(main())
