// Status propagation helpers. Abseil 20220623 (Debian 12) ships Status/StatusOr but not the
// RETURN_IF_ERROR / ASSIGN_OR_RETURN macros, so the lowest package defines them once.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define APR_STATUS_CONCAT_INNER_(a, b) a##b
#define APR_STATUS_CONCAT_(a, b) APR_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define APR_RETURN_IF_ERROR(expr)                \
  do {                                           \
    ::absl::Status apr_status_tmp_ = (expr);     \
    if (!apr_status_tmp_.ok()) return apr_status_tmp_; \
  } while (0)

// `APR_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a StatusOr or returns its error.
#define APR_ASSIGN_OR_RETURN(lhs, expr) \
  APR_ASSIGN_OR_RETURN_IMPL_(APR_STATUS_CONCAT_(apr_statusor_, __LINE__), lhs, expr)
#define APR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()
