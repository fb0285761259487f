"""Hostile inputs from a client that knows only the .proto files.

For every method of every PlantMesh service (read from a FileDescriptorSet, so a new
method or service is covered without a change here), sends requests built from the
contract: each request is plausible (codes, ids and times the seeded mesh knows) with
one or two fields replaced by a hostile value of the field's type: NUL and control
characters, line breaks, very long text, extreme and negative integers, NaN and
infinities, timestamps outside 0001-9999, unknown enum numbers, empty and long
repeated fields, garbage page tokens. A third-party client can send all of these.

The server must answer each with a status a client can act on, never one that says
the server broke: INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, or UNAVAILABLE (it
crashed or stopped answering) fail the run, as does a unary call that hangs past its
deadline. INVALID_ARGUMENT must name at least one field (a BadRequest detail), and
every error must carry a reason (an ErrorInfo detail).
Then request_id reuse (AIP-155), on every unary method that takes one: an acknowledged
change sent again answers exactly as the first time; another payload under the same id
must not answer OK.

  hostile_inputs.py --descriptors FILE --endpoint HOST:PORT --ca F --cert F --key F
                    [--seed N] [--per-method N]
Prints one line per failure (method, status, the request in text format) and a
summary; exit 1 when anything failed.
"""

import argparse
import math
import random
import sys

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor as FD

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
BROKEN = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.UNAVAILABLE,
}

# Values the seeded mesh knows (tests/e2e/mesh.cc SeedReferenceData), so that some
# requests get past existence checks into deeper code.
PLAUSIBLE_CODES = [
    "PAINT", "BODY", "P-07", "RP-01", "RP-02", "CREW-A", "M-107", "PAINT-SCRATCH", "L1",
    "LINE-1", "CNC-01", "A", "EXECUTION", "SPINDLE-SPEED",
]
PLAUSIBLE_TEXT = PLAUSIBLE_CODES + [
    "SEDAN-2.0", "VIN-HOSTILE-1", "2026-11-21/A", "spindle", "Europe/Berlin", "door",
    "image/jpeg", "a note", "1", "0", "a\nnote over\ttwo lines",
]
# Contract annotations (proto/plantmesh/api/v1/annotations.proto), read from each
# field's options on the wire: this client has no generated code for them.
TEXT_OPTION = 50003          # TextRule: kind = 1
FIELD_BEHAVIOR_OPTION = 50004
TEXT_KIND_CODE = 3
BEHAVIOR_REQUIRED = 2
BEHAVIOR_OUTPUT_ONLY = 3
HOSTILE_TEXT = [
    "", " ", "\x00", "A\x00B", "PAINT\n", "\r\n", "a\rb", "\t", "\x1b[31mred", "\x7f",
    "\u0085", "\u2028", "\ufeff", "\u202eevil", "\U0001f642" * 40, "x" * 300, "x" * 70000,
    "../../etc/passwd", "' OR 1=1 --", "%s%n%x", "\\", "NULL", "-", "0-0", "99999999999999-0",
    "1-0", "-1", "2026-13-45/Z", "Mars/Olympus", "tz/../../etc",
]


def hostile_integers(field):
    bits = 64 if field.type in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64,
                                FD.TYPE_UINT64, FD.TYPE_FIXED64) else 32
    if field.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32, FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return [0, 1, 2**bits - 1, 2**(bits - 1)]
    return [0, -1, 1, 2**(bits - 1) - 1, -2**(bits - 1), 1000000]


HOSTILE_DOUBLES = [math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324, -1.0, 0.0]
# Seconds since the Unix epoch: protobuf's Timestamp allows 0001-01-01 .. 9999-12-31.
HOSTILE_SECONDS = [-62135596801, -62135596800, 253402300799, 253402300800, -1, 0, 2**62,
                   -2**62]
HOSTILE_NANOS = [-1, 1000000000, 999999999, -999999999]


class Builder:
    """Plausible messages from descriptors, with hostile values in chosen fields."""

    def __init__(self, rng, factory):
        self.rng = rng
        self.factory = factory

    def plausible_scalar(self, field):
        t = field.type
        if t == FD.TYPE_STRING:
            if field.name == "request_id":
                return "hostile-%016x" % self.rng.getrandbits(64)
            if text_kind(field) == TEXT_KIND_CODE:
                if field.name == "id" and self.rng.random() < 0.5:
                    return "H-%08X" % self.rng.getrandbits(32)  # a new resource's id
                return self.rng.choice(PLAUSIBLE_CODES)
            return self.rng.choice(PLAUSIBLE_TEXT)
        if t == FD.TYPE_BYTES:
            return self.rng.choice([b"", b"\xff\xd8\xff" + bytes(self.rng.randrange(256)
                                                                for _ in range(64))])
        if t == FD.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return self.rng.choice([0.0, 1.0, 12.5, 100.0, 3600.0])
        if t == FD.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values if v.number != 0]
            return self.rng.choice(values or [0])
        return self.rng.choice([0, 1, 2, 10, 50, 100])

    def hostile_scalar(self, field):
        t = field.type
        if t == FD.TYPE_STRING:
            return self.rng.choice(HOSTILE_TEXT)
        if t == FD.TYPE_BYTES:
            return self.rng.choice([b"", b"\x00" * 16, bytes(self.rng.randrange(256)
                                                           for _ in range(4096))])
        if t == FD.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return self.rng.choice(HOSTILE_DOUBLES)
        if t == FD.TYPE_ENUM:
            top = max(v.number for v in field.enum_type.values)
            return self.rng.choice([0, top + 1, 99, -1, 2**31 - 1])
        return self.rng.choice(hostile_integers(field))

    def fill_well_known(self, message, hostile):
        name = message.DESCRIPTOR.full_name
        if name == "google.protobuf.Timestamp":
            if hostile:
                message.seconds = self.rng.choice(HOSTILE_SECONDS)
                message.nanos = self.rng.choice(HOSTILE_NANOS + [0])
            else:
                # Around the seeded mesh's time: 2026-11, +- a few days.
                message.seconds = 1795000000 + self.rng.randrange(-400000, 400000)
            return True
        if name == "google.protobuf.Duration":
            if hostile:
                message.seconds = self.rng.choice([-1, 0, 315576000000, 315576000001, -2**62])
                message.nanos = self.rng.choice(HOSTILE_NANOS + [0])
            else:
                message.seconds = self.rng.choice([60, 3600, 28800])
            return True
        if name == "google.protobuf.FieldMask":
            message.paths.extend(self.rng.choice([[], ["*"], ["id"], ["no_such_field"],
                                                  ["a.b.c"], ["\x00"]]))
            return True
        return False

    def fill(self, message, depth, hostile_paths, path=""):
        if self.fill_well_known(message, path in hostile_paths):
            return
        chosen_oneofs = {}
        for oneof in message.DESCRIPTOR.oneofs:
            chosen_oneofs[oneof.name] = self.rng.choice(oneof.fields).name
        for field in message.DESCRIPTOR.fields:
            field_path = f"{path}.{field.name}" if path else field.name
            oneof = field.containing_oneof
            if oneof is not None and chosen_oneofs.get(oneof.name) != field.name:
                continue
            hostile = field_path in hostile_paths
            behaviors = field_behaviors(field)
            if not hostile and BEHAVIOR_OUTPUT_ONLY in behaviors:
                continue
            if (not hostile and BEHAVIOR_REQUIRED not in behaviors
                    and self.rng.random() < 0.3):
                continue  # optional, left unset
            repeated = field.label == FD.LABEL_REPEATED
            if field.type == FD.TYPE_MESSAGE:
                if field.message_type.GetOptions().map_entry:
                    continue
                if depth > 4:
                    continue
                container = getattr(message, field.name)
                if repeated:
                    count = self.rng.choice([0, 1, 2, 3, 200] if hostile else [1, 2])
                    for _ in range(count):
                        self.fill(container.add(), depth + 1, hostile_paths, field_path)
                else:
                    self.fill(container, depth + 1, hostile_paths, field_path)
                continue
            make = self.hostile_scalar if hostile else self.plausible_scalar
            if repeated:
                count = self.rng.choice([0, 1, 3, 2000] if hostile else [1, 2])
                getattr(message, field.name).extend(make(field) for _ in range(count))
            else:
                setattr(message, field.name, make(field))

    def scalar_paths(self, descriptor, depth=0, path=""):
        """Dot paths of every field (messages included), depth-limited."""
        paths = []
        for field in descriptor.fields:
            field_path = f"{path}.{field.name}" if path else field.name
            paths.append(field_path)
            if (field.type == FD.TYPE_MESSAGE and depth < 4
                    and not field.message_type.GetOptions().map_entry
                    and not field.message_type.full_name.startswith("google.protobuf.")):
                paths.extend(self.scalar_paths(field.message_type, depth + 1, field_path))
        return paths

    def plausible(self, descriptor):
        message = self.factory.GetPrototype(descriptor)()
        self.fill(message, 0, set())
        return message

    def request(self, descriptor):
        cls = self.factory.GetPrototype(descriptor)
        message = cls()
        paths = self.scalar_paths(descriptor)
        hostile = set(self.rng.sample(paths, min(len(paths), self.rng.choice([1, 1, 2]))))
        self.fill(message, 0, hostile)
        return message


def option_fields(field):
    """(number, wire type, value) of the field's options, extensions included."""
    if not field.has_options:
        return []
    return list(fields_of(field.GetOptions().SerializeToString()))


def text_kind(field):
    for number, wire, value in option_fields(field):
        if number == TEXT_OPTION and wire == 2:
            for n, w, v in fields_of(value):
                if n == 1 and w == 0:
                    return v
    return 0


def field_behaviors(field):
    return {v for n, w, v in option_fields(field) if n == FIELD_BEHAVIOR_OPTION and w == 0}


def names_a_field(error):
    """True when the error's google.rpc.Status carries a BadRequest naming a field."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for type_url, payload in status_details(value):
            if type_url == BAD_REQUEST_TYPE and any(bad_request_fields(payload)):
                return True
    return False


def made_by_grpc(error):
    """gRPC's own refusal of a request over the server's message limit: no handler saw it."""
    return (error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            and "Received message larger than max" in (error.details() or ""))


def error_reason(error):
    """The reason of the error's ErrorInfo ("" when it has none)."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for type_url, payload in status_details(value):
            if type_url == ERROR_INFO_TYPE:
                for number, wire, field in fields_of(payload):
                    if number == 1 and wire == 2:  # ErrorInfo.reason
                        return field.decode(errors="replace")
    return ""


# google.rpc.Status and BadRequest are read from the wire by hand: Debian has no
# googleapis-common-protos for python3. Status.details = 3 (Any: type_url 1, value 2);
# BadRequest.field_violations = 1 (FieldViolation.field = 1).
def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields_of(data):
    """(number, wire type, value) of each field of a serialized message."""
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            return
        yield number, wire, value


def status_details(data):
    for number, wire, value in fields_of(data):
        if number == 3 and wire == 2:
            parts = {n: v for n, w, v in fields_of(value) if w == 2}
            yield parts.get(1, b"").decode(), parts.get(2, b"")


def bad_request_fields(data):
    for number, wire, value in fields_of(data):
        if number == 1 and wire == 2:
            for n, w, v in fields_of(value):
                if n == 1 and w == 2:
                    yield v.decode(errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descriptors", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-method", type=int, default=40)
    parser.add_argument("--only", default="", help="substring of the methods to try")
    args = parser.parse_args()

    with open(args.descriptors, "rb") as f:
        files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    services = []
    for file in files.file:
        if not file.package.startswith("plantmesh."):
            continue
        for service in file.service:
            services.append(pool.FindServiceByName(f"{file.package}.{service.name}"))

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(read(args.ca), read(args.key), read(args.cert))
    channel = grpc.secure_channel(args.endpoint, credentials,
                                  options=[("grpc.max_receive_message_length", 64 << 20),
                                           ("grpc.max_send_message_length", 64 << 20)])
    rng = random.Random(args.seed)
    builder = Builder(rng, factory)
    calls = failures = 0
    by_code = {}

    def fail(name, problem, messages):
        nonlocal failures
        failures += 1
        shown = "\n---\n".join(
            text_format.MessageToString(m, as_utf8=False)[:2000] for m in messages)
        print(f"FAIL {name}: {problem}\n{shown}\n", flush=True)

    methods = [(f"/{service.full_name}/{method.name}", method)
               for service in services for method in service.methods]
    methods = [(name, method) for name, method in methods if args.only in name]
    for name, method in methods:
        for _ in range(args.per_method):
            count = rng.choice([0, 1, 2, 3]) if method.client_streaming else 1
            messages = [builder.request(method.input_type) for _ in range(count)]
            code, error, _ = invoke(channel, factory, name, method, messages)
            calls += 1
            by_code[code.name] = by_code.get(code.name, 0) + 1
            if code in BROKEN:
                fail(name, f"{code.name}: {error.details()}", messages)
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED and not method.server_streaming:
                fail(name, "hung past its 30 s deadline", messages)
            elif code == grpc.StatusCode.INVALID_ARGUMENT and not names_a_field(error):
                fail(name, f"INVALID_ARGUMENT naming no field: {error.details()}", messages)
            elif (code not in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED)
                  and not made_by_grpc(error) and not error_reason(error)):
                # Every error the server answers carries a reason a client can dispatch
                # on (outside testing: NOT_FOUND of some services had no details).
                fail(name, f"{code.name} without an ErrorInfo reason: {error.details()}",
                     messages)

    # request_id reuse, on every unary method that takes one (AIP-155): the same request
    # again answers exactly as the first time; another payload under the same id is
    # ALREADY_EXISTS (never the first call's answer for a different request).
    replays = 0
    for name, method in methods:
        if (method.client_streaming or method.server_streaming
                or "request_id" not in method.input_type.fields_by_name):
            continue
        for _ in range(max(1, args.per_method // 4)):
            first = builder.plausible(method.input_type)
            first.request_id = "reuse-%016x" % rng.getrandbits(64)
            code, _, answer = invoke(channel, factory, name, method, [first])
            if code != grpc.StatusCode.OK:
                continue
            replays += 1
            again_code, again_error, again = invoke(channel, factory, name, method, [first])
            if again_code != grpc.StatusCode.OK or again != answer:
                fail(name, f"the same request again answered {again_code.name} "
                           f"{again_error.details() if again_error else '(a different response)'}",
                     [first])
                continue
            other = builder.plausible(method.input_type)
            other.request_id = first.request_id
            if other.SerializeToString(deterministic=True) == first.SerializeToString(
                    deterministic=True):
                continue
            other_code, other_error, _ = invoke(channel, factory, name, method, [other])
            if other_code == grpc.StatusCode.OK:
                fail(name, "another payload under a used request_id answered OK", [first, other])
            elif other_code in BROKEN:
                fail(name, f"{other_code.name}: {other_error.details()}", [first, other])
    summary = ", ".join(f"{k} {v}" for k, v in sorted(by_code.items()))
    print(f"hostile inputs: seed {args.seed}, {calls} calls over {len(methods)} methods "
          f"({summary}); request_id reuse checked on {replays} acknowledged changes; "
          f"{failures} failed")
    return 1 if failures else 0


def invoke(channel, factory, name, method, messages):
    """(status code, error or None, serialized response or None) of one call."""
    response_cls = factory.GetPrototype(method.output_type)
    serialize = lambda m: m.SerializeToString()  # noqa: E731
    deserialize = response_cls.FromString
    try:
        if method.server_streaming:
            # Watches and tails stay open: read briefly, then stop.
            kind = channel.stream_stream if method.client_streaming else channel.unary_stream
            stream = kind(name, request_serializer=serialize, response_deserializer=deserialize)(
                iter(messages) if method.client_streaming else messages[0], timeout=1.5)
            for _ in stream:
                pass
            return grpc.StatusCode.OK, None, None
        kind = channel.stream_unary if method.client_streaming else channel.unary_unary
        response = kind(name, request_serializer=serialize, response_deserializer=deserialize)(
            iter(messages) if method.client_streaming else messages[0], timeout=30)
        return grpc.StatusCode.OK, None, response.SerializeToString(deterministic=True)
    except grpc.RpcError as e:
        return e.code(), e, None


if __name__ == "__main__":
    sys.exit(main())
