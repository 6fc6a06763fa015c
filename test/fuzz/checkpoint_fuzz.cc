// Fuzzes both checkpoint decoders: files come from other machines (`verify --checkpoint`) and
// records from the log. Whatever decodes must re-encode to the same bytes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/ledger/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto file = ledger::DecodeCheckpointFile(in);
  if (file.ok()) {
    if (ledger::EncodeCheckpointFile(*file) != in) __builtin_trap();
    VerifyCheckpointSignature(*file).IgnoreError();  // a result either way; must not crash
  }
  auto record = ledger::DecodeCheckpointRecord(in);
  if (record.ok() && ledger::EncodeCheckpointRecord(*record) != in) __builtin_trap();
  return 0;
}
