// Fuzz target: column chunk files (doc/columns_format.md). Whatever loads must decode every
// column without failing, and encode again to a file that loads.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "src/query/chunk.h"
#include "src/query/dictionary.h"

using tokenaudit::query::Col;
using tokenaudit::query::Dictionary;
using tokenaudit::query::kNumCols;
using tokenaudit::query::kNumStringCols;
using tokenaudit::query::SealedChunk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::array<Dictionary, kNumStringCols> dicts;
  auto chunk = SealedChunk::DecodeFile(
      std::string_view(reinterpret_cast<const char*>(data), size), &dicts);
  if (!chunk.ok()) return 0;
  std::vector<int64_t> out((*chunk)->rows());
  tokenaudit::query::DecodeScratch scratch;
  for (int c = 0; c < kNumCols; ++c) {
    if (!(*chunk)->Decode(static_cast<Col>(c), out.data(), &scratch).ok()) std::abort();
  }
  std::array<Dictionary, kNumStringCols> again;
  if (!SealedChunk::DecodeFile((*chunk)->EncodeFile(dicts), &again).ok()) std::abort();
  return 0;
}
