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

namespace {

bool SeqBefore(const EventIndex::Row& a, uint64_t seq) { return a.seq < seq; }

}  // namespace

size_t EventIndex::LowerBound(uint64_t seq) const {
  size_t lo = 0, hi = rows_.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (rows_[mid].seq < seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

void EventIndex::InsertLocked(const Row& row) {
  if (rows_.empty() || rows_.back().seq < row.seq) {
    rows_.push_back(row);
    return;
  }
  const size_t i = LowerBound(row.seq);
  if (i < rows_.size() && rows_[i].seq == row.seq) return;
  auto it = std::lower_bound(late_.begin(), late_.end(), row.seq, SeqBefore);
  if (it != late_.end() && it->seq == row.seq) return;
  late_.insert(it, row);
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
  size_t i = LowerBound(f.after_seq);
  auto late = std::lower_bound(late_.begin(), late_.end(), f.after_seq, SeqBefore);
  while (i < rows_.size() || late != late_.end()) {
    const bool from_rows = late == late_.end() || (i < rows_.size() && rows_[i].seq < late->seq);
    const Row& r = from_rows ? rows_[i++] : *late++;
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
  return rows_.size() + late_.size();
}

}  // namespace tokenaudit::ingest
