#include "src/metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <set>

namespace tokenaudit::metrics {
namespace {

// The shortest text that reads back as `v` ("0.00025", not "0.00025000000000000001"), with
// Prometheus' spellings of the special values.
std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  // Fixed notation where it fits ("0.0001" as bucket bounds are usually written), else the
  // shortest form with an exponent.
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  if (r.ec != std::errc()) r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string WithLabels(const std::string& name, const std::string& labels,
                       const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

void Histogram::Render(const std::string& name, const std::string& labels,
                       std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string le = "le=\"" +
                     (i < bounds_.size() ? FormatDouble(bounds_[i]) : std::string("+Inf")) + "\"";
    *out += WithLabels(name + "_bucket", labels, le) + " " + std::to_string(cumulative) + "\n";
  }
  *out += WithLabels(name + "_sum", labels) + " " +
          FormatDouble(static_cast<double>(sum_micro_.load()) / 1e6) + "\n";
  *out += WithLabels(name + "_count", labels) + " " + std::to_string(count_.load()) + "\n";
}

Counter* Registry::AddCounter(const std::string& name, const std::string& help,
                              const std::string& labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->labels = labels;
  e->counter = std::make_unique<Counter>();
  Counter* c = e->counter.get();
  MutexLock l(&mu_);
  entries_.push_back(std::move(e));
  return c;
}

Histogram* Registry::AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds, const std::string& labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "histogram";
  e->labels = labels;
  e->histogram = std::make_unique<Histogram>(std::move(bounds));
  Histogram* h = e->histogram.get();
  MutexLock l(&mu_);
  entries_.push_back(std::move(e));
  return h;
}

void Registry::AddGauge(const std::string& name, const std::string& help,
                        std::function<double()> read, const std::string& labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->labels = labels;
  e->gauge = std::move(read);
  MutexLock l(&mu_);
  entries_.push_back(std::move(e));
}

void Registry::AddCounterFn(const std::string& name, const std::string& help,
                            std::function<uint64_t()> read, const std::string& labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->labels = labels;
  e->counter_fn = std::move(read);
  MutexLock l(&mu_);
  entries_.push_back(std::move(e));
}

std::string Registry::Render() const {
  std::string out;
  std::set<std::string> described;
  MutexLock l(&mu_);
  for (const auto& e : entries_) {
    if (described.insert(e->name).second) {
      out += "# HELP " + e->name + " " + e->help + "\n";
      out += "# TYPE " + e->name + " " + e->type + "\n";
    }
    if (e->counter) {
      out += WithLabels(e->name, e->labels) + " " + std::to_string(e->counter->value()) + "\n";
    } else if (e->histogram) {
      e->histogram->Render(e->name, e->labels, &out);
    } else if (e->gauge) {
      out += WithLabels(e->name, e->labels) + " " + FormatDouble(e->gauge()) + "\n";
    } else if (e->counter_fn) {
      out += WithLabels(e->name, e->labels) + " " + std::to_string(e->counter_fn()) + "\n";
    }
  }
  return out;
}

}  // namespace tokenaudit::metrics
