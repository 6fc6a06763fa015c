// Fuzzes the client's parsers of server replies: a client must survive whatever a (broken or
// hostile) server answers.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "src/client/ingest_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::client;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<ItemResult> results;
  if (ParseBatchReply(in, &results)) {
    for (const auto& r : results) {
      if (r.status == 0) __builtin_trap();  // every parsed item carries its status
    }
  }
  ApiError e;
  ParseErrorReply(in, &e);
  return 0;
}
