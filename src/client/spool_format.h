// On-disk constants of the client spool. doc/client.md §"Spool format" specifies the format byte
// by byte; change both together, and bump kSpoolFormatVersion on any incompatible change.

#ifndef TOKENAUDIT_CLIENT_SPOOL_FORMAT_H_
#define TOKENAUDIT_CLIENT_SPOOL_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tokenaudit::client {

inline constexpr char kSpoolMagic[8] = {'T', 'A', 'C', 'S', 'P', 'O', 'O', 'L'};
inline constexpr uint32_t kSpoolFormatVersion = 1;

// Spool file header, 40 bytes, little-endian:
//   0  magic "TACSPOOL"       8
//   8  version                u32
//  12  header size (40)       u32
//  16  salt                   u64   random per file, mixed into every frame's header CRC
//  24  created (unix micros)  u64
//  32  reserved (0)           u32
//  36  header CRC             u32   masked CRC32C of bytes [0, 36)
inline constexpr size_t kSpoolHeaderSize = 40;

// After the header: frames exactly as in the ledger log (src/log/log_format.h, 24-byte header
// with a salted header CRC and a payload CRC), with
//   seq   the record's ordinal in the Client that wrote it (informational)
//   type  kSpoolRecordType
//   payload  one usage record as canonical JSON (no newline)
inline constexpr uint8_t kSpoolRecordType = 1;

// Spool files are <spool dir>/<number, 20 decimal digits>.spool, numbered in write order; the
// directory also holds the lock file kSpoolLockName.
inline constexpr std::string_view kSpoolSuffix = ".spool";
inline constexpr std::string_view kSpoolLockName = "LOCK";

std::string SpoolFileName(uint64_t number);
// True and sets *number if `name` is a well-formed spool file name.
bool ParseSpoolFileName(std::string_view name, uint64_t* number);

}  // namespace tokenaudit::client

#endif  // TOKENAUDIT_CLIENT_SPOOL_FORMAT_H_
