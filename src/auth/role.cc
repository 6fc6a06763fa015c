#include "src/auth/role.h"

#include <string>

namespace tokenaudit::auth {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kAuditor:
      return "auditor";
    case Role::kUser:
      return "user";
    case Role::kIngest:
      return "ingest";
  }
  return "unknown";  // unreachable for a valid enumerator
}

Result<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kAdmin, Role::kAuditor, Role::kUser, Role::kIngest}) {
    if (name == RoleName(role)) return role;
  }
  return Status::InvalidArgument("unknown role \"" + std::string(name) +
                                 "\" (expected admin, auditor, user or ingest)");
}

}  // namespace tokenaudit::auth
