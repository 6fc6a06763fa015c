#include "src/ledger/ledger_file.h"

namespace tokenaudit::ledger {
namespace {
constexpr std::string_view kPrefix = "tokenaudit-ledger/v1\nlog_id ";
}  // namespace

std::string EncodeLedgerFile(const std::string& log_id_hex) {
  return std::string(kPrefix) + log_id_hex + "\n";
}

Result<std::string> DecodeLedgerFile(std::string_view text) {
  if (text.size() != kPrefix.size() + 33 || text.substr(0, kPrefix.size()) != kPrefix ||
      text.back() != '\n') {
    return Status::Corruption("not a tokenaudit LEDGER file");
  }
  std::string id(text.substr(kPrefix.size(), 32));
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Status::Corruption("LEDGER file has a malformed log id");
    }
  }
  return id;
}

}  // namespace tokenaudit::ledger
