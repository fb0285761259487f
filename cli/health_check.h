// A grpc.health.v1.Health/Check call over any channel, plus what the TLS handshake told
// about the server (its certificate and SPIFFE ID). The health messages are encoded on
// the wire here (HealthCheckRequest: field 1 service; HealthCheckResponse: field 1
// status): plantctl carries only the PlantMesh contracts, and the health contract is
// gRPC's own and fixed.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}

namespace plantmesh::cli {

struct HealthAnswer {
  // HealthCheckResponse.ServingStatus by name: UNKNOWN, SERVING, NOT_SERVING or
  // SERVICE_UNKNOWN.
  std::string status;
  // The server's leaf certificate (PEM) and its SPIFFE ID, from the call's auth context
  // (gRPC's x509_pem_cert and peer_spiffe_id properties; the latter only when the
  // certificate has exactly one URI SAN). Empty over a plaintext channel.
  std::string peer_certificate_pem;
  std::string peer_spiffe_id;
};

// Asks `channel` for the health of `service` ("" = the server as a whole) within
// `timeout`. The call's failure as a status (NOT_FOUND: the server does not know the
// service; UNAVAILABLE: no server there), in the SDK's terms (sdk::FromGrpcStatus, with
// `mutual_tls` as for the channel: a refused client certificate is UNAUTHENTICATED).
absl::StatusOr<HealthAnswer> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service, absl::Duration timeout,
                                         bool mutual_tls);

}  // namespace plantmesh::cli
