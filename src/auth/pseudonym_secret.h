// Loading the pseudonym secret (the HMAC key of Pseudonymizer), in order of precedence:
//
//   1. the environment variable TOKENAUDIT_PSEUDONYM_KEY: the secret itself, hex or base64;
//   2. a configured file (config `pseudonym_key_file`, flag --pseudonym-key-file), which must
//      exist: a missing file is an error, never silently replaced by a new secret;
//   3. the default file $XDG_CONFIG_HOME/tokenaudit/pseudonym.key, or
//      $HOME/.config/tokenaudit/pseudonym.key, created on first use with 32 random bytes as 64
//      hex digits and a newline, mode 0600.
//
// A secret decodes to at least 32 bytes. Text is trimmed of white space, then read as hex if it
// is an even number of hex digits, else as base64 (standard or URL alphabet, padding optional).
//
// The secret must not live in the data directory: whoever copies a data directory (a backup, an
// export, an auditor) would otherwise hold the key that links pseudonyms back to names. A file
// path that resolves (after "..", and symlinks on the real file system) inside data_dir is
// refused with FailedPrecondition, before anything is read or created.
//
// Losing the secret changes every future pseudonym; it should be backed up apart from the data.

#ifndef TOKENAUDIT_SRC_AUTH_PSEUDONYM_SECRET_H_
#define TOKENAUDIT_SRC_AUTH_PSEUDONYM_SECRET_H_

#include <string>
#include <string_view>

#include "tokenaudit/env.h"
#include "tokenaudit/result.h"

namespace tokenaudit::auth {

inline constexpr char kPseudonymKeyEnvVar[] = "TOKENAUDIT_PSEUDONYM_KEY";

// Where to look; see the order above.
struct PseudonymSecretSources {
  const char* env_value = nullptr;  // TOKENAUDIT_PSEUDONYM_KEY as read by the caller; null = unset
  std::string configured_path;      // empty = not configured
  std::string default_path;         // DefaultPseudonymKeyPath(); empty = no default
};

struct LoadedPseudonymSecret {
  std::string secret;    // the raw key bytes
  std::string origin;    // "environment variable TOKENAUDIT_PSEUDONYM_KEY" or the file's path
  bool created = false;  // true if the default file was created by this call
};

// Loads the secret from the first source that is set. InvalidArgument for a secret that does
// not decode or is too short; NotFound for a missing configured file; FailedPrecondition for a
// path inside `data_dir` (empty: no check) or when no source is set; IOError from the Env.
// Safe to call from several processes at once: creation of the default file is serialised by a
// lock file beside it (`<path>.lock`), so all of them end up with the same secret.
Result<LoadedPseudonymSecret> LoadPseudonymSecret(Env* env, const PseudonymSecretSources& sources,
                                                  const std::string& data_dir);

// The same with the default path taken from the process environment ($XDG_CONFIG_HOME, $HOME).
Result<std::string> LoadPseudonymSecret(Env* env, const std::string& configured_path,
                                        const char* env_value, const std::string& data_dir);

// $XDG_CONFIG_HOME/tokenaudit/pseudonym.key if that variable is an absolute path (the XDG spec
// says to ignore relative ones), else $HOME/.config/tokenaudit/pseudonym.key; FailedPrecondition
// if neither is usable. Arguments may be null.
Result<std::string> DefaultPseudonymKeyPath(const char* xdg_config_home, const char* home);

// Decodes secret text as described above.
Result<std::string> DecodePseudonymSecret(std::string_view text);

// True if `path` names `dir` or something below it, comparing absolute, lexically normalised
// paths, and on the real file system also the paths with symlinks resolved (`env` ==
// Env::Default()). Neither needs to exist.
bool PathIsInside(Env* env, const std::string& path, const std::string& dir);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_PSEUDONYM_SECRET_H_
