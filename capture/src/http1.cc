#include "http1.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "twin/traffic/text.h"

namespace twin::capture {
namespace {

using traffic::ErrorKind;
using traffic::Framing;
using traffic::Headers;
using traffic::kNoTime;

constexpr size_t kMaxHold = size_t{1} << 20;  // client bytes held while an upgrade is pending
constexpr size_t kMaxHoldMarks = 4096;        // data() times remembered for held bytes
constexpr size_t kMaxChunkLine = 4096;        // chunk size line with its extensions
constexpr uint16_t kMaxMethod = 32;           // longest method token accepted
constexpr uint64_t kMaxChunkSize = uint64_t{1} << 62;
constexpr std::string_view kHttp1 = "HTTP/1.";

enum CheckResult : int { kMore = 0, kValid = 1, kInvalid = 2 };

using traffic::is_tchar;
// A byte of a request target: VCHAR or obs-text.
inline bool is_target_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// `a` equals `lower`, which is lowercase, ignoring ASCII case.
bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view v) {
  size_t b = 0;
  size_t e = v.size();
  while (b < e && (v[b] == ' ' || v[b] == '\t')) ++b;
  while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t')) --e;
  return v.substr(b, e - b);
}

// Calls f(element) for each element of a comma-separated list, trimmed; stops when f says so.
template <typename F>
void for_each_list_element(std::string_view v, F&& f) {
  while (true) {
    const size_t comma = v.find(',');
    if (!f(trim_ows(v.substr(0, comma)))) return;
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// Content-Length: 1*DIGIT, or a list of identical values ("42, 42", RFC 9110 8.6). Values of
// 10^18 or more are refused so that no arithmetic on them can overflow.
enum class ClParse { kOk, kBad, kConflict };
ClParse parse_content_length(std::string_view v, uint64_t& out) {
  bool any = false;
  bool bad = false;
  bool conflict = false;
  for_each_list_element(v, [&](std::string_view e) {
    if (e.empty() || e.size() > 18) return !(bad = true);
    uint64_t x = 0;
    for (char c : e) {
      if (!is_digit(c)) return !(bad = true);
      x = x * 10 + static_cast<uint64_t>(c - '0');
    }
    if (any && x != out) return !(conflict = true);
    out = x;
    any = true;
    return true;
  });
  if (bad) return ClParse::kBad;
  return conflict ? ClParse::kConflict : ClParse::kOk;
}

// Whether the last transfer coding of a Transfer-Encoding value is chunked.
bool ends_chunked(std::string_view v) {
  std::string_view last;
  for_each_list_element(v, [&](std::string_view e) {
    if (!e.empty()) last = e;
    return true;
  });
  last = trim_ows(last.substr(0, last.find(';')));
  return iequals(last, "chunked");
}

constexpr std::array<std::string_view, 9> kMethods = {
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"};

// While resynchronising, skipped bytes may be glued to a method ("helloGET"): a token that is
// not a known method but ends with one is cut to it.
std::string_view unglue_method(std::string_view token) {
  for (std::string_view m : kMethods) {
    if (token == m) return token;
  }
  for (std::string_view m : kMethods) {
    if (token.size() > m.size() && token.substr(token.size() - m.size()) == m) {
      return token.substr(token.size() - m.size());
    }
  }
  return token;
}

bool has_token(std::string_view v, std::string_view lower_token) {
  bool found = false;
  for_each_list_element(v, [&](std::string_view e) {
    found = iequals(e, lower_token);
    return !found;
  });
  return found;
}

// The authority of an absolute-form target ("http://user@host:8080/p" -> "host:8080"), or "".
std::string_view absolute_authority(std::string_view target) {
  const size_t colon = target.find("://");
  if (colon == std::string_view::npos || colon == 0) return {};
  for (size_t i = 0; i < colon; ++i) {
    const char c = target[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && (i == 0 || !(is_digit(c) || c == '+' || c == '-' || c == '.'))) return {};
  }
  std::string_view rest = target.substr(colon + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  return rest;
}

// Finds the blank line that ends a header or trailer section in [p, p + n), continuing the
// line being scanned (`len` bytes so far, capped at 2; `cr`: they are exactly "\r"). Returns
// the offset just past it, or npos (and updates the state).
size_t find_blank_line(uint8_t& len, bool& cr, const char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const void* hit = std::memchr(p + i, '\n', n - i);
    if (hit == nullptr) {
      const size_t seg = n - i;
      cr = len == 0 && seg == 1 && p[i] == '\r';
      len = static_cast<uint8_t>(std::min<size_t>(len + seg, 2));
      return std::string_view::npos;
    }
    const size_t j = static_cast<size_t>(static_cast<const char*>(hit) - p);
    const size_t seg = j - i;
    const size_t total = len + seg;
    const bool empty = total == 0 || (total == 1 && (seg == 1 ? p[i] == '\r' : cr));
    len = 0;
    cr = false;
    if (empty) return j + 1;
    i = j + 1;
  }
  return std::string_view::npos;
}

}  // namespace

struct Http1Analyzer::HeadInfo {
  uint64_t content_length = 0;
  bool has_cl = false;
  bool bad_cl = false;
  bool has_te = false;
  bool chunked = false;
  bool upgrade = false;
  bool h2c = false;
  int host = -1;
  int settings = -1;
};

// How a message that could not be finished is written out (gap, FIN/RST, finish).
struct Http1Analyzer::Cut {
  ErrorKind error;
  uint32_t flags;
};

Http1Analyzer::Http1Analyzer(AnalyzerContext context) : context_(std::move(context)) {
  req_.request = true;
  resp_.request = false;
  resp_.truncated_flag = traffic::kFlagResponseBodyTruncated;
  req_.truncated_flag = traffic::kFlagRequestBodyTruncated;
  if (context_.midstream) {
    enter_resync(req_, true);
    enter_resync(resp_, true);
  }
}

Http1Analyzer::~Http1Analyzer() = default;

size_t Http1Analyzer::buffered() const {
  return req_.buf.size() + resp_.buf.size() + (hold_buf_.size() - hold_pos_) + stored_ +
         upgrade_.rest_to_server.size() + upgrade_.rest_to_client.size();
}

H2cUpgrade Http1Analyzer::take_upgrade() {
  H2cUpgrade out = std::move(upgrade_);
  upgrade_ = H2cUpgrade{};
  return out;
}

// ---------------------------------------------------------------------------------------------
// Entry points

void Http1Analyzer::data(Direction dir, std::string_view bytes, int64_t time) {
  if (state_ != State::kActive || finished_ || bytes.empty()) return;
  Side& s = side(dir);
  if (s.ended) {
    if (!s.late_data) context_.counters.anomaly("http1.data_after_end");  // once, not per call
    s.late_data = true;
    return;
  }
  feed(s, bytes.data(), bytes.data() + bytes.size(), time);
}

void Http1Analyzer::gap(Direction dir, uint64_t length, int64_t time) {
  if (state_ != State::kActive || finished_) return;
  Side& s = side(dir);
  if (s.ended) return;
  had_gap_ = true;
  // Held bytes cannot be handed to HTTP/2 with a hole after them: parse them as HTTP/1.
  while (s.request && s.mode == Mode::kHold) release_hold(true);
  if (state_ != State::kActive) return;
  const bool resp = !s.request;
  switch (s.mode) {
    case Mode::kStart:
      enter_resync(s, true);
      break;
    case Mode::kResync:
      s.boundary = true;
      break;
    case Mode::kHead:
      partial_head(s, ErrorKind::kNone, traffic::kFlagGap, s.last_time);
      enter_resync(s, true);
      break;
    case Mode::kBody:
      if (s.body_kind == BodyKind::kClose) {
        skip_body(s, length);
        return;
      }
      if ((s.body_kind == BodyKind::kLength || s.body_kind == BodyKind::kChunkData) &&
          length <= s.remaining) {
        skip_body(s, length);
        s.remaining -= length;
        if (s.remaining == 0) {
          if (s.body_kind == BodyKind::kLength) {
            message_done(s, time);
          } else {
            s.body_kind = BodyKind::kChunkDataEnd;
            s.chunk_cr = false;
          }
        }
        return;
      }
      flag_gap(s);
      message_done(s, time);
      enter_resync(s, true);
      break;
    case Mode::kTrailers:
      flag_gap(s);
      message_done(s, time);
      enter_resync(s, true);
      break;
    case Mode::kTunnel:
      // An h2c hand-over waiting for the request's end cannot carry a hole.
      context_.counters.anomaly("http1.upgrade_gap");
      if (h2c_entry_ != nullptr) {
        h2c_entry_->ex.flags |= traffic::kFlagGap;
        h2c_entry_->hold_broken = true;
        switch_protocols(resp_, h2c_entry_, time);
      }
      return;
    case Mode::kHold:
    case Mode::kIgnore:
      return;
  }
  if (resp) {
    resp_after_gap_ = true;
    resp_gap_time_ = time;
  }
}

void Http1Analyzer::end(Direction dir, bool reset, int64_t /*time*/) {
  if (state_ != State::kActive || finished_) return;
  Side& s = side(dir);
  if (s.ended) return;
  if (s.request && s.mode == Mode::kHold) {
    // Applied when the held bytes are released (or dropped at an h2c hand-over).
    s.ended = true;
    hold_end_ = true;
    hold_end_reset_ = reset;
    return;
  }
  end_side(s, reset);
}

void Http1Analyzer::end_side(Side& s, bool reset) {
  if (!s.request && s.mode == Mode::kBody && s.body_kind == BodyKind::kClose) {
    // The close delimits the body: FIN completes it, RST cuts it.
    if (reset && s.entry != nullptr) s.entry->ex.error = ErrorKind::kReset;
    response_complete(s, s.last_time);
  } else if (s.mode != Mode::kTunnel) {
    cut_side(s, reset ? ErrorKind::kReset : ErrorKind::kTruncated);
  }
  if (!s.request && reset) server_reset_ = true;
  s.ended = true;
  if (s.mode != Mode::kTunnel) s.mode = Mode::kIgnore;
}

void Http1Analyzer::finish(int64_t time, bool end_of_capture) {
  if (finished_) return;
  finished_ = true;
  if (state_ != State::kActive) return;
  const ErrorKind cut = end_of_capture ? ErrorKind::kCancelled : ErrorKind::kTruncated;
  while (req_.mode == Mode::kHold && hold_pos_ < hold_buf_.size() && state_ == State::kActive) {
    release_hold(true);
  }
  if (state_ != State::kActive) return;
  if (req_.mode == Mode::kHold) {
    hold_entry_ = nullptr;
    req_.mode = Mode::kStart;
  }
  if (h2c_entry_ != nullptr) {
    // Switched to h2c, but the request never ended: write it out as a switch.
    Entry& e = *h2c_entry_;
    h2c_entry_ = nullptr;
    e.ex.flags |= traffic::kFlagUpgrade | traffic::kFlagNoResponse;
    if (e.ex.error == ErrorKind::kNone) e.ex.error = cut;
    e.request_done = e.answered = e.response_done = true;
    if (req_.entry == &e) {
      req_.entry = nullptr;
      req_.body = nullptr;
      e.ex.time.request_end = req_.last_time;
    }
    req_.mode = resp_.mode = Mode::kIgnore;
  }
  if (!req_.ended) cut_side(req_, cut);
  if (!resp_.ended) {
    if (resp_.mode == Mode::kBody && resp_.body_kind == BodyKind::kClose && resp_.entry) {
      resp_.entry->ex.error = cut;
      response_complete(resp_, resp_.last_time);
    } else {
      cut_side(resp_, cut);
    }
  }
  req_.mode = resp_.mode = Mode::kIgnore;
  for (Entry& e : pending_) {
    if (e.response_done) continue;
    if (!e.answered) {
      e.ex.flags |= traffic::kFlagNoResponse;
      if (resp_after_gap_ && e.ex.time.request_start <= resp_gap_time_) {
        e.ex.flags |= traffic::kFlagGap;
      }
      if (e.ex.error == ErrorKind::kNone) {
        if (end_of_capture) {
          e.ex.error = ErrorKind::kCancelled;
        } else if (server_reset_) {
          e.ex.error = ErrorKind::kReset;
        }
      }
    }
    e.answered = e.response_done = true;
    if (!e.request_done) {
      e.request_done = true;
      if (e.ex.error == ErrorKind::kNone) e.ex.error = cut;
    }
  }
  (void)time;
  try_emit();
}

// ---------------------------------------------------------------------------------------------
// The byte loop

const char* Http1Analyzer::feed(Side& s, const char* p, const char* end, int64_t time) {
  s.last_time = time;
  while (p < end) {
    switch (s.mode) {
      case Mode::kStart:
        p = on_start(s, p, end, time);
        break;
      case Mode::kHead:
        p = on_head(s, p, end, time);
        break;
      case Mode::kBody:
        p = on_body(s, p, end, time);
        break;
      case Mode::kTrailers:
        p = on_trailers(s, p, end, time);
        break;
      case Mode::kResync:
        p = on_resync(s, p, end, time);
        break;
      case Mode::kHold:
        if (releasing_) return p;  // the rest stays held
        p = on_hold(p, end, time);
        break;
      case Mode::kTunnel:
        p = on_tunnel(s, p, end, time);
        break;
      case Mode::kIgnore:
        return end;
    }
  }
  return p;
}

const char* Http1Analyzer::on_start(Side& s, const char* p, const char* end, int64_t time) {
  // RFC 9112 2.2: blank lines before a request line are ignored (and tolerated elsewhere).
  while (p < end && (*p == '\r' || *p == '\n')) ++p;
  if (p < end) start_message(s, time);
  return p;
}

// Appends head bytes that span calls, remembering which call (time) they came with: a
// rejected candidate is scanned again with its bytes' own times.
void Http1Analyzer::append_head(Side& s, const char* p, const char* end, int64_t time) {
  if (p == end) return;
  if ((s.buf_marks.empty() || s.buf_marks.back().time != time) &&
      s.buf_marks.size() < kMaxHoldMarks) {
    s.buf_marks.push_back({s.buf.size(), time});
  }
  s.buf.append(p, static_cast<size_t>(end - p));
}

void Http1Analyzer::start_message(Side& s, int64_t time) {
  s.mode = Mode::kHead;
  s.checking = true;
  s.check = StartLineCheck{};
  s.scan = LineScan{};
  s.buf.clear();
  s.buf_marks.clear();
  s.start_time = time;
  if (s.request) any_request_bytes_ = true;
}

// Candidates are not only line starts: a skipped body seldom ends with a line break, and the
// next message follows its last byte directly. A status line may start at any 'H'; a request
// line at any token start (a tchar after a byte that is not one, or after the damage).
const char* Http1Analyzer::on_resync(Side& s, const char* p, const char* end, int64_t time) {
  if (!s.request) {
    while (p < end) {
      const void* hit = std::memchr(p, 'H', static_cast<size_t>(end - p));
      if (hit == nullptr) return end;
      p = static_cast<const char*>(hit);
      // Reject in place what is visibly not "HTTP/1.d ddd"; the check decides the rest.
      const size_t n = std::min<size_t>(static_cast<size_t>(end - p), kHttp1.size());
      if (std::string_view(p, n) != kHttp1.substr(0, n) ||
          (end - p > 12 && !(is_digit(p[7]) && p[8] == ' ' && is_digit(p[9]) && is_digit(p[10]) &&
                             is_digit(p[11])))) {
        ++p;
        continue;
      }
      start_message(s, time);
      return p;
    }
    return end;
  }
  while (p < end) {
    const bool t = is_tchar(*p);
    if (t && s.boundary) {
      start_message(s, time);
      return p;
    }
    s.boundary = !t;
    ++p;
  }
  return end;
}

void Http1Analyzer::enter_resync(Side& s, bool boundary) {
  if (state_ != State::kActive) return;  // handed over or given up meanwhile
  s.mode = Mode::kResync;
  s.resyncing = true;
  s.boundary = boundary;
  s.checking = false;
  s.buf_marks.clear();
  if (s.buf.capacity() > (64u << 10)) {
    std::string().swap(s.buf);
  } else {
    s.buf.clear();
  }
}

// Runs the start-line check over [p, end). Returns the position after the line's LF (kValid),
// the first byte that breaks the grammar (kInvalid), or end (kMore).
const char* Http1Analyzer::check_start_line(Side& s, const char* p, const char* end, int* result) {
  StartLineCheck& c = s.check;
  *result = kMore;
  if (s.request) {
    while (p < end) {
      const char ch = *p;
      switch (c.phase) {
        case 0:  // method
          if (is_tchar(ch)) {
            if (++c.count > kMaxMethod) return *result = kInvalid, p;
            if (c.count <= 4) c.method4 = (c.method4 << 8) | static_cast<unsigned char>(ch);
            ++p;
            continue;
          }
          if (ch != ' ' || c.count == 0) return *result = kInvalid, p;
          c.method_len = c.count;
          c.phase = 1;
          ++p;
          continue;
        case 1:  // first byte of the target
          if (!is_target_char(ch)) return *result = kInvalid, p;
          c.phase = 2;
          ++p;
          continue;
        case 2:  // the rest of the target
          while (p < end && is_target_char(*p)) ++p;
          if (p == end) return p;
          if (*p != ' ') return *result = kInvalid, p;
          c.phase = 3;
          c.count = 0;
          ++p;
          continue;
        case 3:  // "HTTP/1."
          if (ch != kHttp1[c.count]) return *result = kInvalid, p;
          if (++c.count == kHttp1.size()) c.phase = 4;
          ++p;
          continue;
        case 4:  // minor version
          if (!is_digit(ch)) return *result = kInvalid, p;
          c.phase = 5;
          ++p;
          continue;
        case 5:
          if (ch == '\r') {
            c.phase = 6;
            ++p;
            continue;
          }
          if (ch != '\n') return *result = kInvalid, p;
          return *result = kValid, p + 1;
        default:  // 6: LF after CR
          if (ch != '\n') return *result = kInvalid, p;
          return *result = kValid, p + 1;
      }
    }
    return p;
  }
  while (p < end) {
    const char ch = *p;
    switch (c.phase) {
      case 0:  // "HTTP/1."
        if (ch != kHttp1[c.count]) return *result = kInvalid, p;
        if (++c.count == kHttp1.size()) c.phase = 1;
        ++p;
        continue;
      case 1:  // minor version
        if (!is_digit(ch)) return *result = kInvalid, p;
        c.phase = 2;
        ++p;
        continue;
      case 2:
        if (ch != ' ') return *result = kInvalid, p;
        c.phase = 3;
        c.count = 0;
        ++p;
        continue;
      case 3:  // status code
        if (!is_digit(ch)) return *result = kInvalid, p;
        if (++c.count == 3) c.phase = 4;
        ++p;
        continue;
      case 4:
        if (ch == ' ') {
          c.phase = 5;
          ++p;
          continue;
        }
        if (ch == '\r') {
          c.phase = 6;
          ++p;
          continue;
        }
        if (ch != '\n') return *result = kInvalid, p;
        return *result = kValid, p + 1;
      case 5: {  // reason phrase: anything up to LF
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (nl == nullptr) return end;
        return *result = kValid, static_cast<const char*>(nl) + 1;
      }
      default:  // 6: LF after CR
        if (ch != '\n') return *result = kInvalid, p;
        return *result = kValid, p + 1;
    }
  }
  return p;
}

const char* Http1Analyzer::on_head(Side& s, const char* p, const char* end, int64_t time) {
  // At least one byte, so that a rejected head always moves the parse forward.
  const size_t max = std::max<size_t>(context_.options.max_header_bytes, 1);
  // The head may not grow past max bytes from its start: the same decision at the same byte
  // whatever the split.
  const size_t room = max - std::min(max, s.buf.size());
  const char* limit = static_cast<size_t>(end - p) > room ? p + room : end;
  const char* q = p;
  if (s.checking) {
    int result;
    const char* stop = check_start_line(s, p, limit, &result);
    if (result == kInvalid) return bad_start(s, p, stop);
    if (result == kMore) {
      if (limit < end) return head_too_long(s, p, limit);
      append_head(s, p, end, time);
      return end;
    }
    s.checking = false;
    s.scan = LineScan{};
    q = stop;
  }
  const size_t off = find_blank_line(s.scan.len, s.scan.cr, q, static_cast<size_t>(limit - q));
  if (off == std::string_view::npos) {
    if (limit < end) return head_too_long(s, p, limit);
    append_head(s, p, end, time);
    return end;
  }
  const char* head_end = q + off;
  std::string_view head;
  if (s.buf.empty()) {
    head = std::string_view(p, static_cast<size_t>(head_end - p));
  } else {
    s.buf.append(p, static_cast<size_t>(head_end - p));
    head = s.buf;
  }
  s.last_time = time;
  if (s.request) {
    request_head(s, head, time, nullptr);
  } else {
    response_head(s, head, time, nullptr);
  }
  s.buf.clear();
  return head_end;
}

// The start line that began at the head's start (in buf, then at p) broke the grammar at `at`.
const char* Http1Analyzer::bad_start(Side& s, const char* p, const char* at) {
  if (!context_.midstream && !had_gap_ && !s.resyncing) {
    if (s.request && !any_request_) {
      // The connection's first bytes are not HTTP/1.
      if (s.check.method4 == 0x505249 /* PRI */ && s.check.phase >= 3) {
        context_.counters.anomaly("http1.h2_prior_knowledge");
      } else {
        ++context_.counters.flows_not_http;
      }
      go_done();
      return at;
    }
    if (!s.request && !any_request_bytes_ && !any_response_) {
      // The server spoke first, and not HTTP/1 (SMTP, SSH, a database banner...).
      ++context_.counters.flows_not_http;
      go_done();
      return at;
    }
  }
  if (!s.resyncing) {
    context_.counters.anomaly(s.request ? "http1.bad_request_line" : "http1.bad_status_line");
    ++context_.counters.messages_skipped;
  }
  if (!s.request || s.check.phase == 0) {
    // No candidate starts inside what was checked: a status line has no 'H' after its first
    // byte before "HTTP/1.d ddd" is done, and a method token has no token start inside.
    enter_resync(s, !(s.request && s.check.count > 0));
    return at;
  }
  // A request line failed after its method: a token after the method may still start one
  // ("hello worldGET / HTTP/1.1"). Scan again from the byte after the method token.
  const size_t skip = s.check.method_len;
  std::string held;
  held.swap(s.buf);
  std::vector<HoldMark> marks;
  marks.swap(s.buf_marks);
  enter_resync(s, false);
  if (skip >= held.size()) return p + (skip - held.size());
  const int64_t last = s.last_time;
  for (size_t i = 0; i < marks.size() && state_ == State::kActive; ++i) {
    const size_t from = std::max(marks[i].offset, skip);
    const size_t to = i + 1 < marks.size() ? marks[i + 1].offset : held.size();
    if (from < to) feed(s, held.data() + from, held.data() + to, marks[i].time);
  }
  s.last_time = last;
  return p;
}

// The head passed max_header_bytes at `at` (its first max bytes are [buf, p..at)). With a
// valid start line it is written out as far as its complete lines go, with kProtocol, so that
// pairing stays in step (the peer answers it, often with 431); then the direction resyncs.
const char* Http1Analyzer::head_too_long(Side& s, const char* p, const char* at) {
  if (!s.checking || !s.resyncing) context_.counters.anomaly("http1.header_too_long");
  append_head(s, p, at, s.last_time);
  partial_head(s, ErrorKind::kProtocol, 0, s.last_time);
  enter_resync(s, false);
  return at;
}

// ---------------------------------------------------------------------------------------------
// Header sections

void Http1Analyzer::parse_fields(std::string_view text, Headers& out, HeadInfo& info,
                                 bool& bare_lf) {
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const void* hit = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (hit == nullptr) break;  // a partial section ends at its last complete line
    const char* nl = static_cast<const char*>(hit);
    const char* le = nl;
    if (le > p && le[-1] == '\r') {
      --le;
    } else {
      bare_lf = true;
    }
    const char* line = p;
    p = nl + 1;
    if (le == line) break;  // the blank line
    if (*line == ' ' || *line == '\t') {
      // obs-fold (RFC 9112 5.2): the value continues; join with one SP.
      context_.counters.anomaly("http1.obs_fold");
      const std::string_view more =
          trim_ows(std::string_view(line, static_cast<size_t>(le - line)));
      if (out.empty()) {
        context_.counters.anomaly("http1.bad_header_line");
      } else if (!more.empty()) {
        std::string& v = out.back().value;
        if (!v.empty()) v += ' ';
        v.append(more);
      }
      continue;
    }
    const void* chit = std::memchr(line, ':', static_cast<size_t>(le - line));
    const char* colon = static_cast<const char*>(chit);
    const char* ne = colon;
    if (colon != nullptr) {
      while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t')) --ne;
    }
    if (colon == nullptr || ne == line) {
      context_.counters.anomaly("http1.bad_header_line");
      continue;
    }
    if (ne != colon) context_.counters.anomaly("http1.space_before_colon");
    const std::string_view name(line, static_cast<size_t>(ne - line));
    const std::string_view value =
        trim_ows(std::string_view(colon + 1, static_cast<size_t>(le - colon - 1)));
    const int index = static_cast<int>(out.size());
    traffic::Header& h = out.emplace_back();
    h.name.assign(name);
    h.value.assign(value);
    switch (name.size()) {
      case 4:
        if (info.host < 0 && iequals(name, "host")) info.host = index;
        break;
      case 7:
        if (iequals(name, "upgrade")) {
          info.upgrade = true;
          if (has_token(value, "h2c")) info.h2c = true;
        }
        break;
      case 14:
        if (iequals(name, "content-length")) {
          uint64_t v = 0;
          const ClParse r = parse_content_length(value, v);
          if (r == ClParse::kBad) {
            context_.counters.anomaly("http1.bad_content_length");
            info.bad_cl = true;
          } else if (r == ClParse::kConflict || (info.has_cl && v != info.content_length)) {
            context_.counters.anomaly("http1.conflicting_content_length");
            info.bad_cl = true;
          } else {
            info.has_cl = true;
            info.content_length = v;
          }
        } else if (info.settings < 0 && iequals(name, "http2-settings")) {
          info.settings = index;
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding") && !value.empty()) {
          info.has_te = true;
          info.chunked = ends_chunked(value);
        }
        break;
      default:
        break;
    }
  }
}

Http1Analyzer::Entry& Http1Analyzer::new_entry() {
  Entry& e = pending_.emplace_back();
  e.ex.seq = next_seq_++;
  if (context_.midstream) e.ex.flags |= traffic::kFlagMidstream;
  return e;
}

void Http1Analyzer::request_head(Side& s, std::string_view head, int64_t time, const Cut* cut) {
  // The start line was validated: METHOD SP target SP HTTP/1.d [CR] LF.
  const size_t nl = head.find('\n');
  std::string_view line = head.substr(0, nl);
  bool bare_lf = false;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  } else {
    bare_lf = true;
  }
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  std::string_view method = line.substr(0, sp1);
  if (s.resyncing) method = unglue_method(method);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const char minor = line.back();

  Entry& e = new_entry();
  traffic::Request& rq = e.ex.request;
  rq.method.assign(method);
  rq.target.assign(target);
  if (minor == '0') {
    e.ex.protocol = traffic::Protocol::kHttp10;
  } else {
    e.ex.protocol = traffic::Protocol::kHttp11;
    if (minor != '1') context_.counters.anomaly("http1.unknown_version");
  }
  rq.headers.reserve(16);
  HeadInfo info;
  parse_fields(head.substr(nl + 1), rq.headers, info, bare_lf);
  if (bare_lf) context_.counters.anomaly("http1.bare_lf");
  if (info.host >= 0) {
    rq.authority = rq.headers[static_cast<size_t>(info.host)].value;
  } else if (const std::string_view a = absolute_authority(target); !a.empty()) {
    rq.authority.assign(a);
  } else if (method == "CONNECT") {
    rq.authority.assign(target);
  }
  e.is_head = method == "HEAD";
  e.is_connect = method == "CONNECT";
  e.wants_upgrade = info.upgrade;
  e.h2c = info.h2c;
  if (info.settings >= 0) e.http2_settings = rq.headers[static_cast<size_t>(info.settings)].value;
  e.ex.time.request_start = s.start_time;
  e.stored = head.size();
  stored_ += e.stored;
  any_request_ = true;
  s.resyncing = false;
  s.entry = &e;

  // More than max_pending unanswered: the oldest goes out without its response, which is
  // then owed (skipped when it comes) so that pairing stays in step.
  const size_t max_pending = std::max<size_t>(context_.options.max_pending, 1);
  if (pending_.size() > max_pending && !pending_.front().answered) {
    context_.counters.anomaly("http1.too_many_pending");
    Entry& old = pending_.front();
    old.ex.flags |= traffic::kFlagNoResponse;
    old.answered = old.response_done = true;
    ++owed_;
    try_emit();
  }

  if (cut != nullptr) {
    e.ex.flags |= cut->flags;
    if (cut->error != ErrorKind::kNone) e.ex.error = cut->error;
    request_complete(s, e, time, false);
    return;
  }
  if (info.has_te) {
    if (info.has_cl || info.bad_cl) {
      context_.counters.anomaly("http1.content_length_with_transfer_encoding");
    }
    if (info.chunked) {
      rq.framing = Framing::kChunked;
      begin_body(s, BodyKind::kChunkSize, 0);
      return;
    }
    context_.counters.anomaly("http1.bad_transfer_encoding");
    e.ex.error = ErrorKind::kProtocol;
    request_complete(s, e, time, false);
    enter_resync(s, true);
    return;
  }
  if (info.bad_cl) {
    e.ex.error = ErrorKind::kProtocol;
    request_complete(s, e, time, false);
    enter_resync(s, true);
    return;
  }
  if (info.has_cl) {
    rq.framing = Framing::kContentLength;
    if (info.content_length > 0) {
      begin_body(s, BodyKind::kLength, info.content_length);
      return;
    }
  }
  request_complete(s, e, time, true);
}

void Http1Analyzer::response_head(Side& s, std::string_view head, int64_t time, const Cut* cut) {
  // The start line was validated: HTTP/1.d SP 3DIGIT [SP reason] [CR] LF.
  const size_t nl = head.find('\n');
  std::string_view line = head.substr(0, nl);
  bool bare_lf = false;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  } else {
    bare_lf = true;
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  const std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view();
  any_response_ = true;
  s.resyncing = false;
  if (status / 100 == 1 && status != 101) {
    // Interim (100 Continue, 102, 103): not the final response; it has no body.
    if (cut == nullptr) s.mode = Mode::kStart;
    return;
  }
  const bool was_after_gap = resp_after_gap_;
  bool owed = false;
  Entry* e = pair_response(s.start_time, &owed);
  HeadInfo info;
  if (e == nullptr) {
    // Nothing (left) to answer: skip it, parsing it through to stay in step.
    ++context_.counters.messages_skipped;
    if (!owed && !context_.midstream && !had_gap_ && !was_after_gap) {
      context_.counters.anomaly("http1.unpaired_response");
    }
    scratch_headers_.clear();
    parse_fields(head.substr(nl + 1), scratch_headers_, info, bare_lf);
    if (bare_lf) context_.counters.anomaly("http1.bare_lf");
    s.entry = nullptr;
    if (cut != nullptr) return;
    if (status == 101) {
      context_.counters.anomaly("http1.unexpected_switch");
      go_done();
      return;
    }
  } else {
    e->answered = true;
    traffic::Response& r = e->ex.response.emplace();
    r.status = status;
    r.reason.assign(reason);
    r.headers.reserve(16);
    parse_fields(head.substr(nl + 1), r.headers, info, bare_lf);
    if (bare_lf) context_.counters.anomaly("http1.bare_lf");
    e->ex.time.response_start = s.start_time;
    e->stored += head.size();
    stored_ += head.size();
    s.entry = e;
    if (cut != nullptr) {
      e->ex.flags |= cut->flags;
      if (cut->error != ErrorKind::kNone) e->ex.error = cut->error;
      e->hold_broken = true;  // a cut switch is not handed over as h2c
    }
    // A final response decides a pending upgrade, even when it was cut.
    if (status == 101 || (e->is_connect && status / 100 == 2)) {
      switch_protocols(s, e, time);
      return;
    }
    if (e->wants_upgrade || e->is_connect) {
      // Declined: the client's held bytes are HTTP/1 after all.
      if (hold_entry_ == e && req_.mode == Mode::kHold) release_hold(false);
      if (state_ != State::kActive) return;
    }
    if (cut != nullptr) {
      response_complete(s, time);
      return;
    }
  }
  traffic::Response* r = e != nullptr ? &*e->ex.response : nullptr;
  auto set_framing = [&](Framing f) {
    if (r != nullptr) r->framing = f;
  };
  if ((e != nullptr && e->is_head) || status == 204 || status == 304) {
    response_complete(s, time);
    return;
  }
  if (info.has_te) {
    if (info.has_cl || info.bad_cl) {
      context_.counters.anomaly("http1.content_length_with_transfer_encoding");
    }
    if (info.chunked) {
      set_framing(Framing::kChunked);
      begin_body(s, BodyKind::kChunkSize, 0);
    } else {
      set_framing(Framing::kClose);
      begin_body(s, BodyKind::kClose, 0);
    }
    return;
  }
  if (info.bad_cl) {
    if (e != nullptr) e->ex.error = ErrorKind::kProtocol;
    response_complete(s, time);
    enter_resync(s, true);
    return;
  }
  if (info.has_cl) {
    set_framing(Framing::kContentLength);
    if (info.content_length == 0) {
      response_complete(s, time);
    } else {
      begin_body(s, BodyKind::kLength, info.content_length);
    }
    return;
  }
  set_framing(Framing::kClose);
  begin_body(s, BodyKind::kClose, 0);
}

// ---------------------------------------------------------------------------------------------
// Bodies

void Http1Analyzer::begin_body(Side& s, BodyKind kind, uint64_t length) {
  s.mode = Mode::kBody;
  s.body_kind = kind;
  s.remaining = length;
  s.body_gap = false;
  s.truncated = false;
  s.chunk_cr = false;
  s.buf.clear();
  if (s.entry == nullptr) {
    s.body = nullptr;
    s.body_size = nullptr;
    s.headers = nullptr;
    return;
  }
  if (s.request) {
    traffic::Request& rq = s.entry->ex.request;
    s.body = &rq.body;
    s.body_size = &rq.body_size;
    s.headers = &rq.headers;
  } else {
    traffic::Response& r = *s.entry->ex.response;
    s.body = &r.body;
    s.body_size = &r.body_size;
    s.headers = &r.headers;
  }
  if (kind == BodyKind::kLength) {
    s.body->reserve(static_cast<size_t>(std::min<uint64_t>(length, context_.options.max_body)));
  }
}

void Http1Analyzer::deliver(Side& s, const char* p, size_t n) {
  if (s.body == nullptr) return;
  *s.body_size += n;
  if (!s.body_gap) {
    const size_t have = s.body->size();
    const size_t max = context_.options.max_body;
    if (have < max) {
      const size_t k = std::min(n, max - have);
      s.body->append(p, k);
      s.entry->stored += k;
      stored_ += k;
    }
  }
  if (!s.truncated && *s.body_size > context_.options.max_body) {
    s.truncated = true;
    s.entry->ex.flags |= s.truncated_flag;
    ++context_.counters.bodies_truncated;
  }
}

void Http1Analyzer::skip_body(Side& s, uint64_t n) {
  if (s.body == nullptr) return;
  s.body_gap = true;
  s.entry->ex.flags |= traffic::kFlagGap;
  *s.body_size += n;
  if (!s.truncated && *s.body_size > context_.options.max_body) {
    s.truncated = true;
    s.entry->ex.flags |= s.truncated_flag;
    ++context_.counters.bodies_truncated;
  }
}

void Http1Analyzer::flag_gap(Side& s) {
  if (s.entry != nullptr) s.entry->ex.flags |= traffic::kFlagGap;
}

const char* Http1Analyzer::on_body(Side& s, const char* p, const char* end, int64_t time) {
  switch (s.body_kind) {
    case BodyKind::kLength:
    case BodyKind::kChunkData: {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(s.remaining, static_cast<uint64_t>(end - p)));
      deliver(s, p, n);
      s.remaining -= n;
      p += n;
      if (s.remaining == 0) {
        if (s.body_kind == BodyKind::kLength) {
          message_done(s, time);
        } else {
          s.body_kind = BodyKind::kChunkDataEnd;
          s.chunk_cr = false;
        }
      }
      return p;
    }
    case BodyKind::kClose:
      deliver(s, p, static_cast<size_t>(end - p));
      return end;
    case BodyKind::kChunkDataEnd:
      if (*p == '\r' && !s.chunk_cr) {
        s.chunk_cr = true;
        return p + 1;
      }
      if (*p == '\n') {
        if (!s.chunk_cr) context_.counters.anomaly("http1.bare_lf");
        s.body_kind = BodyKind::kChunkSize;
        return p + 1;
      }
      framing_lost(s, "http1.bad_chunk_end", time);
      s.boundary = false;
      return p;
    case BodyKind::kChunkSize:
      return on_chunk_size(s, p, end, time);
  }
  return end;
}

const char* Http1Analyzer::on_chunk_size(Side& s, const char* p, const char* end, int64_t time) {
  const size_t room = kMaxChunkLine - std::min(kMaxChunkLine, s.buf.size());
  const void* hit = std::memchr(p, '\n', static_cast<size_t>(end - p));
  if (hit == nullptr) {
    if (static_cast<size_t>(end - p) > room) {
      framing_lost(s, "http1.chunk_line_too_long", time);
      s.boundary = false;
      return p + room;
    }
    s.buf.append(p, static_cast<size_t>(end - p));
    return end;
  }
  const char* nl = static_cast<const char*>(hit);
  const size_t len = static_cast<size_t>(nl - p);
  if (len + 1 > room) {
    framing_lost(s, "http1.chunk_line_too_long", time);
    s.boundary = false;
    return p + room;
  }
  std::string_view line;
  if (s.buf.empty()) {
    line = std::string_view(p, len);
  } else {
    s.buf.append(p, len);
    line = s.buf;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  } else {
    context_.counters.anomaly("http1.bare_lf");
  }
  uint64_t size = 0;
  size_t i = 0;
  bool ok = true;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      break;
    }
    size = size * 16 + static_cast<uint64_t>(d);
    if (size >= kMaxChunkSize) {
      ok = false;
      break;
    }
  }
  if (ok && i == 0) ok = false;
  if (ok) {
    // chunk-ext: BWS ";" ... (ignored), or nothing.
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    ok = i == line.size() || line[i] == ';';
  }
  s.buf.clear();
  if (!ok) {
    framing_lost(s, "http1.bad_chunk_size", time);
    s.boundary = true;
    return nl + 1;
  }
  if (size == 0) {
    s.mode = Mode::kTrailers;
    s.scan = LineScan{};
  } else {
    s.remaining = size;
    s.body_kind = BodyKind::kChunkData;
  }
  return nl + 1;
}

const char* Http1Analyzer::on_trailers(Side& s, const char* p, const char* end, int64_t time) {
  // At least one byte, so that a rejected head always moves the parse forward.
  const size_t max = std::max<size_t>(context_.options.max_header_bytes, 1);
  const size_t room = max - std::min(max, s.buf.size());
  const size_t n = std::min(static_cast<size_t>(end - p), room);
  const size_t off = find_blank_line(s.scan.len, s.scan.cr, p, n);
  if (off == std::string_view::npos) {
    if (static_cast<size_t>(end - p) > room) {
      framing_lost(s, "http1.trailers_too_long", time);
      s.boundary = false;
      return p + room;
    }
    s.buf.append(p, static_cast<size_t>(end - p));
    return end;
  }
  std::string_view section;
  if (s.buf.empty()) {
    section = std::string_view(p, off);
  } else {
    s.buf.append(p, off);
    section = s.buf;
  }
  HeadInfo info;
  bool bare_lf = false;
  if (s.headers != nullptr) {
    const size_t before = s.headers->size();
    parse_fields(section, *s.headers, info, bare_lf);
    for (size_t i = before; i < s.headers->size(); ++i) {
      const size_t k = (*s.headers)[i].name.size() + (*s.headers)[i].value.size();
      s.entry->stored += k;
      stored_ += k;
    }
  } else {
    scratch_headers_.clear();
    parse_fields(section, scratch_headers_, info, bare_lf);
  }
  if (bare_lf) context_.counters.anomaly("http1.bare_lf");
  s.buf.clear();
  message_done(s, time);
  return p + off;
}

void Http1Analyzer::message_done(Side& s, int64_t time) {
  if (s.request) {
    Entry* e = s.entry;
    if (e == nullptr) {
      s.mode = Mode::kStart;
      return;
    }
    request_complete(s, *e, time, true);
  } else {
    response_complete(s, time);
  }
}

// The framing of the body in progress is lost: finish the message with kProtocol and
// resynchronise (the caller positions boundary).
void Http1Analyzer::framing_lost(Side& s, std::string_view anomaly, int64_t time) {
  context_.counters.anomaly(anomaly);
  if (s.entry != nullptr && s.entry->ex.error == ErrorKind::kNone) {
    s.entry->ex.error = ErrorKind::kProtocol;
  }
  if (s.request && s.entry != nullptr) {
    request_complete(s, *s.entry, time, false);
  } else if (!s.request) {
    response_complete(s, time);
  }
  enter_resync(s, false);
}

void Http1Analyzer::request_complete(Side& s, Entry& e, int64_t time, bool may_hold) {
  e.ex.time.request_end = time;
  e.request_done = true;
  s.entry = nullptr;
  s.body = nullptr;
  s.body_size = nullptr;
  s.headers = nullptr;
  s.mode = Mode::kStart;
  if (&e == h2c_entry_) {
    finalize_h2c();
    return;
  }
  if (may_hold && (e.wants_upgrade || e.is_connect) && !e.answered) {
    // Until its response decides, what follows may be another protocol.
    s.mode = Mode::kHold;
    hold_entry_ = &e;
  }
  try_emit();
}

void Http1Analyzer::response_complete(Side& s, int64_t time) {
  Entry* e = s.entry;
  s.entry = nullptr;
  s.body = nullptr;
  s.body_size = nullptr;
  s.headers = nullptr;
  s.mode = Mode::kStart;
  if (e == nullptr) return;
  e->ex.time.response_end = time;
  e->response_done = true;
  try_emit();
}

// A head cut short (gap, FIN/RST, finish): written out from its start line and its complete
// header lines, without body.
void Http1Analyzer::partial_head(Side& s, ErrorKind error, uint32_t flags, int64_t time) {
  if (s.mode != Mode::kHead) return;
  if (s.checking) {
    if (!s.resyncing) ++context_.counters.messages_skipped;
    s.buf.clear();
    s.mode = Mode::kStart;
    return;
  }
  std::string head;
  head.swap(s.buf);
  head.resize(head.rfind('\n') + 1);  // the start line is complete: there is a LF
  const Cut cut{error, flags};
  if (s.request) {
    request_head(s, head, time, &cut);
  } else {
    response_head(s, head, time, &cut);
  }
  if (state_ == State::kActive) s.mode = Mode::kStart;
  head.clear();
  if (s.buf.empty()) s.buf.swap(head);  // keep the capacity
}

void Http1Analyzer::cut_side(Side& s, ErrorKind error) {
  switch (s.mode) {
    case Mode::kHead:
      partial_head(s, error, 0, s.last_time);
      break;
    case Mode::kBody:
    case Mode::kTrailers:
      if (s.entry != nullptr && s.entry->ex.error == ErrorKind::kNone) s.entry->ex.error = error;
      if (s.request) {
        if (s.entry != nullptr) request_complete(s, *s.entry, s.last_time, false);
      } else {
        response_complete(s, s.last_time);
      }
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Pairing and emission

Http1Analyzer::Entry* Http1Analyzer::pair_response(int64_t start, bool* owed) {
  if (owed_ > 0) {
    --owed_;
    *owed = true;
    return nullptr;
  }
  size_t i = 0;
  while (i < pending_.size() && pending_[i].answered) ++i;
  if (i == pending_.size()) return nullptr;
  Entry* e = &pending_[i];
  if (e->ex.time.request_start > start) return nullptr;  // answers a request never seen
  if (resp_after_gap_) {
    resp_after_gap_ = false;
    if (!pipelined_) {
      // Responses may have been lost with the gap: answer the newest request that started
      // before this response, and write out the older ones without response.
      size_t k = i;
      while (k + 1 < pending_.size() && pending_[k + 1].ex.time.request_start <= start) ++k;
      for (size_t j = i; j < k; ++j) {
        Entry& lost = pending_[j];
        lost.ex.flags |= traffic::kFlagNoResponse | traffic::kFlagGap;
        lost.answered = lost.response_done = true;
      }
      e = &pending_[k];
      try_emit();
    }
  } else if (i + 1 < pending_.size() && pending_[i + 1].ex.time.request_start <= start) {
    pipelined_ = true;
  }
  return e;
}

void Http1Analyzer::try_emit() {
  while (!pending_.empty() && pending_.front().request_done && pending_.front().response_done) {
    emit_front();
  }
}

void Http1Analyzer::emit_front() {
  Entry& e = pending_.front();
  // Never left pointing at a written-out entry (the paths that finish them clear these).
  if (hold_entry_ == &e) hold_entry_ = nullptr;
  if (h2c_entry_ == &e) h2c_entry_ = nullptr;
  stored_ -= std::min(stored_, e.stored);
  if (context_.sink) context_.sink(std::move(e.ex));
  pending_.pop_front();
}

void Http1Analyzer::go_done() {
  state_ = State::kDone;
  req_.mode = resp_.mode = Mode::kIgnore;
  req_.entry = resp_.entry = nullptr;
  req_.body = resp_.body = nullptr;
  hold_entry_ = nullptr;
  h2c_entry_ = nullptr;
  hold_buf_.clear();
  hold_marks_.clear();
  hold_pos_ = 0;
  for (Entry& e : pending_) {
    if (!e.answered) e.ex.flags |= traffic::kFlagNoResponse;
    e.request_done = e.answered = e.response_done = true;
  }
  try_emit();
}

// ---------------------------------------------------------------------------------------------
// Upgrades

void Http1Analyzer::switch_protocols(Side& s, Entry* e, int64_t time) {
  if (!e->wants_upgrade && !e->is_connect) context_.counters.anomaly("http1.unexpected_switch");
  const bool held_whole = hold_entry_ == e || (!e->request_done && req_.entry == e);
  if (e->h2c && e->ex.response && e->ex.response->status == 101 && !e->hold_broken && held_whole &&
      h2c_entry_ == nullptr) {
    // h2c: the response comes as HTTP/2 stream 1; hand over once the request has ended.
    e->ex.response.reset();
    e->ex.time.response_start = kNoTime;
    h2c_entry_ = e;
    s.entry = nullptr;
    s.mode = Mode::kTunnel;
    if (e->request_done) finalize_h2c();
    return;
  }
  // WebSocket, CONNECT, h2c that cannot be handed over: the connection leaves HTTP/1.
  e->ex.flags |= traffic::kFlagUpgrade;
  if (!e->ex.response) e->ex.flags |= traffic::kFlagNoResponse;
  if (e->ex.response) {
    e->ex.response->framing = Framing::kNone;
    e->ex.time.response_end = time;
  }
  if (!e->request_done) e->ex.time.request_end = req_.last_time;
  e->request_done = e->answered = e->response_done = true;
  s.entry = nullptr;
  go_done();
}

void Http1Analyzer::finalize_h2c() {
  Entry* e = h2c_entry_;
  h2c_entry_ = nullptr;
  // Anything before it has been answered and written; anything after cannot exist while its
  // hold was whole. Write out what is there, in order, as a safety net.
  while (!pending_.empty() && &pending_.front() != e) {
    Entry& other = pending_.front();
    if (!other.answered) other.ex.flags |= traffic::kFlagNoResponse;
    other.request_done = other.answered = other.response_done = true;
    emit_front();
  }
  upgrade_.exchange = std::move(e->ex);
  upgrade_.exchange.flags |= traffic::kFlagUpgrade;
  upgrade_.exchange.response.reset();
  upgrade_.http2_settings = std::move(e->http2_settings);
  if (req_.mode == Mode::kHold) {
    upgrade_.rest_to_server.assign(hold_buf_, hold_pos_);
    if (!upgrade_.rest_to_server.empty()) {
      int64_t t = hold_marks_.empty() ? req_.last_time : hold_marks_.front().time;
      for (const HoldMark& m : hold_marks_) {
        if (m.offset <= hold_pos_) t = m.time;
      }
      upgrade_.rest_to_server_time = t;
    }
  }
  hold_buf_.clear();
  hold_marks_.clear();
  hold_pos_ = 0;
  hold_entry_ = nullptr;
  stored_ -= std::min(stored_, e->stored);
  pending_.pop_front();
  for (Entry& other : pending_) {
    other.ex.flags |= traffic::kFlagNoResponse;
    other.request_done = other.answered = other.response_done = true;
  }
  try_emit();
  req_.mode = Mode::kTunnel;
  resp_.mode = Mode::kTunnel;
  req_.entry = resp_.entry = nullptr;
  state_ = State::kUpgradeH2;
}

const char* Http1Analyzer::on_tunnel(Side& s, const char* p, const char* end, int64_t time) {
  std::string& rest = s.request ? upgrade_.rest_to_server : upgrade_.rest_to_client;
  int64_t& t = s.request ? upgrade_.rest_to_server_time : upgrade_.rest_to_client_time;
  if (rest.empty()) t = time;
  const size_t room = kMaxHold - std::min(kMaxHold, rest.size());
  const size_t n = std::min(room, static_cast<size_t>(end - p));
  rest.append(p, n);
  if (n < static_cast<size_t>(end - p)) context_.counters.anomaly("http1.upgrade_rest_overflow");
  return end;
}

const char* Http1Analyzer::on_hold(const char* p, const char* end, int64_t time) {
  const size_t held = hold_buf_.size() - hold_pos_;
  const size_t room = kMaxHold - std::min(kMaxHold, held);
  const size_t n = std::min(room, static_cast<size_t>(end - p));
  if (n > 0) {
    if (hold_pos_ > 0 && hold_pos_ >= hold_buf_.size() / 2) {
      // Drop what was released already (amortised: at most once per half).
      hold_buf_.erase(0, hold_pos_);
      size_t keep = 0;
      for (size_t i = 0; i < hold_marks_.size(); ++i) {
        HoldMark m = hold_marks_[i];
        if (i + 1 < hold_marks_.size() && hold_marks_[i + 1].offset <= hold_pos_) continue;
        m.offset = m.offset > hold_pos_ ? m.offset - hold_pos_ : 0;
        hold_marks_[keep++] = m;
      }
      hold_marks_.resize(keep);
      hold_pos_ = 0;
    }
    if ((hold_marks_.empty() || hold_marks_.back().time != time) &&
        hold_marks_.size() < kMaxHoldMarks) {
      hold_marks_.push_back({hold_buf_.size(), time});
    }
    hold_buf_.append(p, n);
  }
  if (n < static_cast<size_t>(end - p)) {
    context_.counters.anomaly("http1.upgrade_hold_overflow");
    release_hold(true);
    req_.last_time = time;
    return p + n;
  }
  return end;
}

// Parses the held client bytes as HTTP/1, with the times they came with. Stops early when
// they hold another Upgrade/CONNECT request: the rest stays held for that one.
void Http1Analyzer::release_hold(bool broken) {
  if (req_.mode != Mode::kHold) return;
  if (broken && hold_entry_ != nullptr) hold_entry_->hold_broken = true;
  hold_entry_ = nullptr;
  req_.mode = Mode::kStart;
  const bool was_releasing = releasing_;
  releasing_ = true;
  size_t mark = 0;
  while (hold_pos_ < hold_buf_.size() && state_ == State::kActive && req_.mode != Mode::kHold) {
    while (mark + 1 < hold_marks_.size() && hold_marks_[mark + 1].offset <= hold_pos_) ++mark;
    const size_t seg_end =
        mark + 1 < hold_marks_.size() ? hold_marks_[mark + 1].offset : hold_buf_.size();
    const int64_t t = hold_marks_.empty() ? req_.last_time : hold_marks_[mark].time;
    const char* base = hold_buf_.data();
    const char* stop = feed(req_, base + hold_pos_, base + seg_end, t);
    hold_pos_ = static_cast<size_t>(stop - base);
  }
  releasing_ = was_releasing;
  if (hold_pos_ >= hold_buf_.size()) {
    if (hold_buf_.capacity() > (64u << 10)) {
      std::string().swap(hold_buf_);
    } else {
      hold_buf_.clear();
    }
    hold_marks_.clear();
    hold_pos_ = 0;
  }
  if (hold_end_ && req_.mode != Mode::kHold && state_ == State::kActive) {
    hold_end_ = false;
    req_.ended = false;
    end_side(req_, hold_end_reset_);
  }
}

}  // namespace twin::capture
