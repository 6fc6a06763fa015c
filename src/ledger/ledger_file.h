// The LEDGER file at the root of a data directory: "tokenaudit-ledger/v1\nlog_id <32 hex>\n".
// Written once, atomically, when the directory is created (doc/data_dir_format.md).

#ifndef TOKENAUDIT_LEDGER_LEDGER_FILE_H_
#define TOKENAUDIT_LEDGER_LEDGER_FILE_H_

#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::ledger {

inline constexpr char kLedgerFileName[] = "LEDGER";

std::string EncodeLedgerFile(const std::string& log_id_hex);
// The log id (32 lower-case hex digits); Corruption if `text` is not exactly that format.
Result<std::string> DecodeLedgerFile(std::string_view text);

}  // namespace tokenaudit::ledger

#endif  // TOKENAUDIT_LEDGER_LEDGER_FILE_H_
