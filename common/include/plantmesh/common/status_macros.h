// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status, which Debian's abseil
// (20220623) does not ship yet.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PM_STATUS_CONCAT_INNER_(a, b) a##b
#define PM_STATUS_CONCAT_(a, b) PM_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function with the status of `expr` when it is not OK.
#define PM_RETURN_IF_ERROR(expr)                                \
  do {                                                          \
    if (::absl::Status pm_status_ = (expr); !pm_status_.ok()) { \
      return pm_status_;                                        \
    }                                                           \
  } while (false)

// `PM_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from an OK StatusOr, or
// returns its status.
#define PM_ASSIGN_OR_RETURN(lhs, expr) \
  PM_ASSIGN_OR_RETURN_IMPL_(PM_STATUS_CONCAT_(pm_statusor_, __LINE__), lhs, expr)
#define PM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) {                                \
    return std::move(statusor).status();               \
  }                                                    \
  lhs = *std::move(statusor)
