// The comparator's reader of server-sent events (tape.h: Doc::parse_event_stream), on
// twin/traffic/sse.h's line reader: the events a client's EventSource dispatches, interpreted
// as the WHATWG HTML standard says ("Interpreting an event stream"), so that what a serializer
// chooses and a client does not see is no difference: comments (keep-alives), a space after the
// colon or not, CRLF against LF, data split over several lines against one, `event: message`
// against no event type, an id repeated on every event against one set once.

#include <algorithm>
#include <climits>

#include "tape.h"
#include "twin/traffic/sse.h"

namespace twin::compare::tape {
namespace {

// The names, once at the start of the arena: the keys' nodes and the default type point here.
constexpr std::string_view kNames = "eventidretrydatamessage";
constexpr uint32_t kEventAt = 0, kIdAt = 5, kRetryAt = 7, kDataAt = 12, kMessageAt = 16;

}  // namespace

bool Doc::parse_event_stream(std::string_view s) {
  reset(s);
  if (s.size() >= UINT32_MAX) return false;
  sse_text_.clear();
  sse_events_.clear();
  arena_.assign(kNames);
  // The standard's buffers: the data of the event being read (sse_text_ from data_begin), its
  // type, the last event id (sticky from one event to the next) and a retry time not yet on an
  // event.
  const auto copy = [&](std::string_view text, uint32_t& at, uint32_t& size) {
    at = static_cast<uint32_t>(arena_.size());
    size = static_cast<uint32_t>(text.size());
    arena_ += text;
  };
  bool has_data = false;
  size_t data_begin = 0;
  uint32_t type_at = kMessageAt, type_size = 7;
  uint32_t id_at = 0, id_size = 0;
  uint32_t retry_at = 0, retry_size = 0;
  traffic::SseReader reader(s);
  traffic::SseLine line;
  while (reader.next(line)) {
    if (line.kind == traffic::SseLine::Kind::kComment) continue;
    if (line.kind == traffic::SseLine::Kind::kBlank) {
      // Dispatch: an event with no data line is none (its type goes with it).
      if (has_data) {
        SseEvent e{type_at,
                   type_size,
                   id_at,
                   id_size,
                   retry_at,
                   retry_size,
                   static_cast<uint32_t>(data_begin),
                   static_cast<uint32_t>(sse_text_.size() - 1)};  // less the last LF
        sse_events_.push_back(e);
        retry_size = 0;
      }
      has_data = false;
      type_at = kMessageAt;
      type_size = 7;
      continue;
    }
    const std::string_view value = s.substr(line.value_begin, line.end - line.value_begin);
    if (line.name == "data") {
      if (!has_data) data_begin = sse_text_.size();
      has_data = true;
      sse_text_ += value;
      sse_text_ += '\n';
    } else if (line.name == "event") {
      if (value.empty()) {
        type_at = kMessageAt;
        type_size = 7;
      } else {
        copy(value, type_at, type_size);
      }
    } else if (line.name == "id") {
      if (value.find('\0') == std::string_view::npos) copy(value, id_at, id_size);
    } else if (line.name == "retry") {
      if (traffic::sse_retry_value(value)) {
        // A number: leading zeros are no part of it.
        const size_t digits = std::min(value.find_first_not_of('0'), value.size() - 1);
        copy(value.substr(digits), retry_at, retry_size);
      }
    }
  }
  if (arena_.size() >= UINT32_MAX || sse_text_.size() >= UINT32_MAX) return false;

  // The tape: an array of the events, each an object.
  src_ = sse_text_;
  nodes_.push_back({Kind::kArray, 0, static_cast<uint32_t>(sse_events_.size()), 0});
  const auto key = [&](uint32_t at, uint32_t size) {
    nodes_.push_back({Kind::kString, static_cast<uint8_t>(kInArena | kFieldKey), at, size});
  };
  for (const SseEvent& e : sse_events_) {
    const auto object = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back({Kind::kObject, 0, 2, 0});
    key(kEventAt, 5);
    nodes_.push_back({Kind::kString, kInArena, e.type_at, e.type_size});
    if (e.id_size != 0) {
      ++nodes_[object].a;
      key(kIdAt, 2);
      nodes_.push_back({Kind::kString, kInArena, e.id_at, e.id_size});
    }
    if (e.retry_size != 0) {
      ++nodes_[object].a;
      key(kRetryAt, 5);
      nodes_.push_back(
          {Kind::kNumber, static_cast<uint8_t>(kInArena | kInteger), e.retry_at, e.retry_size});
    }
    key(kDataAt, 4);
    // The data as JSON when it is an object or an array, whole (a number or a quoted string
    // stays text: `data: 42` and `data: "42"` are not the same to a client that parses neither).
    size_t p = e.data_begin;
    while (p < e.data_end && is_json_ws(sse_text_[p])) ++p;
    bool json = false;
    if (p < e.data_end && (sse_text_[p] == '{' || sse_text_[p] == '[')) {
      const size_t nodes = nodes_.size(), arena = arena_.size();
      src_ = std::string_view(sse_text_).substr(0, e.data_end);
      json = parse_value(p);
      while (json && p < e.data_end && is_json_ws(sse_text_[p])) ++p;
      json = json && p == e.data_end;
      src_ = sse_text_;
      if (!json) {
        nodes_.resize(nodes);
        arena_.resize(arena);
        open_.clear();
      }
    }
    if (!json) nodes_.push_back({Kind::kString, 0, e.data_begin, e.data_end - e.data_begin});
    nodes_[object].b = static_cast<uint32_t>(nodes_.size());
  }
  nodes_[0].b = static_cast<uint32_t>(nodes_.size());
  return nodes_.size() < UINT32_MAX && arena_.size() < UINT32_MAX;
}

}  // namespace twin::compare::tape
