// Encoding and decoding of the API key file (doc/keys_format.md): a header line, then one
// canonical JSON object per key and line. Pure functions of their arguments; thread-safe.

#ifndef TOKENAUDIT_SRC_AUTH_KEY_FILE_H_
#define TOKENAUDIT_SRC_AUTH_KEY_FILE_H_

#include <string>
#include <string_view>
#include <vector>

#include "src/auth/api_key_info.h"
#include "tokenaudit/result.h"

namespace tokenaudit::auth {

// A key as stored: its description and the SHA-256 of the key (64 lower-case hex digits).
struct StoredKey {
  ApiKeyInfo info;
  std::string digest_hex;

  bool operator==(const StoredKey&) const = default;
};

// The whole file for `keys`, in the given order. Keys must satisfy ValidateStoredKey.
std::string EncodeKeyFile(const std::vector<StoredKey>& keys);

// The inverse of EncodeKeyFile. Corruption naming the line for anything EncodeKeyFile would not
// have written: a missing or different header, a non-canonical line, a key that fails
// ValidateStoredKey, a key_id used twice.
Result<std::vector<StoredKey>> DecodeKeyFile(std::string_view contents);

// The invariants of a stored key: key_id is the digest's prefix, the digest is 64 lower-case hex
// digits; role user has a "u_" pseudonym and no name, other roles a name and no pseudonym; text
// fields pass CheckKeyText; revoked_unix_micros is set exactly when revoked. InvalidArgument.
Status ValidateStoredKey(const StoredKey& key);

// `value` (named `what` in the message) is valid UTF-8 of at most `max_bytes` bytes, with no
// control characters and no leading or trailing space. InvalidArgument otherwise.
Status CheckKeyText(std::string_view what, std::string_view value, size_t max_bytes);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_KEY_FILE_H_
