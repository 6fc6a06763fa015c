#include "src/ingest/event_index.h"

#include <algorithm>

namespace tokenaudit::ingest {

uint32_t EventIndex::Code(std::string_view s) {
  auto it = codes_.find(s);
  if (it != codes_.end()) return it->second;
  auto code = static_cast<uint32_t>(codes_.size());
  codes_.emplace(std::string(s), code);
  return code;
}

std::optional<uint32_t> EventIndex::Lookup(const std::optional<std::string>& s) const {
  if (!s) return std::nullopt;
  auto it = codes_.find(*s);
  return it == codes_.end() ? kAbsent : it->second;
}

EventIndex::Row EventIndex::MakeRowLocked(const UsageRecord& r) {
  return Row{0,          r.time_us.value_or(0), Code(r.tenant),  Code(r.user),
             Code(r.model), Code(r.workflow),   Code(r.status)};
}

EventIndex::Row EventIndex::MakeRow(const UsageRecord& r) {
  MutexLock l(&mu_);
  return MakeRowLocked(r);
}

void EventIndex::InsertLocked(const Row& row) {
  if (rows_.empty() || rows_.back().seq < row.seq) {
    rows_.push_back(row);
    return;
  }
  auto it = std::lower_bound(rows_.begin(), rows_.end(), row.seq,
                             [](const Row& a, uint64_t s) { return a.seq < s; });
  if (it != rows_.end() && it->seq == row.seq) return;
  rows_.insert(it, row);
}

void EventIndex::Add(uint64_t seq, const UsageRecord& r) {
  MutexLock l(&mu_);
  Row row = MakeRowLocked(r);
  row.seq = seq;
  InsertLocked(row);
}

void EventIndex::AddRows(uint64_t first_seq, std::span<Row> rows) {
  for (size_t i = 0; i < rows.size(); ++i) rows[i].seq = first_seq + i;
  MutexLock l(&mu_);
  if (rows_.empty() || rows_.back().seq < first_seq) {
    rows_.insert(rows_.end(), rows.begin(), rows.end());
    return;
  }
  for (const Row& row : rows) InsertLocked(row);
}

std::vector<uint64_t> EventIndex::Find(const EventFilter& f, uint64_t* next_cursor) const {
  MutexLock l(&mu_);
  std::vector<uint64_t> out;
  *next_cursor = 0;
  auto tenant = Lookup(f.tenant), user = Lookup(f.user), model = Lookup(f.model),
       workflow = Lookup(f.workflow), status = Lookup(f.status);
  for (auto c : {tenant, user, model, workflow, status}) {
    if (c && *c == kAbsent) return out;  // a value never stored matches nothing
  }
  auto it = std::lower_bound(rows_.begin(), rows_.end(), f.after_seq,
                             [](const Row& a, uint64_t s) { return a.seq < s; });
  for (; it != rows_.end(); ++it) {
    const Row& r = *it;
    if ((tenant && r.tenant != *tenant) || (user && r.user != *user) ||
        (model && r.model != *model) || (workflow && r.workflow != *workflow) ||
        (status && r.status != *status) || (f.from_us && r.time_us < *f.from_us) ||
        (f.to_us && r.time_us >= *f.to_us)) {
      continue;
    }
    if (out.size() == f.limit) {
      *next_cursor = r.seq;
      break;
    }
    out.push_back(r.seq);
  }
  return out;
}

size_t EventIndex::size() const {
  MutexLock l(&mu_);
  return rows_.size();
}

}  // namespace tokenaudit::ingest
