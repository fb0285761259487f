// Transport credentials of plantmesh-server: mutual TLS whose files are re-read every
// tls-reload-seconds (rotation without restart; new connections get the new files),
// or plaintext with --insecure (config validation keeps that to loopback).
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "server/runtime/config.h"

namespace plantmesh::runtime {

// Clients must present a certificate that chains to tls-ca; the handshake fails
// otherwise, before any handler runs.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerConfig& config);

}  // namespace plantmesh::runtime
