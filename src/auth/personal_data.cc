#include "src/auth/personal_data.h"

namespace tokenaudit::auth {
namespace {

constexpr size_t kMaxExtensionChars = 10;

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlnum(char c) { return IsAsciiAlpha(c) || IsAsciiDigit(c); }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsEmailLocalChar(char c) {
  return IsAsciiAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

// Characters that wrap a word in prose: "(see /a/b.png)", 'x@y.z', <x@y.z>, "file: a/b.txt,".
bool IsLeadingWrapper(char c) {
  return c == '"' || c == '\'' || c == '(' || c == '[' || c == '{' || c == '<' || c == '`';
}
bool IsTrailingWrapper(char c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '>' || c == '`' ||
         c == ',' || c == ';' || c == ':' || c == '.' || c == '!' || c == '?';
}

std::string_view TrimWrappers(std::string_view word) {
  while (!word.empty() && IsLeadingWrapper(word.front())) word.remove_prefix(1);
  while (!word.empty() && IsTrailingWrapper(word.back())) word.remove_suffix(1);
  return word;
}

bool IsDomain(std::string_view domain) {
  size_t labels = 0;
  std::string_view last;
  while (true) {
    const size_t dot = domain.find('.');
    const std::string_view label = domain.substr(0, dot);
    if (label.empty()) return false;
    for (char c : label) {
      if (!IsAsciiAlnum(c) && c != '-') return false;
    }
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  if (labels < 2) return false;
  for (char c : last) {
    if (!IsAsciiAlpha(c)) return false;
  }
  return true;
}

bool EndsWithFileExtension(std::string_view word) {
  const size_t slash = word.find_last_of("/\\");
  const std::string_view last = slash == std::string_view::npos ? word : word.substr(slash + 1);
  const size_t dot = last.rfind('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view ext = last.substr(dot + 1);
  if (ext.empty() || ext.size() > kMaxExtensionChars) return false;
  bool has_letter = false;
  for (char c : ext) {
    if (!IsAsciiAlnum(c)) return false;
    has_letter = has_letter || IsAsciiAlpha(c);
  }
  return has_letter;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool IsEmailAddress(std::string_view word) {
  const size_t at = word.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (char c : word.substr(0, at)) {
    if (!IsEmailLocalChar(c)) return false;
  }
  return IsDomain(word.substr(at + 1));
}

bool ContainsEmailAddress(std::string_view text) {
  for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    size_t begin = at;
    while (begin > 0 && IsEmailLocalChar(text[begin - 1])) --begin;
    size_t end = at + 1;
    while (end < text.size() && (IsAsciiAlnum(text[end]) || text[end] == '.' || text[end] == '-')) {
      ++end;
    }
    // A sentence may end right after the address: "write to x@y.z."
    while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
    if (begin < at && IsDomain(text.substr(at + 1, end - at - 1))) return true;
  }
  return false;
}

bool IsFilePath(std::string_view word) {
  if (word.size() > 1 && word[0] == '/') return true;
  if (StartsWith(word, "~/") || StartsWith(word, "./") || StartsWith(word, "../")) return true;
  if (word.size() >= 3 && IsAsciiAlpha(word[0]) && word[1] == ':' &&
      (word[2] == '\\' || word[2] == '/')) {
    return true;
  }
  if (word.find('\\') != std::string_view::npos) return true;
  return word.find('/') != std::string_view::npos && EndsWithFileExtension(word);
}

bool LooksPersonal(std::string_view value) {
  if (ContainsEmailAddress(value)) return true;
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && IsSpace(value[i])) ++i;
    size_t end = i;
    while (end < value.size() && !IsSpace(value[end])) ++end;
    if (end > i) {
      const std::string_view raw = value.substr(i, end - i);
      // A backslash can be a wrapper's neighbour ("C:\dir\"), so test the raw word for paths
      // too: trimming must only ever add detections.
      const std::string_view word = TrimWrappers(raw);
      if (IsFilePath(word) || IsFilePath(raw)) return true;
    }
    i = end;
  }
  return false;
}

}  // namespace tokenaudit::auth
