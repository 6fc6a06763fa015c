#include "src/record/body_format.h"

#include <algorithm>

namespace tokenaudit::record {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<BodyFormat> FormatFromContentType(std::string_view content_type) {
  struct MediaType {
    std::string_view name;
    BodyFormat format;
  };
  static constexpr MediaType kMediaTypes[] = {
      {"application/json", BodyFormat::kJson},
      {"application/cloudevents+json", BodyFormat::kCloudEvent},
      {"application/cloudevents-batch+json", BodyFormat::kCloudEventBatch},
      {"application/x-ndjson", BodyFormat::kNdjson},
      {"application/ndjson", BodyFormat::kNdjson},
  };
  size_t semicolon = content_type.find(';');
  const std::string_view media = TrimOws(content_type.substr(0, semicolon));
  const MediaType* found = nullptr;
  for (const MediaType& m : kMediaTypes) {
    if (EqualsIgnoreCase(media, m.name)) found = &m;
  }
  if (found == nullptr) {
    return Status::InvalidArgument(
        "unsupported Content-Type; expected application/json, application/cloudevents+json, "
        "application/cloudevents-batch+json or application/x-ndjson");
  }
  while (semicolon != std::string_view::npos) {
    const size_t start = semicolon + 1;
    semicolon = content_type.find(';', start);
    const std::string_view param = TrimOws(content_type.substr(start, semicolon - start));
    if (param.empty()) continue;
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("malformed Content-Type parameter");
    }
    std::string_view value = param.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (EqualsIgnoreCase(TrimOws(param.substr(0, eq)), "charset") &&
        !EqualsIgnoreCase(value, "utf-8") && !EqualsIgnoreCase(value, "utf8")) {
      return Status::InvalidArgument("unsupported charset; bodies must be UTF-8");
    }
  }
  return found->format;
}

}  // namespace tokenaudit::record
