// Result<T>: either a value of type T or a non-OK Status (abseil's StatusOr, leveldb-style names).
//
//   Result<uint64_t> r = ledger->Append(record);
//   if (!r.ok()) return r.status();
//   uint64_t seq = *r;
//
// Accessing the value of an error Result aborts: check ok() first, or use ASSIGN_OR_RETURN.

#ifndef TOKENAUDIT_RESULT_H_
#define TOKENAUDIT_RESULT_H_

#include <cstdlib>
#include <optional>
#include <utility>

#include "tokenaudit/status.h"

namespace tokenaudit {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or an error Status, so `return value;` and `return status;` both work.
  Result(const T& value) : value_(value) {}             // NOLINT(runtime/explicit)
  Result(T&& value) : value_(std::move(value)) {}       // NOLINT(runtime/explicit)
  Result(const Status& status) : status_(status) {      // NOLINT(runtime/explicit)
    if (status_.ok()) status_ = Status::Internal("Result constructed from OK status");
  }
  Result(Status&& status) : status_(std::move(status)) {  // NOLINT(runtime/explicit)
    if (status_.ok()) status_ = Status::Internal("Result constructed from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return CheckedValue(); }
  const T& value() const& { return const_cast<Result*>(this)->CheckedValue(); }
  T&& value() && { return std::move(CheckedValue()); }
  T& operator*() & { return CheckedValue(); }
  const T& operator*() const& { return const_cast<Result*>(this)->CheckedValue(); }
  T&& operator*() && { return std::move(CheckedValue()); }
  T* operator->() { return &CheckedValue(); }
  const T* operator->() const { return &const_cast<Result*>(this)->CheckedValue(); }

 private:
  T& CheckedValue() {
    if (!value_.has_value()) std::abort();  // programming error: value of an error Result
    return *value_;
  }

  Status status_;  // OK when value_ is set
  std::optional<T> value_;
};

}  // namespace tokenaudit

// ASSIGN_OR_RETURN(auto x, Foo()); declares/assigns `x` from a Result or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(TA_STATUS_CONCAT_(ta_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // TOKENAUDIT_RESULT_H_
