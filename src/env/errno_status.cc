#include "src/env/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace tokenaudit::env {

Status ErrnoStatus(std::string_view context, int err) {
  // strerrorname_np (glibc >= 2.32) gives the symbolic name; strerror_r's GNU form is thread-safe.
  const char* name = strerrorname_np(err);
  char buf[256];
  const char* text = strerror_r(err, buf, sizeof(buf));
  std::string msg(context);
  msg += ": ";
  if (name != nullptr) {
    msg += name;
    msg += ": ";
  }
  msg += text;
  if (err == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}

}  // namespace tokenaudit::env
