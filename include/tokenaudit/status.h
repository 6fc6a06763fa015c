// Status: the outcome of a fallible operation, with a canonical code and a message.
//
// No exceptions cross tokenaudit's APIs. Fallible functions return Status (or Result<T>, see
// result.h), and callers propagate with RETURN_IF_ERROR / ASSIGN_OR_RETURN. A default-constructed
// Status is OK; an OK Status carries no allocation. Status is cheap to copy and thread-compatible.

#ifndef TOKENAUDIT_STATUS_H_
#define TOKENAUDIT_STATUS_H_

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace tokenaudit {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kAlreadyExists = 3,
  kFailedPrecondition = 4,
  kResourceExhausted = 5,
  kUnavailable = 6,
  kCorruption = 7,
  kIOError = 8,
  kInternal = 9,
  kUnauthenticated = 10,
  kPermissionDenied = 11,
};

// Returns the canonical name of `code`, e.g. "Corruption".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string_view message);

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view msg) { return {StatusCode::kInvalidArgument, msg}; }
  static Status NotFound(std::string_view msg) { return {StatusCode::kNotFound, msg}; }
  static Status AlreadyExists(std::string_view msg) { return {StatusCode::kAlreadyExists, msg}; }
  static Status FailedPrecondition(std::string_view msg) {
    return {StatusCode::kFailedPrecondition, msg};
  }
  static Status ResourceExhausted(std::string_view msg) {
    return {StatusCode::kResourceExhausted, msg};
  }
  static Status Unavailable(std::string_view msg) { return {StatusCode::kUnavailable, msg}; }
  static Status Corruption(std::string_view msg) { return {StatusCode::kCorruption, msg}; }
  static Status IOError(std::string_view msg) { return {StatusCode::kIOError, msg}; }
  static Status Internal(std::string_view msg) { return {StatusCode::kInternal, msg}; }
  static Status Unauthenticated(std::string_view msg) {
    return {StatusCode::kUnauthenticated, msg};
  }
  static Status PermissionDenied(std::string_view msg) {
    return {StatusCode::kPermissionDenied, msg};
  }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message without the code; empty for OK.
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : ""; }
  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

  // Returns a copy with `context + ": "` prepended to the message. OK stays OK.
  Status WithContext(std::string_view context) const;

  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsIOError() const { return code() == StatusCode::kIOError; }

  // Explicitly discards a status where ignoring it is the right call; the comment at the call
  // site says why.
  void IgnoreError() const {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;  // null means OK
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

}  // namespace tokenaudit

#define TA_STATUS_CONCAT_INNER_(a, b) a##b
#define TA_STATUS_CONCAT_(a, b) TA_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                                          \
  do {                                                                 \
    ::tokenaudit::Status ta_status_tmp_ = (expr);                      \
    if (!ta_status_tmp_.ok()) return ta_status_tmp_;                   \
  } while (0)

#endif  // TOKENAUDIT_STATUS_H_
