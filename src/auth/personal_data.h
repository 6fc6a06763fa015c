// LooksPersonal: a conservative detector of personal data in free-text fields (workflow names,
// error messages, labels), so ingest can replace such values with Pseudonymizer::Redact before
// anything is stored (DESIGN §2: e-mails and file paths are never stored).
//
// A value looks personal if it contains
//   - an e-mail address anywhere ("mailto:x@y.z" too): local@domain.tld, the local part of
//     letters, digits and ._%+-, the domain of at least two dot-separated labels of letters,
//     digits and -, the last label all letters; or
//   - a word (split on white space, quotes, brackets and trailing punctuation removed) that is a
//     file path: it starts with "/" (and is longer than that), "~/", "./" or "../", or with a
//     drive letter as in "C:\" or "C:/"; or it contains a backslash; or it contains a "/" and its
//     last component ends in a file extension ("." + 1 to 10 letters or digits, at least one a
//     letter), as in "photos/IMG_001.jpg".
//
// Words such as "portrait_restoration", "image/png", "and/or", "v1.2.3" or "1/2.5" do not.
// The rules err on the side of redacting ("/v1/events" looks like a path). Thread-safe, no state.

#ifndef TOKENAUDIT_SRC_AUTH_PERSONAL_DATA_H_
#define TOKENAUDIT_SRC_AUTH_PERSONAL_DATA_H_

#include <string_view>

namespace tokenaudit::auth {

bool LooksPersonal(std::string_view value);

// True if all of `word` is one e-mail address, by the rule above.
bool IsEmailAddress(std::string_view word);
// True if `text` contains an e-mail address anywhere.
bool ContainsEmailAddress(std::string_view text);
// True if all of `word` is a file path by the rule above (no trimming).
bool IsFilePath(std::string_view word);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_PERSONAL_DATA_H_
