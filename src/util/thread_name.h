// Names the calling thread (Linux: at most 15 bytes are kept), so that top -H, perf and
// /proc/<pid>/task/<tid>/comm tell the server's threads apart (the benchmarks sum CPU by name).

#ifndef TOKENAUDIT_UTIL_THREAD_NAME_H_
#define TOKENAUDIT_UTIL_THREAD_NAME_H_

#include <pthread.h>

#include <string>
#include <string_view>

namespace tokenaudit {

inline void SetCurrentThreadName(std::string_view name) {
#if defined(__linux__)
  const std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
#else
  (void)name;
#endif
}

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_THREAD_NAME_H_
