// plantmesh-server's configuration: one file (TOML, keys = long option names),
// overridden by PLANTMESH_* environment variables, overridden by flags. Unknown keys are
// an error. Every key is listed by `plantmesh-server --help` and in the README.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

struct ServiceDescriptor;

// A hosted service's own options, read from its `[<service>]` section of the config
// file. Each service derives its struct from this and declares its keys with a
// ConfigSection (ServiceDescriptor::declare_config).
class ServiceConfig {
 public:
  virtual ~ServiceConfig() = default;
};

// Declares the keys of one section, e.g. `photo-max-bytes` of `[defect]`: the TOML key
// under the section header, the flag `--defect.photo-max-bytes` and the environment
// variable PLANTMESH_DEFECT_PHOTO_MAX_BYTES (flags > environment > file > default, as
// for every key). Unknown keys in a section are errors; every key is listed by --help
// under its section. A value outside [min, max] is reported with the others at start.
class ConfigSection {
 public:
  virtual ~ConfigSection() = default;
  virtual void Add(const std::string& key, int64_t* value, const std::string& help, int64_t min,
                   int64_t max) = 0;
  virtual void Add(const std::string& key, std::string* value, const std::string& help) = 0;
  virtual void Add(const std::string& key, bool* value, const std::string& help) = 0;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:7443";  // listen
  // probe-listen: HOST:PORT of the plaintext listener that serves grpc.health.v1 and
  // nothing else (the kubelet's gRPC probes cannot do mTLS); "" for none. Port 0 picks a
  // free one, so that processes on one host do not clash.
  std::string probe_listen = "127.0.0.1:0";
  // metrics-listen: HOST:PORT of the plaintext HTTP listener that serves GET /metrics
  // (Prometheus text format) and nothing else; "" (the default) for none. Off unless
  // set, because only a fixed, known port can be scraped and a fixed default would
  // clash between the processes of one host: set where a scraper is configured (in
  // Kubernetes the pod IP, e.g. $(POD_IP):9464).
  std::string metrics_listen;
  std::vector<std::string> services = {"defect"};  // services
  // TLS (required unless insecure)
  std::string tls_ca;           // tls-ca: CA bundle that client certificates must chain to
  std::string tls_cert;         // tls-cert: server certificate chain
  std::string tls_key;          // tls-key: server private key
  int tls_reload_seconds = 10;  // tls-reload-seconds: how often cert files are re-read
  bool insecure = false;        // insecure: plaintext, only on loopback
  std::string trust_domain = "plantmesh.local";  // trust-domain: expected SPIFFE trust domain
  std::string role_bindings;  // role-bindings: JSON file mapping identities to roles
  // PostgreSQL / Redis
  std::string postgres_url;    // postgres-url
  int postgres_pool_size = 8;  // postgres-pool-size
  // Server-side limits per statement and per lock wait; 0 turns one off.
  int postgres_statement_timeout_ms = 10000;  // postgres-statement-timeout-ms
  int postgres_lock_timeout_ms = 5000;        // postgres-lock-timeout-ms
  // postgres-migration-lock-wait-seconds: how long a start waits for another replica's
  // migrations (migrations themselves run without the two limits above).
  int postgres_migration_lock_wait_seconds = 600;
  std::string redis_host = "127.0.0.1";  // redis-host
  int redis_port = 6379;                 // redis-port
  std::string redis_user;                // redis-user: ACL user (Redis 6+); empty: default user
  // redis-password-file: a file holding Redis's password (requirepass or the ACL user's)
  // on its one line; empty: no AUTH. Read at start into redis_password (never a key).
  std::string redis_password_file;
  std::string redis_password;
  int64_t events_retain = 100000;  // events-retain: stream entries kept for Watch cursors
  // events-retain-bytes: about the most payload bytes a stream keeps (entries are up to
  // ~1 MiB: a group of telemetry samples); the fewer entries of the two bounds are kept.
  int64_t events_retain_bytes = int64_t{1} << 30;
  // request-id-retention-days: how long a request_id is remembered (request_log_pruner.h);
  // a call that reuses one after that is a new call.
  int request_id_retention_days = 30;
  // watch-queue-events: events queued per watcher before it is ended as too slow
  // (UNAVAILABLE WATCH_TOO_SLOW with its resume cursor).
  int64_t watch_queue_events = 1024;
  // watch-queue-bytes: and the bytes of those events (a telemetry event holds up to ~1 MiB).
  int64_t watch_queue_bytes = int64_t{128} << 20;
  // Behaviour
  absl::Duration drain_timeout = absl::Seconds(15);  // drain-seconds
  // upload-memory-bytes: what all uploads being received may hold in memory together,
  // counted by bytes actually received; beyond it an upload is RESOURCE_EXHAUSTED.
  int64_t upload_memory_bytes = 256LL * 1024 * 1024;
  // download-memory-bytes: what all downloads being sent may hold in memory together (a
  // photo's bytes while its chunks go out); beyond it a download is RESOURCE_EXHAUSTED.
  int64_t download_memory_bytes = 256LL * 1024 * 1024;
  // transfer-idle-seconds: an upload or download that moves no chunk for this long is
  // ended, giving its memory back (transfer_watchdog.h); 0: never.
  int transfer_idle_seconds = 60;
  bool audit_reads = false;                          // audit-reads: also audit read-only calls
  bool reflection = true;                            // reflection
  std::string log_level = "info";                    // log-level
  std::string log_format = "text";                   // log-format: text or json (lines)
  int max_receive_message_bytes = 4 * 1024 * 1024;   // max-receive-message-bytes
  int max_send_message_bytes = 4 * 1024 * 1024;      // max-send-message-bytes
  int max_metadata_bytes = 16 * 1024;                // max-metadata-bytes
  int64_t memory_quota_bytes = 512LL * 1024 * 1024;  // memory-quota-bytes: gRPC ResourceQuota
  // Threads (README, "Threading model"). executor-threads: handlers (and every blocking
  // step of a stream) running at once; executor-queue: calls waiting for one of them
  // before new calls are refused with RESOURCE_EXHAUSTED.
  int executor_threads = 16;
  int executor_queue = 1024;
  // grpc-max-threads: ResourceQuota::SetMaxThreads, the threads gRPC may start for the
  // service still on its synchronous API (reflection).
  int grpc_max_threads = 16;
  // max-concurrent-streams: calls one client connection may have open at once (HTTP/2
  // SETTINGS_MAX_CONCURRENT_STREAMS); further calls wait on the client.
  int max_concurrent_streams = 1024;
  // min-ping-seconds: the least interval between client keepalive pings the server
  // accepts; clients' keepalive time must not be shorter (policy and why 5 s:
  // keepalive.h).
  int min_ping_seconds = 5;
  // max-connection-age-seconds: a client connection older than this (±10 %) is asked to
  // go (HTTP/2 GOAWAY) and its client reconnects, with a new TLS handshake; 0: never.
  // Bounds how long a connection outlives its client certificate's expiry or a CA
  // removed from tls-ca: both are checked at the handshake only.
  int max_connection_age_seconds = 0;
  // max-connection-age-grace-seconds: how long calls still open on such a connection
  // (watches, tails, ingest streams) may go on before it is closed (they end
  // UNAVAILABLE; the SDK's watches resume from their cursor, its writer re-sends).
  int max_connection_age_grace_seconds = 60;
  // handshake-timeout-seconds: a client connection that has not finished its TLS and
  // HTTP/2 handshake by then is closed (gRPC's default is 120 s).
  int handshake_timeout_seconds = 10;
  int role_bindings_reload_seconds = 2;  // role-bindings-reload-seconds: file poll period
  // Each known service's section by service name (declared even when not hosted, so
  // one file serves every process of a mesh).
  std::map<std::string, std::shared_ptr<const ServiceConfig>> sections;
};

// Parses argv (with --config FILE), environment and defaults, with a section for each
// of `services` that declares one. Prints help and exits the process for --help.
// INVALID_ARGUMENT naming the key (`section.key` in a section) for bad values, unknown
// keys, or TLS files missing without --insecure.
// `services` (when given) are the known ones: config.services must name only them
// (SelectServices), a configuration fault like any other.
absl::StatusOr<ServerConfig> LoadServerConfig(
    int argc, char** argv, const std::vector<const ServiceDescriptor*>& services = {});

// The descriptors named by config.services, in that order. INVALID_ARGUMENT naming an
// unknown service (and the known ones), or a missing postgres-url when a selected
// service owns a schema.
absl::StatusOr<std::vector<const ServiceDescriptor*>> SelectServices(
    const ServerConfig& config, const std::vector<const ServiceDescriptor*>& known);

}  // namespace plantmesh::runtime
