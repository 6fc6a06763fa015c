// TimeZoneDatabase: resolves the time zone a query names to a TimeZone, loading IANA zones from
// compiled TZif files (Debian's tzdata: /usr/share/zoneinfo) and caching them.
//
// Accepted names:
//   "UTC"                         the UTC zone
//   "+hh:mm", "-hh:mm"            a fixed offset, |offset| <= 18:00 ("+00:00" is UTC's offset)
//   IANA names ("Europe/Berlin")  read from <zoneinfo_dir>/<name>
// A name reaches the file system only after ValidateZoneName, so a query parameter can never read
// a file outside the zoneinfo directory (no "..", no leading '/', no characters beyond
// [A-Za-z0-9_+-/]). A file that is not a valid TZif file is refused without revealing its content.
//
// Thread-safety: Get may be called from any number of threads; a zone is read and parsed at most
// a few times under a race and cached for the life of the database (one per name that exists;
// failures are not cached, so unknown names cannot grow it).

#ifndef TOKENAUDIT_QUERY_TIME_ZONE_DATABASE_H_
#define TOKENAUDIT_QUERY_TIME_ZONE_DATABASE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "src/query/time_zone.h"
#include "src/util/mutex.h"
#include "tokenaudit/env.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

// Debian's (and most systems') location of the compiled tzdata.
inline constexpr std::string_view kDefaultZoneinfoDir = "/usr/share/zoneinfo";

// OK if `name` may be looked up as a file under the zoneinfo directory: 1..255 characters of
// [A-Za-z0-9_+-/], no leading, trailing or doubled '/', no component that is "." or "..", no
// component starting with '-'. InvalidArgument otherwise.
Status ValidateZoneName(std::string_view name);

// "+hh:mm" / "-hh:mm" (hh 00..18, mm 00..59, at most 18:00) as seconds east of UTC;
// InvalidArgument for anything else.
Result<int32_t> ParseUtcOffset(std::string_view text);

class TimeZoneDatabase {
 public:
  // Zone files are read through `env` (borrowed; must outlive the database) from `zoneinfo_dir`.
  TimeZoneDatabase(Env* env, std::string zoneinfo_dir);
  TimeZoneDatabase(const TimeZoneDatabase&) = delete;
  TimeZoneDatabase& operator=(const TimeZoneDatabase&) = delete;

  // The process-wide database over Env::Default() and kDefaultZoneinfoDir. Never deleted.
  static TimeZoneDatabase* Default();

  // The zone called `name` (see above). InvalidArgument for a malformed name or offset, NotFound
  // when no such zone file exists, Corruption when the file is not valid TZif (or is too large
  // to be one), IOError when reading fails.
  Result<std::shared_ptr<const TimeZone>> Get(std::string_view name);

 private:
  Result<std::shared_ptr<const TimeZone>> Load(const std::string& name);

  Env* const env_;  // borrowed
  const std::string zoneinfo_dir_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> cache_ GUARDED_BY(mu_);
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_TIME_ZONE_DATABASE_H_
