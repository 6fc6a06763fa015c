#include "src/env/path.h"

namespace tokenaudit::env {

std::string NormalizePath(std::string_view path) {
  const bool absolute = !path.empty() && path.front() == '/';
  std::string out = absolute ? "/" : "";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view component = path.substr(pos, end - pos);
    if (!component.empty() && component != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += component;
    }
    pos = end + 1;
  }
  if (out.empty()) return ".";
  return out;
}

}  // namespace tokenaudit::env
