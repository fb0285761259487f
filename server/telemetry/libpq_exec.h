// Statements on a plain libpq connection (LibpqPool's), for the telemetry store's ingest
// transaction and the state trackers: a prepared statement with its result, and several
// sent at once in libpq's pipeline mode (one round trip). Errors as LibpqError.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::telemetry {

// A result that clears itself.
class LibpqResult {
 public:
  explicit LibpqResult(PGresult* result) : result_(result) {}
  LibpqResult(const LibpqResult&) = delete;
  LibpqResult& operator=(const LibpqResult&) = delete;
  ~LibpqResult() { PQclear(result_); }
  PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

// Runs prepared statement `name` with text parameters (nullptr: NULL; `binary` marks
// parameters passed as raw bytes with their `lengths`).
absl::StatusOr<std::unique_ptr<LibpqResult>> ExecPrepared(PGconn* conn, const char* name,
                                                          const std::vector<const char*>& values,
                                                          const std::vector<int>& lengths = {},
                                                          const std::vector<int>& binary = {});

// One statement of ExecPipeline: a prepared statement (`prepared`, its name) or SQL text
// (`sql`), with ExecPrepared's parameters. The pointers must outlive ExecPipeline.
struct PipelinedStatement {
  const char* prepared = nullptr;
  const char* sql = nullptr;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> binary;
};
PipelinedStatement SqlStatement(const char* sql);
PipelinedStatement PreparedStatement(const char* name, std::vector<const char*> values,
                                     std::vector<int> lengths = {}, std::vector<int> binary = {});

// Sends `statements` at once and reads their results after (libpq's pipeline mode): one
// round trip instead of one each, for statements that do not depend on each other's
// results. Each one's result in order, or the first failure (as ExecPrepared's): the
// server skips what follows it up to the pipeline's end, and a transaction open in it is
// then aborted (the caller rolls back). The connection leaves pipeline mode either way,
// unless it broke (LibpqPool closes it).
absl::StatusOr<std::vector<std::unique_ptr<LibpqResult>>> ExecPipeline(
    PGconn* conn, const std::vector<PipelinedStatement>& statements);

}  // namespace plantmesh::telemetry
