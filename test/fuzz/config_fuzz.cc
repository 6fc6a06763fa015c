// Fuzzes the configuration file of `tokenaudit serve` (TOML, written by an operator, possibly
// copied from elsewhere): any text either loads or is refused with a message that names its
// origin; nothing crashes, and Validate runs on whatever loaded.

#include <cstddef>
#include <cstdint>
#include <string>

#include "src/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit;
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::ServeConfig c;
  const Status s = config::LoadString(text, "fuzz.toml", &c);
  if (!s.ok()) {
    if (s.message().empty()) __builtin_trap();
    return 0;
  }
  config::Validate(c).IgnoreError();
  return 0;
}
