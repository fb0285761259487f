#include "server/runtime/pg_statements.h"

#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace plantmesh::runtime {

PgStatement PgStatements::Add(std::string_view name, std::string sql) {
  std::string qualified = absl::StrCat(schema_, ".", absl::string_view(name.data(), name.size()));
  for (const auto& [existing, unused] : statements_) {
    if (existing == qualified) {
      std::fprintf(stderr, "PgStatements: statement %s registered twice\n", qualified.c_str());
      std::abort();
    }
  }
  statements_.emplace_back(qualified, std::move(sql));
  return PgStatement(std::move(qualified));
}

void PgStatements::Prepare(pqxx::connection& conn) const {
  for (const auto& [name, sql] : statements_) conn.prepare(name, sql);
}

}  // namespace plantmesh::runtime
