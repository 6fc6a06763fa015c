// Helpers shared by the ledger's tests.

#ifndef TOKENAUDIT_LEDGER_LEDGER_TEST_UTIL_H_
#define TOKENAUDIT_LEDGER_LEDGER_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <string>

#include "src/log/log_reader.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger::testing {

struct StoredRecord {
  RecordType type;
  std::string payload;
};

// Every valid record in the data directory's log, by seq. Fails the calling test on error.
inline Status ReadLog(Env* env, const std::string& dir, std::map<uint64_t, StoredRecord>* out) {
  out->clear();
  return log::ReadAllRecords(env, dir, [out](uint64_t seq, RecordType t, std::string_view p) {
    (*out)[seq] = StoredRecord{t, std::string(p)};
    return Status::OK();
  });
}

// A usage-record-shaped payload of about `size` bytes, unique for (producer, n).
inline std::string TestRecord(int producer, uint64_t n, size_t size = 300) {
  std::string s = "{\"producer\":" + std::to_string(producer) + ",\"n\":" + std::to_string(n) +
                  ",\"pad\":\"";
  while (s.size() + 2 < size) s.push_back(static_cast<char>('a' + (s.size() + n) % 26));
  s += "\"}";
  return s;
}

}  // namespace tokenaudit::ledger::testing

#endif  // TOKENAUDIT_LEDGER_LEDGER_TEST_UTIL_H_
