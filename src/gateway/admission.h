// Admission: the checks a prompt passes before the gateway forwards it to ComfyUI
// (doc/gateway.md, "Limits"):
//   * resolution cap per API key: no model node may consume an image of more pixels than the
//     key's cap (`gateway.max_pixels`, or the key's entry in `gateway.key_limits`);
//   * daily token limit per user: the estimated tokens of the prompts admitted for the user this
//     UTC day, plus this prompt's, may not exceed the limit (the estimate is charged at
//     admission, refunded if ComfyUI refuses the prompt);
//   * duplicate submissions: the same user, the same model parameters (class_type, model,
//     model_input_size, batch) on the same input hashes again within the window is flagged
//     (`duplicate_of` = the earlier prompt) or refused, as configured.
// Counters live in memory: a restart of the gateway starts the day's count from zero.
//
// Thread-safe (one mutex); every call is short.

#ifndef TOKENAUDIT_GATEWAY_ADMISSION_H_
#define TOKENAUDIT_GATEWAY_ADMISSION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/comfy/workflow_estimate.h"
#include "src/util/mutex.h"

namespace tokenaudit::gateway {

// Overrides for one API key; 0 keeps the gateway-wide value.
struct KeyLimits {
  uint64_t max_pixels = 0;
  uint64_t daily_token_limit = 0;
};

struct AdmissionOptions {
  uint64_t max_pixels = 0;         // per model-node input image; 0: no cap
  uint64_t daily_token_limit = 0;  // estimated tokens per user per UTC day; 0: no limit
  std::map<std::string, KeyLimits> key_limits;  // by key id
  int64_t duplicate_window_s = 0;  // 0: duplicates are not looked for
  bool refuse_duplicates = false;  // false: flag them
};

struct AdmissionRequest {
  std::string key_id;
  std::string user;  // tenant + user pseudonym: whose day and duplicates these are
  std::string prompt_id;
  const comfy::WorkflowEstimate* estimate = nullptr;  // not owned; valid during the call
  int64_t now_us = 0;
};

struct AdmissionDecision {
  bool admitted = true;
  std::string reason;   // refused: "resolution_cap", "daily_token_limit", "duplicate_submission"
  std::string message;  // refused: what and why, for the user (numbers only, no input values)
  std::string duplicate_of;  // admitted and flagged, or refused as a duplicate
  int64_t charged_tokens_milli = 0;
};

class Admission {
 public:
  explicit Admission(AdmissionOptions options);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Decides, and when admitted charges the day's tokens and remembers the prompt for duplicate
  // detection.
  AdmissionDecision Admit(const AdmissionRequest& request);
  // Gives back what Admit charged (ComfyUI refused the prompt after all).
  void Refund(const std::string& user, int64_t tokens_milli, int64_t now_us);
  // Tokens (milli) charged to `user` on the UTC day of `now_us`.
  int64_t UsedToday(const std::string& user, int64_t now_us) const;

 private:
  struct Day {
    int64_t day = 0;  // days since the epoch, UTC
    int64_t tokens_milli = 0;
  };
  struct Seen {
    std::string prompt_id;
    int64_t at_us = 0;
  };

  const AdmissionOptions options_;
  mutable Mutex mu_;
  std::map<std::string, Day> days_ GUARDED_BY(mu_);
  std::map<std::string, Seen> seen_ GUARDED_BY(mu_);  // by user + parameters
  int64_t last_sweep_us_ GUARDED_BY(mu_) = 0;
};

// The duplicate-detection key of an estimate: every model node's class_type, model,
// model_input_size, batch and input hash, sorted; empty when a model node's input is unknown or
// there are none.
std::string DuplicateKey(const comfy::WorkflowEstimate& estimate);

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_ADMISSION_H_
