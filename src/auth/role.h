// Role: what an API key may do (DESIGN §5).
//
//   admin    everything
//   auditor  read all records and usage, change nothing
//   user     own records and own usage only; the key is bound to one user pseudonym
//   ingest   write records only
//
// The names above are the stable spellings used in the key file, on the command line and in the
// HTTP API.

#ifndef TOKENAUDIT_SRC_AUTH_ROLE_H_
#define TOKENAUDIT_SRC_AUTH_ROLE_H_

#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::auth {

enum class Role { kAdmin, kAuditor, kUser, kIngest };

// "admin", "auditor", "user" or "ingest".
std::string_view RoleName(Role role);

// The inverse of RoleName (exact, lower-case spelling); InvalidArgument naming the valid roles
// otherwise.
Result<Role> ParseRole(std::string_view name);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_ROLE_H_
