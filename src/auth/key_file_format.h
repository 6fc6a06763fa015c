// On-disk constants of the API key file, DATA_DIR/keys/api_keys.json; byte-level description in
// doc/keys_format.md.

#ifndef TOKENAUDIT_SRC_AUTH_KEY_FILE_FORMAT_H_
#define TOKENAUDIT_SRC_AUTH_KEY_FILE_FORMAT_H_

#include <cstddef>
#include <string_view>

namespace tokenaudit::auth {

inline constexpr std::string_view kKeysDirName = "keys";  // under DATA_DIR
inline constexpr std::string_view kKeyFileName = "api_keys.json";
inline constexpr std::string_view kKeyLockFileName = "LOCK";  // held while rewriting the file

// First line of every key file, newline included.
inline constexpr std::string_view kKeyFileHeader =
    "{\"format\":\"tokenaudit-api-keys\",\"version\":1}\n";

// Limits on the text fields, in bytes of UTF-8.
inline constexpr size_t kMaxKeyNameBytes = 200;
inline constexpr size_t kMaxTenantBytes = 128;

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_KEY_FILE_FORMAT_H_
