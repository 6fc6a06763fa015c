// ApiKeyInfo: what is known about an API key apart from the key itself; safe to list and print
// (it holds no digest and no raw user name).

#ifndef TOKENAUDIT_SRC_AUTH_API_KEY_INFO_H_
#define TOKENAUDIT_SRC_AUTH_API_KEY_INFO_H_

#include <cstdint>
#include <string>

#include "src/auth/role.h"

namespace tokenaudit::auth {

struct ApiKeyInfo {
  std::string key_id;  // first 8 hex digits of the key's SHA-256; unique in a store
  std::string name;    // a label such as "ci-ingest"; empty for role user, whose --name
                       // is a person and is kept only as user_pseudonym
  Role role = Role::kIngest;
  std::string user_pseudonym;  // role user only: Pseudonymizer::UserPseudonym(--name)
  std::string tenant;          // empty = every tenant
  uint64_t created_unix_micros = 0;
  bool revoked = false;
  uint64_t revoked_unix_micros = 0;  // 0 unless revoked

  // What to show for the key: the label, or the pseudonym for a user key.
  const std::string& DisplayName() const { return role == Role::kUser ? user_pseudonym : name; }

  bool operator==(const ApiKeyInfo&) const = default;
};

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_API_KEY_INFO_H_
