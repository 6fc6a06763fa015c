// Lexical path normalization for the Envs that keep their own view of the file system (the memory
// Env and the fault-injection Env), so "dir/", "./dir" and "dir//" name the same entry.

#ifndef TOKENAUDIT_SRC_ENV_PATH_H_
#define TOKENAUDIT_SRC_ENV_PATH_H_

#include <string>
#include <string_view>

namespace tokenaudit::env {

// Drops empty and "." components and trailing slashes; keeps a leading '/' and ".." components
// (no symlinks are resolved). "" and "./" become ".", "/a//b/./c/" becomes "/a/b/c".
std::string NormalizePath(std::string_view path);

}  // namespace tokenaudit::env

#endif  // TOKENAUDIT_SRC_ENV_PATH_H_
