// Parsing of the server's answers to POST /v1/events (doc/http_api.md): the per-item results of a
// batch, and the error object of a refused request. A small strict JSON reader of its own, so the
// client library depends on nothing but libcurl; it reads only the members it needs and checks
// the syntax of everything else. Pure functions; thread-safe.

#ifndef TOKENAUDIT_CLIENT_INGEST_REPLY_H_
#define TOKENAUDIT_CLIENT_INGEST_REPLY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tokenaudit::client {

struct ApiError {
  std::string code;
  std::string field;
  std::string message;
};

struct ItemResult {
  int status = 0;  // 200 stored (or duplicate), else the item's error status
  bool duplicate = false;
  uint64_t seq = 0;
  ApiError error;  // when status != 200
};

// Parses `{"accepted":..,"results":[{"index":i,"status":s,...},...]}`. True only if the body is
// valid JSON of that shape and the indexes are exactly 0..n-1 (in any order); `*results` is then
// in index order.
bool ParseBatchReply(std::string_view body, std::vector<ItemResult>* results);

// Parses `{"error":{"code":..,"message":..,"field":..}}`; false if the body is not of that shape.
bool ParseErrorReply(std::string_view body, ApiError* error);

}  // namespace tokenaudit::client

#endif  // TOKENAUDIT_CLIENT_INGEST_REPLY_H_
