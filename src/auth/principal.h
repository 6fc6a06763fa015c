// Principal: who a request acts as, once its API key is authenticated (KeyStore::Authenticate).

#ifndef TOKENAUDIT_SRC_AUTH_PRINCIPAL_H_
#define TOKENAUDIT_SRC_AUTH_PRINCIPAL_H_

#include <string>

#include "src/auth/role.h"

namespace tokenaudit::auth {

struct Principal {
  std::string key_id;  // public id of the key (8 lower-case hex digits)
  Role role = Role::kIngest;
  std::string user_pseudonym;  // role user only: "u_..." (DESIGN §2); empty otherwise
  std::string tenant;          // the only tenant the key may touch; empty = every tenant
  std::string name;            // the key's label; empty for role user (raw names are not kept)

  bool operator==(const Principal&) const = default;
};

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_PRINCIPAL_H_
