// The records the kill -9 test appends, shared by ledger_appender (which writes them) and
// kill9_test (which recognises them in a dump and checks every byte).
//
// A record is unique per (run, thread, counter): `run` is chosen by the harness per spawned
// process, `thread` is the appender thread's index and `counter` counts that thread's records from
// 0. The payload is canonical-ish JSON padded to a fixed size with bytes derived from the key, so a
// record that comes back with the right key but damaged content is caught too:
//
//   {"run":7,"thread":2,"counter":41,"pad":"bcdefg..."}

#ifndef TOKENAUDIT_TEST_KILL9_KILL9_RECORD_H_
#define TOKENAUDIT_TEST_KILL9_KILL9_RECORD_H_

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "tokenaudit/ledger.h"

namespace tokenaudit::kill9 {

struct RecordKey {
  uint64_t run = 0;
  uint32_t thread = 0;
  uint64_t counter = 0;

  friend bool operator==(const RecordKey&, const RecordKey&) = default;
  friend auto operator<=>(const RecordKey&, const RecordKey&) = default;
};

// The payload of record `key`, `record_bytes` long (longer only if the JSON itself is longer).
inline std::string MakeRecordPayload(const RecordKey& key, size_t record_bytes) {
  char head[128];
  int n = std::snprintf(head, sizeof(head),
                        "{\"run\":%" PRIu64 ",\"thread\":%u,\"counter\":%" PRIu64 ",\"pad\":\"",
                        key.run, key.thread, key.counter);
  std::string out(head, static_cast<size_t>(n));
  constexpr size_t kTailBytes = 2;  // "}
  size_t pad = record_bytes > out.size() + kTailBytes ? record_bytes - out.size() - kTailBytes : 0;
  uint64_t x = key.run * 131 + key.thread * 17 + key.counter;
  for (size_t i = 0; i < pad; ++i) out.push_back(static_cast<char>('a' + (x + i) % 26));
  out += "\"}";
  return out;
}

// Extracts the key from a payload made by MakeRecordPayload; nullopt if it is not one.
inline std::optional<RecordKey> ParseRecordKey(std::string_view payload) {
  std::string head(payload.substr(0, 96));
  RecordKey key;
  int consumed = 0;
  if (std::sscanf(head.c_str(), "{\"run\":%" SCNu64 ",\"thread\":%u,\"counter\":%" SCNu64 ",%n",
                  &key.run, &key.thread, &key.counter, &consumed) != 3 ||
      consumed == 0) {
    return std::nullopt;
  }
  return key;
}

// Every fourth thread writes audited-access records, the rest usage records, so the test also
// checks that a record's type survives.
inline RecordType RecordTypeForThread(uint32_t thread) {
  return thread % 4 == 3 ? RecordType::kAccess : RecordType::kUsage;
}

}  // namespace tokenaudit::kill9

#endif  // TOKENAUDIT_TEST_KILL9_KILL9_RECORD_H_
