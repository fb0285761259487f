// A service's named SQL statements. libpqxx 6.4 prepares statements per connection by
// name, and a second registration of a name with other SQL throws ("Inconsistent
// redefinition of prepared statement"): two services sharing one pool that both name a
// statement `history_of` would stop the server at start. The registry qualifies every
// name with the service's schema ("defect.history_of") and hands out handles, so a
// store never spells a raw statement name.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/runtime/pg_pool.h"

namespace plantmesh::runtime {

// One registered statement; converts to the qualified name that
// pqxx::transaction_base::exec_prepared takes.
class PgStatement {
 public:
  const std::string& name() const { return name_; }
  operator const std::string&() const { return name_; }  // NOLINT: a handle is its name

 private:
  friend class PgStatements;
  explicit PgStatement(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class PgStatements {
 public:
  // `schema`: the PostgreSQL schema the service owns, e.g. "defect".
  explicit PgStatements(std::string schema) : schema_(std::move(schema)) {}

  // Registers `sql` under `<schema>.<name>`. A name registered twice in one service is a
  // programming error and aborts at start (static initialisation), never at run time.
  PgStatement Add(std::string_view name, std::string sql);

  // Prepares every statement on `conn` (PgPoolOptions::on_connect; libpqxx sends each
  // to the server on its first use).
  void Prepare(pqxx::connection& conn) const;

  const std::string& schema() const { return schema_; }
  size_t size() const { return statements_.size(); }

 private:
  std::string schema_;
  std::vector<std::pair<std::string, std::string>> statements_;  // qualified name, SQL
};

}  // namespace plantmesh::runtime
