#include "src/query/dictionary.h"

namespace tokenaudit::query {

uint32_t Dictionary::Intern(std::string_view s) {
  if (s.empty()) return 0;
  {
    ReaderLock l(&mu_);
    auto it = codes_.find(s);
    if (it != codes_.end()) return it->second;
  }
  WriterLock l(&mu_);
  auto it = codes_.find(s);
  if (it != codes_.end()) return it->second;
  const uint32_t code = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  codes_.emplace(strings_.back(), code);
  return code;
}

std::optional<uint32_t> Dictionary::Find(std::string_view s) const {
  if (s.empty()) return 0;
  ReaderLock l(&mu_);
  auto it = codes_.find(s);
  if (it == codes_.end()) return std::nullopt;
  return it->second;
}

std::string_view Dictionary::String(uint32_t code) const {
  ReaderLock l(&mu_);
  return code < strings_.size() ? std::string_view(strings_[code]) : std::string_view();
}

uint32_t Dictionary::size() const {
  ReaderLock l(&mu_);
  return static_cast<uint32_t>(strings_.size());
}

}  // namespace tokenaudit::query
