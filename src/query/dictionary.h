// An append-only string dictionary: each distinct string gets the next code, starting at 1 (0 is
// "absent"). Codes are stable for the life of the process, so columns can hold them. Thread-safe;
// lookups take a shared lock and allocate nothing.

#ifndef TOKENAUDIT_QUERY_DICTIONARY_H_
#define TOKENAUDIT_QUERY_DICTIONARY_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "src/util/mutex.h"

namespace tokenaudit::query {

class Dictionary {
 public:
  // The code of `s`, added if new; 0 for the empty string.
  uint32_t Intern(std::string_view s) TA_EXCLUDES(mu_);
  // The code of `s` if it was ever interned (0 for the empty string), nullopt otherwise.
  std::optional<uint32_t> Find(std::string_view s) const TA_EXCLUDES(mu_);
  // The string of `code` ("" for 0). The view stays valid as long as the dictionary.
  std::string_view String(uint32_t code) const TA_EXCLUDES(mu_);
  // Number of codes in use, counting 0.
  uint32_t size() const TA_EXCLUDES(mu_);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable SharedMutex mu_;
  std::deque<std::string> strings_ GUARDED_BY(mu_){std::string()};  // never moves its elements
  std::unordered_map<std::string_view, uint32_t, Hash, std::equal_to<>> codes_ GUARDED_BY(mu_);
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_DICTIONARY_H_
