// Fuzz target for the comparator's reading of streams of records: JSON Lines / NDJSON, JSON
// text sequences (compare/src/tape.cc) and server-sent events (compare/src/tape_sse.cc on
// twin/traffic/sse.h), through ResponseDiffer: bytes a target sent back, untrusted. The input is
//   byte 0     options: bits 0-1 the format (0 application/x-ndjson, 1 application/json-seq,
//              2 and 3 text/event-stream), bit 2 the second body unlabelled (read in the first
//              one's format), bit 3 a tiny max_depth, bit 4 a tiny max_paths, bit 5 every array
//              unordered ("$.**")
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Properties:
//   - a response never differs from itself; the paths are sorted, distinct and start with '$';
//     one way's paths are empty only when the other way's are;
//   - where the tape reads both bodies, so does the reference below (and the other way round),
//     and the paths are those of compare_ref.h's differ over the reference's values. The
//     reference is written apart from the tape, from the formats' texts: records split with
//     std::string::find and each read by compare_ref's JSON parser; events read character by
//     character as the WHATWG standard's algorithm says, into {event, id, retry, data};
//   - an event stream written again from the reference's events (LF ends, "data: " lines split
//     at every LF of the data, the id said on every event, empty or not, the retry as read)
//     reads the same and compares equal.
//
// Run with -DTWIN_FUZZ=ON (clang); new inputs go to the first directory:
//   build-fuzz/bin/fuzz_compare_stream -dict=tests/fuzz/compare_stream.dict -max_len=4096
//       /tmp/cs-corpus tests/fuzz/corpus/compare_stream
// then merge into the checked-in corpus (-merge=1), which ctest replays.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compare_ref.h"
#include "twin/compare/diff.h"

namespace {

using compare_ref::Ref;

enum class Format { kLines, kSeq, kEvents };

const char* type_of(Format f) {
  switch (f) {
    case Format::kLines:
      return "application/x-ndjson";
    case Format::kSeq:
      return "application/json-seq";
    case Format::kEvents:
      return "text/event-stream";
  }
  return nullptr;
}

bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool blank(std::string_view s) { return std::all_of(s.begin(), s.end(), json_ws); }

// ---- JSON Lines and JSON text sequences

bool read_records(const std::string& body, bool seq, Ref& out) {
  out = Ref{};
  out.kind = Ref::kArray;
  std::vector<std::string> records;
  if (seq) {
    if (!body.empty() && body[0] != '\x1e') return false;
    size_t at = 0;
    while (at < body.size()) {
      const size_t next = body.find('\x1e', at + 1);
      const std::string record =
          body.substr(at + 1, (next == std::string::npos ? body.size() : next) - at - 1);
      if (!record.empty()) records.push_back(record);  // (RS RS: no empty record)
      at = next == std::string::npos ? body.size() : next;
    }
  } else {
    size_t at = 0;
    while (at < body.size()) {
      size_t next = body.find('\n', at);
      if (next == std::string::npos) next = body.size();
      records.push_back(body.substr(at, next - at));
      at = next + 1;
    }
  }
  for (const std::string& r : records) {
    if (blank(r)) continue;
    out.items.emplace_back();
    if (!compare_ref::RefParser(r).parse(out.items.back())) return false;
  }
  return true;
}

// ---- Server-sent events, as the standard's algorithm reads them

struct Event {
  std::string type, id, retry, data;
  bool has_id = false, has_retry = false;
};

std::vector<Event> read_events(const std::string& body) {
  std::vector<Event> events;
  std::string data, type, last_id, retry;
  bool has_data = false, has_retry = false;
  std::string line;
  size_t i = body.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (i < body.size()) {
    line.clear();
    while (i < body.size() && body[i] != '\r' && body[i] != '\n') line += body[i++];
    if (i >= body.size()) break;  // a line not ended: its event is never dispatched
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
    ++i;
    if (line.empty()) {
      if (has_data) {
        Event e;
        e.type = type.empty() ? "message" : type;
        e.has_id = !last_id.empty();
        e.id = last_id;
        e.has_retry = has_retry;
        e.retry = retry;
        e.data = data.substr(0, data.size() - 1);
        events.push_back(e);
        has_retry = false;
      }
      data.clear();
      type.clear();
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    std::string field = line, value;
    if (const size_t colon = line.find(':'); colon != std::string::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "data") {
      data += value + "\n";
      has_data = true;
    } else if (field == "event") {
      type = value;
    } else if (field == "id") {
      if (value.find('\0') == std::string::npos) last_id = value;
    } else if (field == "retry") {
      if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos) {
        const size_t nz = value.find_first_not_of('0');
        retry = nz == std::string::npos ? "0" : value.substr(nz);
        has_retry = true;
      }
    }
  }
  return events;
}

Ref string_ref(const std::string& s) {
  Ref r;
  r.kind = Ref::kString;
  r.text = s;
  return r;
}

Ref events_ref(const std::vector<Event>& events) {
  Ref out;
  out.kind = Ref::kArray;
  for (const Event& e : events) {
    Ref o;
    o.kind = Ref::kObject;
    o.names = true;
    o.keys.push_back("event");
    o.items.push_back(string_ref(e.type));
    if (e.has_id) {
      o.keys.push_back("id");
      o.items.push_back(string_ref(e.id));
    }
    if (e.has_retry) {
      Ref n;
      n.kind = Ref::kNumber;
      n.integer = true;
      n.text = e.retry;
      o.keys.push_back("retry");
      o.items.push_back(n);
    }
    o.keys.push_back("data");
    const size_t first = e.data.find_first_not_of(" \t\r\n");
    Ref data;
    if (first == std::string::npos || (e.data[first] != '{' && e.data[first] != '[') ||
        !compare_ref::RefParser(e.data).parse(data)) {
      data = string_ref(e.data);
    }
    o.items.push_back(data);
    out.items.push_back(o);
  }
  return out;
}

// The events written again in one plain style.
std::string write_events(const std::vector<Event>& events) {
  std::string s;
  for (const Event& e : events) {
    if (e.has_retry) s += "retry: " + e.retry + "\n";
    s += "id: " + e.id + "\n";  // (every time: an empty one unsets the id an event before set)
    s += "event: " + e.type + "\n";
    size_t at = 0;
    for (;;) {
      const size_t nl = e.data.find('\n', at);
      s += "data: " + e.data.substr(at, nl == std::string::npos ? nl : nl - at) + "\n";
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
    s += "\n";
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  compare_ref::Input in;
  if (!compare_ref::split_input(data, size, in)) return 0;
  const uint8_t opt = in.opt;
  const Format format = (opt & 3) == 0   ? Format::kLines
                        : (opt & 3) == 1 ? Format::kSeq
                                         : Format::kEvents;
  twin::compare::DiffOptions options;
  if (opt & 8) options.max_depth = 2;
  if (opt & 16) options.max_paths = 2;
  const bool any_order = opt & 32;
  if (any_order) options.unordered = {"$.**"};
  twin::compare::ResponseDiffer differ(options);
  const char* type = type_of(format);
  const auto a = compare_ref::response(in.first, type, 1);
  const auto b = compare_ref::response(in.second, (opt & 4) ? nullptr : type, 2);
  std::vector<std::string> ab;
  const bool whole = compare_ref::basic(differ, a, b, ab);

  Ref x, y;
  bool read_a = true, read_b = true;
  std::vector<Event> events_a, events_b;
  if (format == Format::kEvents) {
    events_a = read_events(a.body);
    events_b = read_events(b.body);
    x = events_ref(events_a);
    y = events_ref(events_b);
  } else {
    read_a = read_records(a.body, format == Format::kSeq, x);
    read_b = read_records(b.body, format == Format::kSeq, y);
  }
  const bool tape_read = ab != std::vector<std::string>{"$body"};
  if (a.body != b.body && tape_read != (read_a && read_b)) std::abort();
  if (read_a && read_b) {
    std::set<std::string> want;
    if (a.body != b.body) {
      compare_ref::RefArrays arrays;
      arrays.any_order = any_order;
      compare_ref::ref_compare(x, y, "$", 0, std::min<size_t>(options.max_depth, 1000), want,
                               arrays);
    }
    compare_ref::check_paths(want, ab, whole, options);
  }
  if (format == Format::kEvents) {
    // Written again, the same events.
    const auto again = compare_ref::response(write_events(events_a), type, 3);
    std::vector<std::string> paths;
    differ.diff(a, again, paths);
    if (!paths.empty()) std::abort();
  }
  return 0;
}
