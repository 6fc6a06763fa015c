// Parsing of ingest bodies with simdjson's on-demand API.
//
// Order of checks for a body: size, UTF-8 (simdjson::validate_utf8), then ScanJsonText for depth
// and trailing content, all before simdjson sees the bytes, so hostile nesting costs one linear
// scan and no recursion. The walk then visits every value of the document, including values of
// unknown or mistyped fields, because on-demand only checks what it is asked to read: a body
// whose JSON is broken anywhere must be refused as a whole, never half-accepted. Recursion in
// Skip() is bounded by the depth limit checked up front (and again while walking).

#include "src/record/record_json.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "src/record/json_scan.h"
#include "src/record/record_fields.h"
#include "src/record/rfc3339.h"

namespace tokenaudit::record {
namespace {

namespace sj = simdjson::ondemand;
using simdjson::error_code;

constexpr size_t kDepthCap = 1024;  // simdjson's own default maximum depth
constexpr size_t kMaxKeyEcho = 64;

FieldError SyntaxError(error_code err) {
  if (err == simdjson::DEPTH_ERROR) return MakeFieldError(kTooDeep, "", "JSON nesting is too deep");
  if (err == simdjson::UTF8_ERROR)
    return MakeFieldError(kInvalidUtf8, "", "body is not valid UTF-8");
  return MakeFieldError(kInvalidJson, "",
                        std::string("malformed JSON (") + simdjson::error_message(err) + ")");
}

FieldError TextScanError(TextScan scan, size_t depth_limit) {
  if (scan == TextScan::kTooDeep) {
    return MakeFieldError(kTooDeep, "",
                          "JSON nesting is deeper than " + std::to_string(depth_limit) + " levels");
  }
  return MakeFieldError(kInvalidJson, "",
                        "malformed JSON (control character in a string, unbalanced brackets or "
                        "trailing content)");
}

// Cuts `key` (valid UTF-8) to at most kMaxKeyEcho bytes without splitting a character.
std::string TruncateKey(std::string_view key) {
  if (key.size() <= kMaxKeyEcho) return std::string(key);
  size_t n = kMaxKeyEcho;
  while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
  return std::string(key.substr(0, n));
}

bool IsEnvelopeField(std::string_view name) {
  return name == "id" || name == "source" || name == "time" || name == "tenant";
}

// Walks on-demand values of one document. Any error simdjson reports is a syntax error: it ends
// the walk (the iterator cannot go on) and is kept in syntax_error(). The first semantic error of
// the current item is kept in item_error(), and the walk goes on so that the rest of the document
// is still checked.
class Walker {
 public:
  Walker(const ParseLimits& limits, size_t depth_limit)
      : limits_(limits), depth_limit_(depth_limit) {}

  void StartItem() { item_error_.reset(); }
  const std::optional<FieldError>& item_error() const { return item_error_; }
  const FieldError& syntax_error() const { return syntax_error_; }

  // Each returns false on a syntax error. `depth` is the nesting depth of the container.
  bool Record(sj::object& obj, UsageRecord* r, bool cloud_event_data, size_t depth, uint64_t* seen);
  bool CloudEvent(sj::object& obj, UsageRecord* r, size_t depth);
  // Reads and checks any value; `depth` is the depth the value would have if a container.
  bool Skip(sj::value& v, size_t depth);

  // Records a syntax error found outside the walker; returns false.
  bool Syntax(error_code err) {
    syntax_error_ = SyntaxError(err);
    return false;
  }

  // Records that an item (an array element or the root) is not an object, then checks it.
  bool NotAnObject(sj::value& v, std::string_view rule, size_t depth) {
    Fail(kInvalidType, "", rule);
    return Skip(v, depth);
  }

 private:
  bool TooDeep() {
    syntax_error_ = TextScanError(TextScan::kTooDeep, depth_limit_);
    return false;
  }
  void Fail(std::string_view code, std::string_view field, std::string_view rule) {
    if (!item_error_) item_error_ = MakeFieldError(code, field, rule);
  }
  void UnknownKey(std::string_view key) {
    const std::string shown = TruncateKey(key);
    Fail(kUnknownField, shown,
         key == "seq" ? "unknown field (seq is assigned by the ledger)" : "unknown field");
  }
  bool GetString(sj::value& v, std::string_view* s) {
    if (auto err = v.get_string().get(*s)) return Syntax(err);
    return true;
  }
  // Reads a string for a field; *ok is false (and an error recorded) for any other type.
  bool StringField(sj::value& v, std::string_view field, size_t depth, std::string_view* s,
                   bool* ok);
  bool Field(sj::value& v, const FieldSpec& spec, UsageRecord* r, size_t depth);
  bool NumberField(sj::value& v, const FieldSpec& spec, UsageRecord* r);

  const ParseLimits& limits_;
  const size_t depth_limit_;
  std::optional<FieldError> item_error_;
  FieldError syntax_error_;
};

bool Walker::Skip(sj::value& v, size_t depth) {
  sj::json_type type;
  if (auto err = v.type().get(type)) return Syntax(err);
  switch (type) {
    case sj::json_type::object: {
      if (depth > depth_limit_) return TooDeep();
      sj::object obj;
      if (auto err = v.get_object().get(obj)) return Syntax(err);
      for (auto field_result : obj) {
        sj::field field;
        if (auto err = std::move(field_result).get(field)) return Syntax(err);
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) return Syntax(err);
        if (!Skip(field.value(), depth + 1)) return false;
      }
      return true;
    }
    case sj::json_type::array: {
      if (depth > depth_limit_) return TooDeep();
      sj::array arr;
      if (auto err = v.get_array().get(arr)) return Syntax(err);
      for (auto element_result : arr) {
        sj::value element;
        if (auto err = std::move(element_result).get(element)) return Syntax(err);
        if (!Skip(element, depth + 1)) return false;
      }
      return true;
    }
    case sj::json_type::string: {
      std::string_view s;
      return GetString(v, &s);
    }
    case sj::json_type::number: {
      JsonNumber n;
      if (!ParseJsonNumberToken(v.raw_json_token(), &n)) return Syntax(simdjson::NUMBER_ERROR);
      return true;
    }
    case sj::json_type::boolean: {
      bool b;
      if (auto err = v.get_bool().get(b)) return Syntax(err);
      return true;
    }
    case sj::json_type::null: {
      bool is_null = false;
      if (auto err = v.is_null().get(is_null)) return Syntax(err);
      return is_null || Syntax(simdjson::N_ATOM_ERROR);
    }
  }
  return Syntax(simdjson::TAPE_ERROR);
}

bool Walker::StringField(sj::value& v, std::string_view field, size_t depth, std::string_view* s,
                         bool* ok) {
  *ok = false;
  sj::json_type type;
  if (auto err = v.type().get(type)) return Syntax(err);
  if (type != sj::json_type::string) {
    Fail(kInvalidType, field, "must be a string");
    return Skip(v, depth);
  }
  if (!GetString(v, s)) return false;
  if (s->size() > limits_.max_string_bytes) {
    Fail(kTooLong, field, "must be at most " + std::to_string(limits_.max_string_bytes) + " bytes");
    return true;
  }
  *ok = true;
  return true;
}

bool Walker::NumberField(sj::value& v, const FieldSpec& spec, UsageRecord* r) {
  JsonNumber n;
  if (!ParseJsonNumberToken(v.raw_json_token(), &n)) return Syntax(simdjson::NUMBER_ERROR);
  const bool milli = spec.kind == FieldKind::kMilli;
  if (!milli && (n.has_fraction || n.has_exponent)) {
    Fail(kInvalidType, spec.name, "must be an integer (no fraction, no exponent)");
    return true;
  }
  if (milli && (n.has_exponent || n.frac_digits.size() > 3)) {
    Fail(kInvalidFormat, spec.name,
         "must be a decimal number with at most 3 fractional digits and no exponent");
    return true;
  }
  if (n.negative) {
    Fail(kOutOfRange, spec.name, "must not be negative");
    return true;
  }
  // Value in units (integers) or thousandths (kMilli), with overflow checks.
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  uint64_t value = 0;
  bool overflow = false;
  auto push_digit = [&](char c) {
    const auto d = static_cast<uint64_t>(c - '0');
    if (value > (kMax - d) / 10) {
      overflow = true;
    } else {
      value = value * 10 + d;
    }
  };
  for (char c : n.int_digits) push_digit(c);
  if (milli) {
    for (size_t i = 0; i < 3; ++i) push_digit(i < n.frac_digits.size() ? n.frac_digits[i] : '0');
  }
  if (overflow) {
    Fail(kOutOfRange, spec.name,
         milli ? "must be below 9223372036854775.808" : "must be below 2^63");
    return true;
  }
  r->*spec.num = static_cast<int64_t>(value);
  return true;
}

bool Walker::Field(sj::value& v, const FieldSpec& spec, UsageRecord* r, size_t depth) {
  sj::json_type type;
  if (auto err = v.type().get(type)) return Syntax(err);
  if (type == sj::json_type::null) return Skip(v, depth);  // null: the field is absent
  switch (spec.kind) {
    case FieldKind::kString: {
      std::string_view s;
      bool ok;
      if (!StringField(v, spec.name, depth, &s, &ok)) return false;
      if (ok) (r->*spec.str).assign(s.data(), s.size());
      return true;
    }
    case FieldKind::kTime: {
      std::string_view s;
      bool ok;
      if (!StringField(v, spec.name, depth, &s, &ok)) return false;
      if (!ok) return true;
      int64_t micros;
      switch (ParseRfc3339Micros(s, &micros)) {
        case TimeParse::kOk:
          r->*spec.num = micros;
          break;
        case TimeParse::kBadFormat:
          Fail(kInvalidFormat, spec.name,
               "must be an RFC 3339 date-time such as 2026-11-30T10:00:02.480000Z");
          break;
        case TimeParse::kOutOfRange:
          Fail(kOutOfRange, spec.name, "must be in years 0000..9999 UTC and not a leap second");
          break;
      }
      return true;
    }
    case FieldKind::kInteger:
    case FieldKind::kMilli:
      if (type != sj::json_type::number) {
        Fail(kInvalidType, spec.name,
             spec.kind == FieldKind::kMilli ? "must be a number" : "must be an integer");
        return Skip(v, depth);
      }
      return NumberField(v, spec, r);
  }
  return Syntax(simdjson::TAPE_ERROR);
}

bool Walker::Record(sj::object& obj, UsageRecord* r, bool cloud_event_data, size_t depth,
                    uint64_t* seen) {
  for (auto field_result : obj) {
    sj::field field;
    if (auto err = std::move(field_result).get(field)) return Syntax(err);
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return Syntax(err);
    const int index = FindRecordField(key);
    if (index < 0) {
      UnknownKey(key);
      if (!Skip(field.value(), depth + 1)) return false;
      continue;
    }
    const FieldSpec& spec = kRecordFields[index];
    const uint64_t bit = uint64_t{1} << index;
    if (cloud_event_data && IsEnvelopeField(spec.name)) {
      Fail(kInvalidJson, spec.name,
           "is a CloudEvents envelope attribute and must not appear in data");
    } else if (*seen & bit) {
      Fail(kInvalidJson, spec.name, "duplicate key");
    } else {
      *seen |= bit;
      if (!Field(field.value(), spec, r, depth + 1)) return false;
      continue;
    }
    if (!Skip(field.value(), depth + 1)) return false;
  }
  return true;
}

bool Walker::CloudEvent(sj::object& obj, UsageRecord* r, size_t depth) {
  // CloudEvents attributes that are not record fields; bit i of the masks is kAttributes[i].
  static constexpr std::string_view kAttributes[] = {"specversion", "type", "datacontenttype",
                                                     "data"};
  enum : unsigned { kSpecVersion = 1, kType = 2, kContentType = 4, kData = 8 };
  unsigned seen_attributes = 0;     // for duplicate detection, null included
  unsigned present_attributes = 0;  // non-null
  uint64_t seen_fields = 0;         // record fields, envelope and data together
  for (auto field_result : obj) {
    sj::field field;
    if (auto err = std::move(field_result).get(field)) return Syntax(err);
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return Syntax(err);
    sj::value& v = field.value();
    unsigned attribute = 0;
    for (size_t i = 0; i < std::size(kAttributes); ++i) {
      if (key == kAttributes[i]) attribute = 1u << i;
    }
    if (attribute == 0) {
      if (!IsEnvelopeField(key)) {
        UnknownKey(key);
        if (!Skip(v, depth + 1)) return false;
        continue;
      }
      const int index = FindRecordField(key);
      const uint64_t bit = uint64_t{1} << index;
      if (seen_fields & bit) {
        Fail(kInvalidJson, key, "duplicate key");
        if (!Skip(v, depth + 1)) return false;
        continue;
      }
      seen_fields |= bit;
      if (!Field(v, kRecordFields[index], r, depth + 1)) return false;
      continue;
    }
    if (seen_attributes & attribute) {
      Fail(kInvalidJson, key, "duplicate key");
      if (!Skip(v, depth + 1)) return false;
      continue;
    }
    seen_attributes |= attribute;
    sj::json_type type;
    if (auto err = v.type().get(type)) return Syntax(err);
    if (type == sj::json_type::null) {  // null: the attribute is absent
      if (!Skip(v, depth + 1)) return false;
      continue;
    }
    present_attributes |= attribute;
    if (attribute == kData) {
      if (type != sj::json_type::object) {
        Fail(kInvalidType, key, "must be a JSON object");
        if (!Skip(v, depth + 1)) return false;
        continue;
      }
      if (depth + 1 > depth_limit_) return TooDeep();
      sj::object data;
      if (auto err = v.get_object().get(data)) return Syntax(err);
      if (!Record(data, r, /*cloud_event_data=*/true, depth + 1, &seen_fields)) return false;
      continue;
    }
    std::string_view s;
    bool ok;
    if (!StringField(v, key, depth + 1, &s, &ok)) return false;
    if (!ok) continue;
    if (attribute == kSpecVersion && s != "1.0") {
      Fail(kInvalidFormat, key, "must be \"1.0\"");
    } else if (attribute == kType && s != "ai.usage.v1") {
      Fail(kInvalidFormat, key, "must be \"ai.usage.v1\"");
    } else if (attribute == kContentType) {
      auto format = FormatFromContentType(s);
      if (!format.ok() || *format != BodyFormat::kJson) {
        Fail(kInvalidFormat, key, "must be application/json when present");
      }
    }
  }
  if (!(present_attributes & kSpecVersion)) {
    Fail(kMissingField, "specversion", "is required (\"1.0\")");
  }
  if (!(present_attributes & kType)) Fail(kMissingField, "type", "is required (\"ai.usage.v1\")");
  return true;
}

ParsedBody Refuse(FieldError error) {
  ParsedBody body;
  body.error = std::move(error);
  return body;
}

// Makes `item` a fresh item again, keeping its strings' buffers.
void ResetItem(ParsedItem* item) {
  item->ok = false;
  ClearRecord(&item->record);
  item->error.code.clear();
  item->error.field.clear();
  item->error.message.clear();
  item->line = 0;
}

// Walks one object item (the root or an array element) into `item`; false on a syntax error.
bool ParseItem(Walker& walker, sj::object& obj, bool cloud_event, size_t depth, ParsedItem* item) {
  walker.StartItem();
  uint64_t seen = 0;
  const bool walked = cloud_event ? walker.CloudEvent(obj, &item->record, depth)
                                  : walker.Record(obj, &item->record, false, depth, &seen);
  if (!walked) return false;
  item->ok = !walker.item_error().has_value();
  if (!item->ok) item->error = *walker.item_error();
  return true;
}

// Walks an array element into `item`; false on a syntax error.
bool ParseElement(Walker& walker, sj::value& element, bool cloud_event, ParsedItem* item) {
  sj::json_type type;
  if (auto err = element.type().get(type)) return walker.Syntax(err);
  if (type != sj::json_type::object) {
    walker.StartItem();
    if (!walker.NotAnObject(
            element, cloud_event ? "must be a CloudEvent object" : "must be a JSON object", 2)) {
      return false;
    }
    item->error = *walker.item_error();
    return true;
  }
  sj::object obj;
  if (auto err = element.get_object().get(obj)) return walker.Syntax(err);
  return ParseItem(walker, obj, cloud_event, 2, item);
}

FieldError TooManyItems(const ParseLimits& limits) {
  return MakeFieldError(kTooManyItems, "",
                        "body has more than " + std::to_string(limits.max_items) + " records");
}

// kJson, kCloudEvent and kCloudEventBatch: the body is one JSON document.
ParsedBody ParseDocument(std::string_view text, BodyFormat format, const ParseLimits& limits,
                         size_t depth_limit, const ItemSink& sink) {
  if (TextScan scan = ScanJsonText(text, depth_limit); scan != TextScan::kOk) {
    return Refuse(TextScanError(scan, depth_limit));
  }
  const simdjson::padded_string padded(text);
  sj::parser parser;
  sj::document doc;
  if (auto err = parser.iterate(padded).get(doc)) return Refuse(SyntaxError(err));
  sj::json_type type;
  if (auto err = doc.type().get(type)) return Refuse(SyntaxError(err));
  const bool cloud_event = format != BodyFormat::kJson;
  Walker walker(limits, depth_limit);
  ParsedBody body;
  ParsedItem item;
  if (type == sj::json_type::object && format != BodyFormat::kCloudEventBatch) {
    sj::object obj;
    if (auto err = doc.get_object().get(obj)) return Refuse(SyntaxError(err));
    if (!ParseItem(walker, obj, cloud_event, 1, &item)) return Refuse(walker.syntax_error());
    sink(item);
  } else if (type == sj::json_type::array && format != BodyFormat::kCloudEvent) {
    body.batch = true;
    sj::array arr;
    if (auto err = doc.get_array().get(arr)) return Refuse(SyntaxError(err));
    size_t count = 0;
    for (auto element_result : arr) {
      sj::value element;
      if (auto err = std::move(element_result).get(element)) return Refuse(SyntaxError(err));
      if (count == limits.max_items) return Refuse(TooManyItems(limits));
      ResetItem(&item);
      if (!ParseElement(walker, element, cloud_event, &item)) {
        return Refuse(walker.syntax_error());
      }
      sink(item);
      ++count;
    }
  } else {
    return Refuse(MakeFieldError(
        kInvalidType, "",
        format == BodyFormat::kJson         ? "body must be a JSON object or an array of objects"
        : format == BodyFormat::kCloudEvent ? "body must be one CloudEvent object (arrays are "
                                              "application/cloudevents-batch+json)"
                                            : "body must be a JSON array of CloudEvents"));
  }
  body.ok = true;
  return body;
}

// One NDJSON line. Every failure, syntax included, belongs to this item only.
void ParseNdjsonLine(std::string_view line, const ParseLimits& limits, size_t depth_limit,
                     sj::parser& parser, std::string& buffer, ParsedItem* item) {
  if (TextScan scan = ScanJsonText(line, depth_limit); scan != TextScan::kOk) {
    item->error = TextScanError(scan, depth_limit);
    return;
  }
  // A private padded copy: simdjson may read up to SIMDJSON_PADDING bytes past the end, and must
  // not see the next line there.
  buffer.assign(line);
  buffer.append(simdjson::SIMDJSON_PADDING, '\0');
  sj::document doc;
  sj::json_type type;
  if (auto err = parser.iterate(buffer.data(), line.size(), buffer.size()).get(doc)) {
    item->error = SyntaxError(err);
    return;
  }
  if (auto err = doc.type().get(type)) {
    item->error = SyntaxError(err);
    return;
  }
  if (type != sj::json_type::object) {
    item->error = MakeFieldError(kInvalidType, "", "line must be a JSON object");
    return;
  }
  sj::object obj;
  if (auto err = doc.get_object().get(obj)) {
    item->error = SyntaxError(err);
    return;
  }
  Walker walker(limits, depth_limit);
  if (!ParseItem(walker, obj, /*cloud_event=*/false, 1, item)) {
    item->ok = false;
    item->error = walker.syntax_error();
  }
}

// The items of NDJSON lines, the first being line `line_number + 1` of the body; false (after
// max_items items) if there are more than max_items.
bool ParseNdjsonLines(std::string_view text, size_t line_number, const ParseLimits& limits,
                      size_t depth_limit, const ItemSink& sink) {
  sj::parser parser;
  std::string buffer;
  ParsedItem item;
  size_t count = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (std::all_of(line.begin(), line.end(), IsJsonWhitespace)) continue;
    if (count == limits.max_items) return false;
    ResetItem(&item);
    item.line = line_number;
    ParseNdjsonLine(line, limits, depth_limit, parser, buffer, &item);
    sink(item);
    ++count;
  }
  return true;
}

ParsedBody ParseNdjson(std::string_view text, const ParseLimits& limits, size_t depth_limit,
                       const ItemSink& sink) {
  if (!ParseNdjsonLines(text, 0, limits, depth_limit, sink)) return Refuse(TooManyItems(limits));
  ParsedBody body;
  body.batch = true;
  body.ok = true;
  return body;
}

}  // namespace

FieldError MakeFieldError(std::string_view code, std::string_view field, std::string_view rule) {
  FieldError e;
  e.code = std::string(code);
  e.field = std::string(field);
  e.message = field.empty() ? std::string(rule) : e.field + ": " + std::string(rule);
  return e;
}

ParsedBody ParseBodyEach(std::string_view body, BodyFormat format, const ParseLimits& limits,
                         const ItemSink& sink) {
  if (body.size() > limits.max_body_bytes) {
    return Refuse(MakeFieldError(
        kBodyTooLarge, "body", "larger than " + std::to_string(limits.max_body_bytes) + " bytes"));
  }
  if (!simdjson::validate_utf8(body.data(), body.size())) {
    return Refuse(MakeFieldError(kInvalidUtf8, "", "body is not valid UTF-8"));
  }
  const size_t depth_limit = std::min(limits.max_depth, kDepthCap);
  if (format == BodyFormat::kNdjson) return ParseNdjson(body, limits, depth_limit, sink);
  return ParseDocument(body, format, limits, depth_limit, sink);
}

size_t CountNdjsonLines(std::string_view text) {
  // memchr skips a whole record per call (std::count compares byte by byte: 4% of the ingest CPU).
  size_t n = 1;
  const char* const end = text.data() + text.size();
  for (const char* p = text.data();; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (p == nullptr) return n;
    ++n;
  }
}

std::vector<NdjsonPiece> SplitNdjson(std::string_view body, const ParseLimits& limits,
                                     size_t max_pieces, size_t min_lines) {
  // The whole-body checks of ParseBodyEach, in its order; UTF-8 is checked here once for all the
  // pieces (a newline never falls inside a multi-byte sequence, so each piece is valid too).
  if (max_pieces < 2 || body.size() > limits.max_body_bytes) return {};
  const size_t newlines = CountNdjsonLines(body) - 1;
  // Lines bound the items from above: with no more lines than max_items, none is too many.
  if (newlines + 1 > limits.max_items || newlines + 1 < 2 * std::max<size_t>(min_lines, 1)) {
    return {};
  }
  if (!simdjson::validate_utf8(body.data(), body.size())) return {};
  const size_t pieces = std::min(max_pieces, (newlines + 1) / std::max<size_t>(min_lines, 1));
  std::vector<NdjsonPiece> out;
  size_t start = 0, line = 1;
  for (size_t k = 1; k <= pieces && start < body.size(); ++k) {
    size_t end = body.size();
    if (k < pieces) {
      // The first newline at or after this piece's share of the bytes ends it.
      const size_t target = std::max(start, body.size() * k / pieces);
      const size_t nl = body.find('\n', target);
      end = nl == std::string_view::npos ? body.size() : nl + 1;
    }
    const std::string_view text = body.substr(start, end - start);
    out.push_back({text, line});
    line += CountNdjsonLines(text) - 1;
    start = end;
  }
  // All the lines in the first piece (a last line longer than the rest of the body): no split.
  if (out.size() < 2) return {};
  return out;
}

void ParseNdjsonPiece(const NdjsonPiece& piece, const ParseLimits& limits, const ItemSink& sink) {
  const size_t depth_limit = std::min(limits.max_depth, kDepthCap);
  // SplitNdjson made sure the body holds no more than max_items lines.
  ParseNdjsonLines(piece.text, piece.first_line - 1, limits, depth_limit, sink);
}

ParsedBody ParseBody(std::string_view body, BodyFormat format, const ParseLimits& limits) {
  std::vector<ParsedItem> items;
  if (format == BodyFormat::kNdjson) {
    items.reserve(std::min<size_t>(limits.max_items,
                                   static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1));
  }
  ParsedBody parsed = ParseBodyEach(body, format, limits,
                                    [&items](ParsedItem& item) { items.push_back(std::move(item)); });
  if (parsed.ok) parsed.items = std::move(items);
  return parsed;
}

bool ParseRecordJson(std::string_view json, UsageRecord* record, FieldError* error,
                     const ParseLimits& limits) {
  ParsedBody body = ParseBody(json, BodyFormat::kJson, limits);
  FieldError failure;
  if (!body.ok) {
    failure = std::move(body.error);
  } else if (body.batch || body.items.size() != 1) {
    failure = MakeFieldError(kInvalidType, "", "record must be a JSON object");
  } else if (!body.items[0].ok) {
    failure = std::move(body.items[0].error);
  } else {
    *record = std::move(body.items[0].record);
    return true;
  }
  if (error != nullptr) *error = std::move(failure);
  return false;
}

}  // namespace tokenaudit::record
