// UsageRecord: one model invocation, the unit tokenaudit records (DESIGN §2).
//
// A plain value type. Strings are empty and optionals unset when a field is absent. JSON names
// are flat keys (a dot is part of the name, as in OpenTelemetry attributes); the mapping is the
// table in doc/usage_record.md. Stored records are canonical JSON (sorted keys, no whitespace,
// UTF-8) so anyone can recompute a Merkle leaf from an export; `seq` is not part of the stored
// bytes (the ledger assigns it while the bytes are already hashed) and is added to responses.

#ifndef TOKENAUDIT_USAGE_RECORD_H_
#define TOKENAUDIT_USAGE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>

namespace tokenaudit {

struct UsageRecord {
  // Producer identity; (tenant, source, id) is the idempotency key.
  std::string id;      // "id"
  std::string source;  // "source"
  std::string tenant;  // "tenant"
  std::string user;    // "user": raw on input, the pseudonym "u_..." once stored

  std::optional<int64_t> time_us;        // "time": end, RFC 3339 UTC with microseconds
  std::optional<int64_t> start_time_us;  // "start_time"
  std::optional<int64_t> duration_ms;    // "duration_ms"
  std::string request_id;                // "request_id": 16 lower-case hex digits

  std::string task_type;      // "task_type"
  std::string workflow;       // "workflow"
  std::string workflow_hash;  // "workflow_hash"
  std::string node_id;        // "node_id"
  std::string node_type;      // "node_type"
  std::string operation_name; // "gen_ai.operation.name"
  std::string model;          // "gen_ai.request.model"
  std::string model_variant;  // "model_variant"
  std::string device;         // "device"
  std::string duplicate_of;   // "duplicate_of": the earlier record this run repeats

  std::optional<int64_t> input_width;             // "input.width"
  std::optional<int64_t> input_height;            // "input.height"
  std::optional<int64_t> input_batch;             // "input.batch"
  std::optional<int64_t> input_model_input_size;  // "input.model_input_size"
  std::string input_hash;                         // "input.hash": "sha256:<64 hex>"

  std::optional<int64_t> estimated_tokens_milli;  // "usage.estimated_tokens_milli"
  std::optional<int64_t> gflops_milli;            // "usage.gflops": JSON decimal, 3 places max
  std::optional<int64_t> gpu_ms;                  // "usage.gpu_ms"
  std::optional<int64_t> input_tokens;            // "gen_ai.usage.input_tokens"
  std::optional<int64_t> output_tokens;           // "gen_ai.usage.output_tokens"
  std::optional<int64_t> cost_micros;             // "cost_micros"
  std::string price_version;                      // "price_version"

  std::string status;      // "status": success|error|cached|interrupted|rejected
  std::string error_type;  // "error.type"
  std::string capture;     // "capture": gateway|extension|api

  bool operator==(const UsageRecord&) const = default;
};

}  // namespace tokenaudit

#endif  // TOKENAUDIT_USAGE_RECORD_H_
