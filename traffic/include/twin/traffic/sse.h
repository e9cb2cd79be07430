#pragma once
// Server-sent events (text/event-stream: the WHATWG HTML standard, "Server-sent events",
// "Interpreting an event stream"), read line by line, for the scrubber (scrubber.cc: each event's
// data scrubbed as the JSON document or the text it is, in place) and the comparator
// (compare/src/tape_sse.cc: the events a browser's EventSource dispatches, compared field by
// field). Written here: no Debian library reads the format, and its grammar is a dozen lines.
//
// A line ends at CRLF, LF or CR. A blank line dispatches the event gathered so far; a line that
// starts with ':' is a comment; any other line is a field, its name what comes before the first
// ':' (the whole line when there is none) and its value what follows it, less one space.
// Nothing is decoded here: what the fields mean (event, data, id, retry) is the reader's.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace twin::traffic {

struct SseLine {
  enum class Kind : uint8_t { kBlank, kComment, kField };
  Kind kind = Kind::kBlank;
  size_t begin = 0;        // the line's first byte
  size_t end = 0;          // past its last byte, before its end of line
  size_t next = 0;         // the next line's first byte (the input's size after the last line)
  std::string_view name;   // kField: the field's name, as written ("data", "event", "id", …)
  size_t value_begin = 0;  // kField: its value is [value_begin, end); kComment: begin + 1
  /// Whether the line was ended (by CRLF, LF or CR); only the last line of an input can be
  /// unended.
  bool ended = false;
};

class SseReader {
 public:
  /// Reads `body` from its start; a UTF-8 byte order mark there is skipped, as the standard's
  /// decoder does.
  explicit SseReader(std::string_view body);
  /// The next line, false when none is left (an empty input has none; one that ends with an end
  /// of line has no empty line after it).
  bool next(SseLine& line);
  /// Where the first line begins (3 after a byte order mark, else 0).
  size_t start() const { return start_; }

 private:
  std::string_view body_;
  size_t start_ = 0;
  size_t at_ = 0;
};

/// Whether `value` is a valid `retry` field's value, which the standard takes only when it is
/// ASCII digits alone (and not empty); another is ignored.
bool sse_retry_value(std::string_view value);

}  // namespace twin::traffic
