#include "server/runtime/migrations.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/pg_pool.h"

namespace plantmesh::runtime {
namespace {

std::string FirstLine(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

absl::Status CheckVersions(std::vector<const Migration*>& sorted) {
  std::sort(sorted.begin(), sorted.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i]->version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration ", std::string(sorted[i]->name), " has no positive version"));
    }
    if (i > 0 && sorted[i]->version == sorted[i - 1]->version) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations ", std::string(sorted[i - 1]->name), " and ",
                       std::string(sorted[i]->name), " share version ", sorted[i]->version));
    }
  }
  return absl::OkStatus();
}

// Runs on the connection that holds the advisory lock.
absl::Status ApplyLocked(pqxx::connection& conn, const std::string& schema,
                         const std::string& history_table,
                         const std::vector<const Migration*>& sorted) {
  const std::string table = conn.quote_name(schema) + "." + conn.quote_name(history_table);
  int applied = 0;
  std::vector<std::pair<int, std::string>> recorded;
  try {
    pqxx::work tx(conn);
    tx.exec0("CREATE SCHEMA IF NOT EXISTS " + conn.quote_name(schema));
    tx.exec0("CREATE TABLE IF NOT EXISTS " + table +
             " (version int PRIMARY KEY, name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& row : tx.exec("SELECT version, name FROM " + table + " ORDER BY version")) {
      recorded.emplace_back(row[0].as<int>(), row[1].as<std::string>());
      applied = recorded.back().first;
    }
    tx.commit();
  } catch (const std::exception& e) {
    return MapPgException(e);
  }
  // A database another build migrated is not this server's to run on (outside testing: a
  // server started silently on a schema a newer one had migrated): every recorded version
  // must be one of ours, under the same file name.
  for (const auto& [version, name] : recorded) {
    auto ours = std::find_if(sorted.begin(), sorted.end(),
                             [v = version](const Migration* m) { return m->version == v; });
    if (ours == sorted.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "schema ", schema, " has migration ", version, " (", name,
          ") that this server does not know (it knows up to ",
          sorted.empty() ? 0 : sorted.back()->version,
          "): a newer PlantMesh server migrated this database; run that version or a newer one"));
    }
    if ((*ours)->name != name) {
      return absl::FailedPreconditionError(
          absl::StrCat("schema ", schema, " has migration ", version, " recorded as ", name,
                       ", this server's is ", std::string((*ours)->name),
                       ": another build migrated this database"));
    }
  }
  for (const Migration* m : sorted) {
    if (m->version <= applied) continue;
    try {
      pqxx::work tx(conn);
      // Simple-query protocol: the file may hold many statements.
      tx.exec(std::string(m->sql));
      tx.exec_params0("INSERT INTO " + table + " (version, name) VALUES ($1, $2)", m->version,
                      std::string(m->name));
      tx.commit();
    } catch (const pqxx::broken_connection& e) {
      return MapPgException(e);
    } catch (const pqxx::in_doubt_error& e) {
      return MapPgException(e);
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(absl::StrCat("migration ", std::string(m->name),
                                                        " of schema ", schema,
                                                        " failed: ", FirstLine(e.what())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyMigrations(const std::string& url, std::string_view schema,
                             const std::vector<Migration>& migrations, absl::Duration lock_wait,
                             std::string_view history_table) {
  std::vector<const Migration*> sorted;
  for (const Migration& m : migrations) sorted.push_back(&m);
  PM_RETURN_IF_ERROR(CheckVersions(sorted));

  PgPoolOptions options;
  options.url = url;
  options.size = 1;
  options.statement_timeout = absl::ZeroDuration();  // zero = no limit
  options.lock_timeout = absl::ZeroDuration();
  PM_ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool, PgPool::Open(std::move(options)));
  const std::string lock_key = absl::StrCat("plantmesh:", std::string(schema));
  return pool->Run([&](pqxx::connection& conn) -> absl::Status {
    // A session lock: replicas starting together wait here, then find the work done.
    // It is released explicitly, and by PostgreSQL if this process dies. lock_timeout
    // bounds the wait for it (advisory locks obey it) and is lifted again before the
    // migrations run.
    {
      pqxx::nontransaction tx(conn);
      tx.exec("SET lock_timeout = " +
              std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(lock_wait))));
      try {
        tx.exec_params("SELECT pg_advisory_lock(hashtext($1))", lock_key);
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55P03") throw;
        return absl::DeadlineExceededError(
            absl::StrCat("waited ", absl::FormatDuration(lock_wait), " for the migration lock of ",
                         "schema ", std::string(schema),
                         " (another replica is migrating it); start again when it is done"));
      }
      tx.exec("SET lock_timeout = 0");
    }
    absl::Status status =
        ApplyLocked(conn, std::string(schema), std::string(history_table), sorted);
    pqxx::nontransaction unlock(conn);
    unlock.exec_params("SELECT pg_advisory_unlock(hashtext($1))", lock_key);
    return status;
  });
}

}  // namespace plantmesh::runtime
