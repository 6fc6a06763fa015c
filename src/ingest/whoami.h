// GET /v1/whoami: who the presented key acts as (doc/http_api.md). The dashboard uses it to pick
// the admin or the user view; scripts use it to check a key.

#ifndef TOKENAUDIT_INGEST_WHOAMI_H_
#define TOKENAUDIT_INGEST_WHOAMI_H_

#include "src/auth/principal.h"
#include "src/http/http_message.h"

namespace tokenaudit::ingest {

// {"key_id":"…","name":…,"role":"…","tenant":…,"user":…}: `user` the pseudonym of a user key
// (null for other roles), `tenant` the tenant a key is bound to (null: every tenant), `name` the
// key's label (null for user keys, whose raw name is not kept). Any role may ask.
http::HttpResponse WhoamiResponse(const auth::Principal& who);

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_WHOAMI_H_
