#include "src/gateway/admission.h"

#include <algorithm>
#include <cstdio>

namespace tokenaudit::gateway {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;

int64_t DayOf(int64_t us) { return us >= 0 ? us / kMicrosPerDay : (us + 1) / kMicrosPerDay - 1; }

std::string Megapixels(uint64_t pixels) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(pixels) / 1e6);
  return buf;
}

}  // namespace

std::string DuplicateKey(const comfy::WorkflowEstimate& estimate) {
  std::vector<std::string> parts;
  for (const comfy::ModelNodeEstimate& n : estimate.model_nodes) {
    if (n.input_hash.empty()) return {};
    parts.push_back(n.class_type + "\x1f" + n.model + "\x1f" +
                    std::to_string(n.model_input_size.value_or(-1)) + "\x1f" +
                    std::to_string(n.batch) + "\x1f" + n.input_hash);
  }
  if (parts.empty()) return {};
  std::sort(parts.begin(), parts.end());
  std::string key;
  for (const std::string& p : parts) key += p + "\x1e";
  return key;
}

Admission::Admission(AdmissionOptions options) : options_(std::move(options)) {}

AdmissionDecision Admission::Admit(const AdmissionRequest& req) {
  AdmissionDecision d;
  uint64_t max_pixels = options_.max_pixels;
  uint64_t daily_tokens = options_.daily_token_limit;
  if (auto it = options_.key_limits.find(req.key_id); it != options_.key_limits.end()) {
    if (it->second.max_pixels) max_pixels = it->second.max_pixels;
    if (it->second.daily_token_limit) daily_tokens = it->second.daily_token_limit;
  }
  const comfy::WorkflowEstimate& est = *req.estimate;
  if (max_pixels > 0) {
    for (const comfy::ModelNodeEstimate& n : est.model_nodes) {
      if (!n.width || !n.height) continue;
      const uint64_t pixels = static_cast<uint64_t>(*n.width) * static_cast<uint64_t>(*n.height);
      if (pixels > max_pixels) {
        d.admitted = false;
        d.reason = "resolution_cap";
        d.message = "node " + n.node_id + " (" + n.class_type + ") would process a " +
                    std::to_string(*n.width) + "x" + std::to_string(*n.height) + " image (" +
                    Megapixels(pixels) + " MP); this key's cap is " + Megapixels(max_pixels) +
                    " MP";
        return d;
      }
    }
  }
  const std::string dup_key = options_.duplicate_window_s > 0 ? DuplicateKey(est) : "";
  MutexLock l(&mu_);
  if (!dup_key.empty()) {
    const int64_t window_us = options_.duplicate_window_s * 1'000'000;
    if (req.now_us - last_sweep_us_ > window_us) {
      std::erase_if(seen_, [&](const auto& kv) { return req.now_us - kv.second.at_us > window_us; });
      last_sweep_us_ = req.now_us;
    }
    auto it = seen_.find(req.user + "\x1d" + dup_key);
    if (it != seen_.end() && req.now_us - it->second.at_us <= window_us) {
      d.duplicate_of = it->second.prompt_id;
      if (options_.refuse_duplicates) {
        d.admitted = false;
        d.reason = "duplicate_submission";
        d.message = "the same input and parameters were submitted " +
                    std::to_string((req.now_us - it->second.at_us) / 1'000'000) +
                    " s ago (prompt " + it->second.prompt_id + "); duplicates within " +
                    std::to_string(options_.duplicate_window_s) + " s are refused";
        return d;
      }
    }
  }
  const int64_t today = DayOf(req.now_us);
  Day& day = days_[req.user];
  if (day.day != today) day = Day{today, 0};
  if (daily_tokens > 0) {
    const int64_t limit_milli = static_cast<int64_t>(daily_tokens) * 1000;
    if (day.tokens_milli + est.tokens_milli > limit_milli) {
      d.admitted = false;
      d.reason = "daily_token_limit";
      d.message = "this prompt is estimated at " + std::to_string(est.tokens_milli / 1000) +
                  " tokens; " + std::to_string(day.tokens_milli / 1000) + " of the daily " +
                  std::to_string(daily_tokens) + " are used (UTC day)";
      return d;
    }
  }
  day.tokens_milli += est.tokens_milli;
  d.charged_tokens_milli = est.tokens_milli;
  if (!dup_key.empty()) seen_[req.user + "\x1d" + dup_key] = Seen{req.prompt_id, req.now_us};
  return d;
}

void Admission::Refund(const std::string& user, int64_t tokens_milli, int64_t now_us) {
  MutexLock l(&mu_);
  auto it = days_.find(user);
  if (it == days_.end() || it->second.day != DayOf(now_us)) return;
  it->second.tokens_milli = std::max<int64_t>(0, it->second.tokens_milli - tokens_milli);
}

int64_t Admission::UsedToday(const std::string& user, int64_t now_us) const {
  MutexLock l(&mu_);
  auto it = days_.find(user);
  if (it == days_.end() || it->second.day != DayOf(now_us)) return 0;
  return it->second.tokens_milli;
}

}  // namespace tokenaudit::gateway
