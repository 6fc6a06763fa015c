// Lower-case hexadecimal encoding of bytes.

#ifndef TOKENAUDIT_UTIL_HEX_H_
#define TOKENAUDIT_UTIL_HEX_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit {

std::string HexEncode(const void* data, size_t n);
inline std::string HexEncode(std::string_view s) { return HexEncode(s.data(), s.size()); }
// InvalidArgument on odd length or a non-hex digit.
Result<std::string> HexDecode(std::string_view hex);

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_HEX_H_
