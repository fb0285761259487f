#include "server/telemetry/libpq_exec.h"

#include <utility>

#include "server/telemetry/libpq_pool.h"

namespace plantmesh::telemetry {

absl::StatusOr<std::unique_ptr<LibpqResult>> ExecPrepared(PGconn* conn, const char* name,
                                                          const std::vector<const char*>& values,
                                                          const std::vector<int>& lengths,
                                                          const std::vector<int>& binary) {
  auto result = std::make_unique<LibpqResult>(PQexecPrepared(
      conn, name, static_cast<int>(values.size()), values.data(),
      lengths.empty() ? nullptr : lengths.data(), binary.empty() ? nullptr : binary.data(), 0));
  const ExecStatusType status = PQresultStatus(result->get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return LibpqError(conn, result->get(), name);
  }
  return result;
}

PipelinedStatement SqlStatement(const char* sql) {
  PipelinedStatement statement;
  statement.sql = sql;
  return statement;
}
PipelinedStatement PreparedStatement(const char* name, std::vector<const char*> values,
                                     std::vector<int> lengths, std::vector<int> binary) {
  PipelinedStatement statement;
  statement.prepared = name;
  statement.values = std::move(values);
  statement.lengths = std::move(lengths);
  statement.binary = std::move(binary);
  return statement;
}

absl::StatusOr<std::vector<std::unique_ptr<LibpqResult>>> ExecPipeline(
    PGconn* conn, const std::vector<PipelinedStatement>& statements) {
  auto name = [&](size_t i) {
    return statements[i].prepared != nullptr ? statements[i].prepared : statements[i].sql;
  };
  if (PQenterPipelineMode(conn) != 1) return LibpqError(conn, nullptr, "pipeline");
  for (size_t i = 0; i < statements.size(); ++i) {
    const PipelinedStatement& st = statements[i];
    const int count = static_cast<int>(st.values.size());
    const int* lengths = st.lengths.empty() ? nullptr : st.lengths.data();
    const int* binary = st.binary.empty() ? nullptr : st.binary.data();
    const int sent =
        st.prepared != nullptr
            ? PQsendQueryPrepared(conn, st.prepared, count, st.values.data(), lengths, binary, 0)
            : PQsendQueryParams(conn, st.sql, count, nullptr, st.values.data(), lengths, binary, 0);
    if (sent != 1) return LibpqError(conn, nullptr, name(i));
  }
  if (PQpipelineSync(conn) != 1) return LibpqError(conn, nullptr, "pipeline");
  // Each statement's result, then a null; after the last, the sync's result.
  std::vector<std::unique_ptr<LibpqResult>> results(statements.size());
  absl::Status first_failure;
  size_t index = 0;
  for (;;) {
    PGresult* raw = PQgetResult(conn);
    if (raw == nullptr) {
      if (index >= statements.size()) {  // a broken connection: no sync will come
        return first_failure.ok() ? LibpqError(conn, nullptr, "pipeline") : first_failure;
      }
      ++index;
      continue;
    }
    auto result = std::make_unique<LibpqResult>(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_PIPELINE_SYNC) break;
    if (index >= statements.size()) {
      if (first_failure.ok()) first_failure = LibpqError(conn, raw, "pipeline");
      continue;
    }
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && first_failure.ok()) {
      // PGRES_PIPELINE_ABORTED: skipped after a failure, which comes first.
      first_failure = LibpqError(conn, raw, name(index));
    }
    results[index] = std::move(result);
  }
  if (PQexitPipelineMode(conn) != 1 && first_failure.ok()) {
    first_failure = LibpqError(conn, nullptr, "pipeline");
  }
  if (!first_failure.ok()) return first_failure;
  return results;
}

}  // namespace plantmesh::telemetry
