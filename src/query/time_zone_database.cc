#include "src/query/time_zone_database.h"

#include "src/query/time_zone_tzif.h"

namespace tokenaudit::query {
namespace {

// Real TZif files are 100 bytes to a few KiB ("fat" ones up to about 100 KiB).
constexpr uint64_t kMaxTzifBytes = 256 * 1024;
constexpr size_t kMaxZoneNameLength = 255;

bool IsZoneNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '-' || c == '/';
}

int Digits2(std::string_view s) {
  if (s.size() != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return -1;
  return (s[0] - '0') * 10 + (s[1] - '0');
}

}  // namespace

Status ValidateZoneName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("empty time zone name");
  if (name.size() > kMaxZoneNameLength) return Status::InvalidArgument("time zone name too long");
  for (char c : name) {
    if (!IsZoneNameChar(c)) return Status::InvalidArgument("bad character in time zone name");
  }
  if (name.find("..") != std::string_view::npos) {
    return Status::InvalidArgument("\"..\" in time zone name");
  }
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const std::string_view part =
        name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return Status::InvalidArgument("empty component in time zone name");
    if (part.front() == '-') return Status::InvalidArgument("time zone name component starts with '-'");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::OK();
}

Result<int32_t> ParseUtcOffset(std::string_view text) {
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':') {
    return Status::InvalidArgument("UTC offset must look like +hh:mm or -hh:mm");
  }
  const int h = Digits2(text.substr(1, 2)), m = Digits2(text.substr(4, 2));
  if (h < 0 || m < 0 || m > 59) return Status::InvalidArgument("bad digits in UTC offset");
  const int32_t seconds = h * 3600 + m * 60;
  if (seconds > TimeZone::kMaxFixedOffsetSeconds) {
    return Status::InvalidArgument("UTC offset beyond +-18:00");
  }
  return text[0] == '-' ? -seconds : seconds;
}

TimeZoneDatabase::TimeZoneDatabase(Env* env, std::string zoneinfo_dir)
    : env_(env), zoneinfo_dir_(std::move(zoneinfo_dir)) {}

TimeZoneDatabase* TimeZoneDatabase::Default() {
  static TimeZoneDatabase* db = new TimeZoneDatabase(Env::Default(), std::string(kDefaultZoneinfoDir));
  return db;
}

Result<std::shared_ptr<const TimeZone>> TimeZoneDatabase::Get(std::string_view name) {
  if (name == "UTC") return TimeZone::Utc();
  if (!name.empty() && (name[0] == '+' || name[0] == '-')) {
    ASSIGN_OR_RETURN(const int32_t offset, ParseUtcOffset(name));
    return TimeZone::Fixed(offset);
  }
  RETURN_IF_ERROR(ValidateZoneName(name));
  {
    MutexLock lock(&mu_);
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
  }
  // Read and parse outside the lock; a racing loader of the same name wastes one parse.
  const std::string key(name);
  ASSIGN_OR_RETURN(std::shared_ptr<const TimeZone> zone, Load(key));
  MutexLock lock(&mu_);
  return cache_.emplace(key, std::move(zone)).first->second;
}

Result<std::shared_ptr<const TimeZone>> TimeZoneDatabase::Load(const std::string& name) {
  const std::string path = JoinPath(zoneinfo_dir_, name);
  const std::string what = "time zone \"" + name + "\"";
  // A missing file and a directory ("Europe") are both unknown zones, not I/O failures.
  auto failed = [&](const Status& s) -> Status {
    if (s.IsNotFound() || env_->GetChildren(path).ok()) return Status::NotFound("unknown " + what);
    return s.WithContext(what);
  };
  Result<uint64_t> size = env_->GetFileSize(path);
  if (!size.ok()) return failed(size.status());
  if (*size > kMaxTzifBytes) return Status::Corruption(what + ": file too large for TZif");
  Result<std::string> data = ReadFileToString(env_, path);
  if (!data.ok()) return failed(data.status());
  Result<TzifData> tzif = ParseTzif(*data);
  if (!tzif.ok()) return tzif.status().WithContext(what);
  return TimeZone::FromTzif(name, *tzif);
}

}  // namespace tokenaudit::query
