// The HTTP/1.1 client codec of the replayer: requests out (serialize_http1), responses in
// (Http1ResponseParser over Boost.Beast's basic_parser).
//
// How the parser is driven. Beast's basic_parser takes one contiguous buffer per put() and, when
// a construct is not complete, returns error::need_more and expects the unconsumed bytes again at
// the front of the next buffer. Two phases:
//  - The head (status line and fields). It is kept in `pending_` until its blank line has come,
//    then given to a fresh parser whole. Beast, once it has said need_more inside a head, waits
//    for the blank line before looking at anything again; fed piecemeal, whether a cut or broken
//    head is reported (status line, garbage) would depend on how the bytes were split. Prefixes
//    are checked with a fresh parser as they grow, so that garbage still fails at once.
//  - The body. Beast runs in non-eager mode and is given the caller's bytes directly; only a chunk
//    line or the last chunk with its trailers, when cut, is copied into `pending_`. Body bytes are
//    copied once, into the capped body, and never buffered whole.
// Non-eager, each put() stops at the end of the head and of each chunk line, which tells how many
// bytes a framing section took: the section limit below is ours and counted on whole sections, so
// that the outcome never depends on the split (DESIGN.md: tested by feeding every split).
//
// The fast path. Beast's field parser is general (obs-fold, token lists, every special field) and
// costs about 4,000 instructions for a typical 8-field head, a third of the replayer's work per
// request in a closed loop (callgrind). Most heads are plain: HTTP/1.0 or 1.1, a final status
// other than 101, fields without folding, Content-Length framing or no body, no
// Transfer-Encoding or Upgrade. fast_head() parses those itself, once the head is whole (so the
// split cannot matter either), and accepts only what Beast accepts with the same meaning: the same
// byte classes (tchar names, field values of HTAB, SP, VCHAR and obs-text, CRLF line ends), the
// same trimming, one plain Content-Length, Connection tokens with Beast's keep-alive rule. Any
// other head, valid or not, is handed to Beast whole, which then decides and words any error.
// The two are compared on generated and mutated heads, whole and split, in http1_test.cc and in
// the fuzz target.

#include "twin/replay/http1.h"

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional.hpp>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "bytes.h"
#include "twin/traffic/text.h"

namespace twin::replay {

namespace http = boost::beast::http;
using traffic::ErrorKind;
using traffic::Framing;
using traffic::kNoTime;

namespace {

// Upper bound of one framing section: the status line with the header fields, one chunk line,
// or the last chunk with its trailers. Real servers stay far below; beyond it the peer is
// broken or hostile and the response fails with kProtocol.
constexpr size_t kHeaderLimit = 64 * 1024;
// Beast's own per-put() limit is set above ours so that it only trips on sections that break
// ours too (a section longer than what one put() may scan is longer than kHeaderLimit).
constexpr uint32_t kBeastHeaderLimit = 2 * kHeaderLimit;
// While a cut chunk section waits in `pending_`, the caller's bytes are appended to it this much
// at a time, so that the body after the section is mostly parsed from the caller's buffer.
constexpr size_t kAppendStep = 16 * 1024;
// A cut head is checked for garbage on every feed up to this size, then at doubling sizes.
constexpr size_t kCheckEveryFeed = 4 * 1024;

constexpr std::string_view kBlankLine = "\r\n\r\n";
constexpr std::string_view kFailTruncated = "connection closed before the response ended";
constexpr std::string_view kFailReset = "connection reset before the response ended";
constexpr std::string_view kFailNoResponseEof = "connection closed before a response";
constexpr std::string_view kFailNoResponseReset = "connection reset before a response";
constexpr std::string_view kFailInternal = "response parser stalled";
constexpr std::string_view kFailShortHead = "malformed status line";

// A byte that may not appear in a header name: it would end the line (CR, LF), be cut by the
// peer (NUL), or change which header the peer sees (':', whitespace, other controls).
bool bad_name_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7F || c == ':';
}

// A byte that may not appear in a header value: it would end the line or be cut by the peer.
bool bad_value_byte(char c) { return c == '\r' || c == '\n' || c == '\0'; }

bool safe_header(const traffic::Header& h) {
  return !h.name.empty() && !bytes::has_bad_name_byte(h.name) && !bytes::has_crlf_nul(h.value);
}

// A byte that may not appear in a request target: it would end the request line.
bool bad_target_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7F;
}

// Whether a cut chunk section begins with a whole last-chunk line ("0\r\n", "00\r\n").
bool last_chunk_line(std::string_view section) {
  const size_t eol = section.find("\r\n");
  return eol != std::string_view::npos && eol > 0 &&
         section.substr(0, eol).find_first_not_of('0') == std::string_view::npos;
}

bool method_has_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

// The bytes Beast accepts in a field value or a reason phrase: HTAB, SP, VCHAR, obs-text.
constexpr std::array<bool, 256> kText = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x100; ++c) t[c] = c != 0x7F;
  t['\t'] = true;
  return t;
}();

// tchar (RFC 9110 5.6.2): the bytes Beast accepts in a field name.
bool tchar(char c) { return traffic::is_tchar(c); }
bool text(char c) { return kText[static_cast<unsigned char>(c)]; }

// The first byte at or after `p` that is not text(), eight bytes at a time while they lie before
// `end`. A word is looked at byte by byte only when it may hold a byte below 0x20 or a DEL (the
// classic "has a byte less than n" and "has a zero byte" bit tricks, which never miss one); HTAB
// is below 0x20 but text, hence the byte loop. The caller guarantees a non-text byte before `end`.
const char* skip_text(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  while (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const uint64_t del = x ^ (0x7F * kOnes);
    if ((((x - 0x20 * kOnes) & ~x) | ((del - kOnes) & ~del)) & kHigh) {
      const char* stop = p + 8;
      while (p != stop && text(*p)) ++p;
      if (p != stop) return p;
    } else {
      p += 8;
    }
  }
  while (text(*p)) ++p;
  return p;
}

// ASCII case-insensitive equality with a lowercase literal.
bool iequals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

void serialize_http1(const OutRequest& request, std::string& out) {
  // A hostile or damaged capture must not be able to smuggle a second request or header onto
  // the wire, and this function has no error path: bytes that would break the request line
  // are removed from the method and percent-encoded in the path, CR/LF/NUL are removed from
  // the Host value, and headers with such bytes (see safe_header) are left out whole.
  //
  // Hot path: the string grows once, to an upper bound, is written through a pointer, and is
  // cut to what was written (a percent-encoded byte takes 3).
  constexpr std::string_view kVersionHost = " HTTP/1.1\r\nHost: ";
  constexpr std::string_view kContentLength = "Content-Length: ";
  size_t bound = request.method.size() + 3 * request.path.size() + 1 + 1 + kVersionHost.size() +
                 request.authority.size() + 2 + kContentLength.size() + 20 + 2 + 2 +
                 request.body.size();
  for (const traffic::Header& h : request.headers) bound += h.name.size() + h.value.size() + 4;
  const size_t base = out.size();
  out.resize(base + bound);
  char* p = out.data() + base;
  auto put = [&p](std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  };

  // Each part is checked a word at a time and copied whole when clean (nearly always); else
  // byte by byte.
  if (!bytes::has_bad_name_byte(request.method)) {
    put(request.method);
  } else {
    for (char c : request.method) {
      if (!bad_name_byte(c)) *p++ = c;
    }
  }
  *p++ = ' ';
  if (request.path.empty()) {
    *p++ = '/';  // the origin form of an empty path
  } else if (!bytes::has_ctl_space_del(request.path)) {
    put(request.path);
  } else {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : request.path) {
      if (bad_target_byte(c)) {
        const auto u = static_cast<unsigned char>(c);
        *p++ = '%';
        *p++ = kHex[u >> 4];
        *p++ = kHex[u & 0xF];
      } else {
        *p++ = c;
      }
    }
  }
  put(kVersionHost);
  if (!bytes::has_crlf_nul(request.authority)) {
    put(request.authority);
  } else {
    for (char c : request.authority) {
      if (!bad_value_byte(c)) *p++ = c;
    }
  }
  put("\r\n");
  for (const traffic::Header& h : request.headers) {
    if (!safe_header(h)) continue;
    put(h.name);
    put(": ");
    put(h.value);
    put("\r\n");
  }
  if (!request.body.empty() || method_has_body(request.method)) {
    put(kContentLength);
    p = std::to_chars(p, p + 20, request.body.size()).ptr;
    put("\r\n");
  }
  put("\r\n");
  put(request.body);
  out.resize(static_cast<size_t>(p - out.data()));
}

// ---------------------------------------------------------------------------------------------

// The fast path's memo (http1.h). It holds the header section (after the status line, up to
// and with the blank line) of the last plain head that had a line not in the memo, and where
// each of its lines lies, with what the fast path made of it. A line of a new head is taken from
// the memo when the bytes at its place are those of the memo's line of the same index with its
// CRLF: the same bytes, so the same name, value and meaning, and no CR inside, so the same line.
// One compare instead of the checks of every byte. Sizes are bounded so that the memo stays
// small (under 2 KiB, one per worker and target) whatever the server sends; longer heads are
// parsed as ever.
struct Http1HeadMemo {
  static constexpr size_t kMaxBytes = 1024;
  static constexpr size_t kMaxLines = 32;
  enum Kind : uint8_t { kPlain, kContentLength, kConnection };
  // Trivial (no initializers): fast_head() keeps an array of them on its stack for every head.
  struct Line {
    uint16_t begin;  // offset in `bytes`
    uint16_t size;   // without the CRLF
    uint16_t name_size;
    uint16_t value_begin;  // offset in `bytes`, after OWS
    uint16_t value_size;   // trailing OWS trimmed
    Kind kind;
    bool close;       // kConnection: its tokens
    bool keep_alive;  // kConnection
    uint64_t length;  // kContentLength: its value
  };
  std::array<char, kMaxBytes> bytes{};
  std::array<Line, kMaxLines> lines{};
  size_t count = 0;
};

std::shared_ptr<Http1HeadMemo> make_http1_head_memo() { return std::make_shared<Http1HeadMemo>(); }

class Http1ResponseParser::Impl {
  // Beast's parser with its callbacks forwarded to Impl. Written against beast::string_view so that
  // it builds whether or not BOOST_BEAST_USE_STD_STRING_VIEW is defined.
  class Parser final : public http::basic_parser<false> {
   public:
    explicit Parser(Impl& impl) : impl_(impl) {}

   private:
    using string_view = boost::beast::string_view;
    using error_code = boost::beast::error_code;

    static std::string_view view(string_view s) { return {s.data(), s.size()}; }

    void on_request_impl(http::verb, string_view, string_view, int, error_code&) override {}

    void on_response_impl(int code, string_view reason, int, error_code&) override {
      impl_.on_status(code, view(reason));
    }

    void on_field_impl(http::field, string_view name, string_view value, error_code&) override {
      // Also called for the trailers of a chunked body: they are appended to the headers, as
      // capture does.
      impl_.on_field(view(name), view(value));
    }

    void on_header_impl(error_code&) override {
      // Beast has decided the framing by now. These have no body whatever their headers say;
      // "Content-Length: 0" is Content-Length framing all the same, as capture records it.
      const int code = impl_.completion().response.status;
      const bool bodiless = impl_.head() || code / 100 == 1 || code == 204 || code == 304;
      impl_.on_header(bodiless, chunked(), content_length().has_value());
    }

    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
      impl_.on_body_init(length);
    }

    std::size_t on_body_impl(string_view body, error_code&) override {
      impl_.on_body(view(body));
      return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
      impl_.on_body(view(body));
      return body.size();
    }

    void on_finish_impl(error_code&) override {}

    Impl& impl_;
  };

 public:
  Impl(size_t max_body, bool beast_only, std::shared_ptr<Http1HeadMemo> memo)
      : max_body_(max_body), beast_only_(beast_only), memo_(std::move(memo)) {
    start(0, false);
  }

  void start(uint64_t token, bool head) {
    Completion& c = completion_;
    c.token = token;
    c.has_response = false;
    c.error = ErrorKind::kNone;
    c.flags = 0;
    c.response_start = kNoTime;
    c.response_end = kNoTime;
    head_ = head;
    status_ = Status::kNeedMore;
    keep_alive_ = false;
    failure_ = {};
    // What is left of a failed or cut message belongs to no response.
    pending_.clear();
    checked_ = 0;
    begin_message();
  }

  Feed feed(const char* data, size_t size, int64_t now) {
    if (status_ != Status::kNeedMore) return {0, status_};
    if (size == 0) return {0, Status::kNeedMore};
    if (completion_.response_start == kNoTime) completion_.response_start = now;
    size_t off = 0;  // bytes of `data` consumed (by Beast or into pending_)
    while (off < size) {
      if (!header_done()) {
        // The head: Beast is only ever given it whole, or a prefix of it to a fresh parser
        // (check_head). Once Beast has said need_more inside a head it waits for the blank
        // line before looking at anything again, so feeding it piecemeal would make what is
        // reported for a cut or broken head depend on the split.
        const size_t end = find_head_end(data + off, size - off);
        if (end == std::string_view::npos) {
          pending_.append(data + off, std::min(size - off, kHeaderLimit + 1 - pending_.size()));
          if (pending_.size() > kHeaderLimit) return fail_head(data + off, size - off, size, now);
          // Checking growing prefixes finds garbage (a TLS or SSH peer, …) without waiting
          // for a blank line that never comes: on every feed while the prefix is short (where
          // garbage shows), then at doubling sizes, so that a head trickling in costs linear
          // time. finish() checks whatever is left.
          if (pending_.size() <= kCheckEveryFeed || pending_.size() >= 2 * checked_) {
            checked_ = pending_.size();
            const auto ec = check_head(pending_.data(), pending_.size());
            if (ec) return fail(ec.message(), size, now);
          }
          return {size, Status::kNeedMore};
        }
        const size_t head_size = pending_.size() + end;
        if (head_size > kHeaderLimit) return fail_head(data + off, size - off, off, now);
        // Beast is given exactly the head, nothing after it, so that what it says about the
        // head never depends on the bytes that follow (nor, then, on the split).
        const char* head = data + off;
        if (!pending_.empty()) {
          pending_.append(data + off, end);
          head = pending_.data();
        }
        if (parser_live_) begin_message();  // check_head() used it
        if (!fast_head(head, head_size)) {
          begin_message();  // what check_head() or fast_head() began is dropped
          Parser& parser = beast();
          boost::beast::error_code ec;
          const size_t n = parser.put(boost::asio::const_buffer(head, head_size), ec);
          // A whole head that Beast still wants more of has a status line shorter than the
          // fixed lookahead of its version or status parsing: not HTTP.
          if (ec == http::error::need_more) return fail(std::string(kFailShortHead), off, now);
          if (ec) return fail(ec.message(), off, now);
          // Non-eager, Beast stops right after a whole head.
          if (n != head_size || !parser.is_header_done()) {
            return fail(std::string(kFailInternal), off, now);
          }
        }
        pending_.clear();
        off += end;
      } else if (fast_) {
        // A Content-Length body after a fast head: its bytes as they come.
        const size_t take = static_cast<size_t>(std::min<uint64_t>(fast_left_, size - off));
        on_body(std::string_view(data + off, take));
        fast_left_ -= take;
        off += take;
      } else {
        // The body. Only chunk lines and the last chunk with its trailers can leave bytes
        // that Beast wants to see again; body bytes are consumed as they come.
        const size_t old = pending_.size();
        size_t add = 0;
        const char* p = data + off;
        size_t avail = size - off;
        if (old != 0) {
          add = std::min(size - off, kAppendStep);
          pending_.append(data + off, add);
          p = pending_.data();
          avail = pending_.size();
        }
        if (old != 0 && avail < 5 && last_chunk_line(pending_)) {
          // Beast 1.74 asserts (BOOST_ASSERT(n >= 5), in Debug builds) when a cut last chunk is
          // given back shorter than that; it cannot end or fail before "0\r\n\r\n" anyway.
          off += add;
          continue;
        }
        const uint64_t body_before = completion_.response.body_size;
        boost::beast::error_code ec;
        const size_t n = parser_->put(boost::asio::const_buffer(p, avail), ec);
        // No progress without a reason would loop forever; treat it as a wait for more bytes.
        const bool need_more =
            ec == http::error::need_more || (!ec && n == 0 && !parser_->is_done());
        if (ec && !need_more) return fail(ec.message(), off, now);
        if (need_more) {
          // Beast wants the unconsumed bytes again, in front of the next ones.
          if (old == 0) {
            pending_.assign(data + off + n, size - off - n);
            off = size;
          } else {
            pending_.erase(0, n);
            off += add;
          }
        } else if (old == 0) {
          off += n;
        } else if (n >= old) {
          off += n - old;
          pending_.clear();
        } else {
          // Beast moved on inside bytes it had asked more for: give the new bytes back.
          pending_.erase(0, n);
          pending_.resize(pending_.size() - add);
        }
        // A chunk line, or the last chunk with its trailers, is a section like the head. Beast
        // does not look into one before it is whole, so the check is the same for any split.
        const uint64_t overhead = n - (completion_.response.body_size - body_before);
        if (overhead > kHeaderLimit || (need_more && pending_.size() > kHeaderLimit)) {
          return fail_header_limit(off, now);
        }
      }
      if (fast_ ? fast_left_ == 0 : parser_->is_done()) {
        if (!pending_.empty()) return fail(std::string(kFailInternal), off, now);
        if (interim_) {
          // 100 Continue, 103 Early Hints, …: not the answer; the final response follows.
          begin_message();
          checked_ = 0;
          continue;
        }
        complete(now);
        return {off, Status::kDone};
      }
    }
    return {size, Status::kNeedMore};
  }

  Status finish(int64_t now, bool reset) {
    if (status_ != Status::kNeedMore) return status_;
    const bool started = completion_.response_start != kNoTime;
    if (!header_done()) {
      // The head never ended. Parse what came of it once more, whole, to know whether it was
      // HTTP at all and whether its status line was complete; its fields are not kept (Beast
      // reports a field only once the next line has begun).
      if (!pending_.empty()) {
        const auto ec = check_head(pending_.data(), pending_.size());
        if (ec) return fail(ec.message(), 0, now).status;
      }
      header_count_ = 0;
    } else if (!reset && pending_.empty() && !fast_ && parser_->need_eof()) {
      // A close-delimited body: the end of the connection is the end of the body.
      boost::beast::error_code ec;
      parser_->put_eof(ec);
      if (!ec) {
        complete(now);
        keep_alive_ = false;
        return Status::kDone;
      }
    }
    // Incomplete, or nothing at all: the connection closed before answering (a server that
    // closes without a response truncated the exchange, it did not violate HTTP).
    completion_.error = reset ? ErrorKind::kReset : ErrorKind::kTruncated;
    if (started) {
      completion_.response_end = now;
      failure_ = reset ? kFailReset : kFailTruncated;
    } else {
      failure_ = reset ? kFailNoResponseReset : kFailNoResponseEof;
    }
    settle();
    status_ = Status::kFailed;
    keep_alive_ = false;
    return status_;
  }

  Completion& completion() { return completion_; }
  bool keep_alive() const { return status_ == Status::kDone && keep_alive_; }
  std::string_view failure() const { return failure_; }
  uint64_t fast_heads() const { return fast_heads_; }
  uint64_t memo_lines() const { return memo_lines_; }

  // --- called by Parser (Beast's callbacks) ---

  void on_status(int code, std::string_view reason) {
    completion_.has_response = true;
    completion_.response.status = code;
    completion_.response.reason.assign(reason);
    interim_ = code / 100 == 1 && code != 101;
  }

  void on_field(std::string_view name, std::string_view value) {
    // Slots of the previous response are reused so that their strings keep their capacity.
    traffic::Headers& headers = completion_.response.headers;
    if (header_count_ < headers.size()) {
      traffic::Header& h = headers[header_count_];
      traffic::overwrite(h.name, name);
      traffic::overwrite(h.value, value);
    } else {
      headers.push_back({std::string(name), std::string(value)});
    }
    ++header_count_;
  }

  void on_header(bool bodiless, bool chunked, bool has_length) {
    Framing f = Framing::kClose;
    if (bodiless) {
      f = Framing::kNone;
    } else if (chunked) {
      f = Framing::kChunked;
    } else if (has_length) {
      f = Framing::kContentLength;
    }
    completion_.response.framing = f;
  }

  void on_body_init(const boost::optional<uint64_t>& length) {
    if (length) completion_.response.body.reserve(std::min<uint64_t>(*length, max_body_));
  }

  void on_body(std::string_view bytes) {
    traffic::Response& r = completion_.response;
    r.body_size += bytes.size();
    if (r.body.size() < max_body_) {
      r.body.append(bytes.data(), std::min(bytes.size(), max_body_ - r.body.size()));
    }
  }

  bool head() const { return head_; }

 private:
  // Starts the next message on the wire (the first, or the one after an interim 1xx): the
  // response fields are reset, the timing and token stay. Beast's parser is made anew when
  // needed (beast()), so that a head taken by the fast path costs no parser.
  void begin_message();

  Parser& beast();

  bool header_done() const { return fast_ || (parser_live_ && parser_->is_header_done()); }

  // The fast path (see the file comment). `head` is a whole head, up to and including its blank
  // line. Returns false for any head it does not take; what it began (status, fields) is then
  // dropped by begin_message() before Beast parses the head.
  bool fast_head(const char* head, size_t size);

  // Where the head that began in pending_ (and goes on in `data`) ends: the offset in `data`
  // just past its blank line, or npos. pending_ never holds the blank line itself.
  size_t find_head_end(const char* data, size_t size) const {
    const size_t k = std::min<size_t>(pending_.size(), 3);
    if (k != 0) {
      char window[6];
      const size_t m = std::min<size_t>(size, 3);
      std::copy(pending_.end() - static_cast<std::ptrdiff_t>(k), pending_.end(), window);
      std::copy(data, data + m, window + k);
      const size_t at = std::string_view(window, k + m).find(kBlankLine);
      if (at != std::string_view::npos) return at + kBlankLine.size() - k;
    }
    const size_t at = std::string_view(data, size).find(kBlankLine);
    return at == std::string_view::npos ? at : at + kBlankLine.size();
  }

  // Parses a prefix of a head with a fresh parser. Returns Beast's error when the bytes are not
  // the start of an HTTP/1.x response head, nothing when they may be (need_more).
  boost::beast::error_code check_head(const char* data, size_t size) {
    begin_message();
    boost::beast::error_code ec;
    beast().put(boost::asio::const_buffer(data, size), ec);
    if (ec == http::error::need_more) ec = {};
    return ec;
  }

  // The head is longer than kHeaderLimit: fails with what is wrong within its first
  // kHeaderLimit + 1 bytes, or else with the limit (the same failure for any split).
  // `data` goes on from pending_ and holds enough bytes.
  Feed fail_head(const char* data, size_t size, size_t consumed, int64_t now) {
    const char* p = data;
    if (!pending_.empty()) {
      pending_.append(
          data, std::min(size, kHeaderLimit + 1 - std::min(pending_.size(), kHeaderLimit + 1)));
      p = pending_.data();
    }
    const auto ec = check_head(p, kHeaderLimit + 1);
    if (ec) return fail(ec.message(), consumed, now);
    return fail_header_limit(consumed, now);
  }

  Feed fail(std::string message, size_t consumed, int64_t now) {
    failure_ = std::move(message);
    completion_.error = ErrorKind::kProtocol;
    completion_.response_end = now;
    settle();
    status_ = Status::kFailed;
    keep_alive_ = false;
    return {consumed, Status::kFailed};
  }

  Feed fail_header_limit(size_t consumed, int64_t now) {
    return fail(boost::beast::error_code(http::error::header_limit).message(), consumed, now);
  }

  void complete(int64_t now) {
    completion_.response_end = now;
    settle();
    const int code = completion_.response.status;
    // After 101 the connection speaks another protocol: no further HTTP/1.1 request on it.
    if (code == 101) completion_.flags |= traffic::kFlagUpgrade;
    keep_alive_ = code != 101 && (fast_ ? fast_keep_alive_ : parser_->keep_alive());
    status_ = Status::kDone;
  }

  // Makes the completion show what was received: the headers parsed so far and the cap flag.
  void settle() {
    traffic::Response& r = completion_.response;
    r.headers.resize(header_count_);
    if (r.body_size > max_body_) completion_.flags |= traffic::kFlagResponseBodyTruncated;
  }

  const size_t max_body_;
  const bool beast_only_;  // tests: every head through Beast, the fast path's reference
  const std::shared_ptr<Http1HeadMemo> memo_;  // may be null
  Completion completion_;
  std::optional<Parser> parser_;
  bool parser_live_ = false;  // parser_ belongs to the current message
  bool fast_ = false;         // the current message's head was taken by the fast path
  bool fast_keep_alive_ = false;
  uint64_t fast_left_ = 0;   // fast path: body bytes still to come
  uint64_t fast_heads_ = 0;  // heads taken by the fast path
  uint64_t memo_lines_ = 0;  // header lines the fast path took from the memo
  std::string pending_;      // a head or chunk section not yet whole (at most ~kHeaderLimit)
  std::string failure_;      // short, fixed texts only: never bytes of the message
  size_t header_count_ = 0;  // headers of the current message (slots beyond are stale)
  size_t checked_ = 0;       // size of the longest prefix of this head that check_head() saw
  Status status_ = Status::kNeedMore;
  bool head_ = false;
  bool interim_ = false;
  bool keep_alive_ = false;
};

void Http1ResponseParser::Impl::begin_message() {
  traffic::Response& r = completion_.response;
  r.status = 0;
  r.reason.clear();
  r.body.clear();
  r.body_size = 0;
  r.framing = Framing::kNone;
  completion_.has_response = false;
  header_count_ = 0;
  interim_ = false;
  fast_ = false;
  fast_left_ = 0;
  parser_live_ = false;
}

Http1ResponseParser::Impl::Parser& Http1ResponseParser::Impl::beast() {
  if (!parser_live_) {
    parser_.emplace(*this);
    parser_->eager(false);
    parser_->header_limit(kBeastHeaderLimit);
    // We cap the kept body ourselves and count the rest: a big body is not an error. Not
    // boost::none: Beast 1.74 tests "Content-Length > body_limit" against the empty optional,
    // which is always true, and fails every Content-Length body.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    // A response to HEAD has no body whatever its headers say; Beast cannot know the method.
    parser_->skip(head_);
    parser_live_ = true;
  }
  return *parser_;
}

bool Http1ResponseParser::Impl::fast_head(const char* head, size_t size) {
  if (beast_only_) return false;
  const char* p = head;
  const char* const end = head + size;  // ends with the blank line: "\r\n\r\n"
  // Status line: "HTTP/1." ("0" / "1") SP 3DIGIT SP reason CRLF. 1xx (interim, 101) to Beast.
  if (size < 17 || std::memcmp(p, "HTTP/1.", 7) != 0) return false;
  const char minor = p[7];
  if ((minor != '0' && minor != '1') || p[8] != ' ' || p[12] != ' ') return false;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (p[i] < '0' || p[i] > '9') return false;
    code = code * 10 + (p[i] - '0');
  }
  if (code < 200) return false;
  p += 13;
  const char* reason = p;
  p = skip_text(p, end);  // stops at the CR of the blank line at the latest
  if (p[0] != '\r' || p[1] != '\n') return false;
  on_status(code, std::string_view(reason, static_cast<size_t>(p - reason)));
  p += 2;

  bool has_length = false, close = false, keep_alive = false;
  uint64_t length = 0;
  // The header section, as the memo holds it; lines are learnt into `learnt` as they are parsed
  // and given to the memo at the end when one of them was not in it.
  const char* const section = p;
  const size_t section_size = static_cast<size_t>(end - section);
  Http1HeadMemo* const memo = memo_.get();
  std::array<Http1HeadMemo::Line, Http1HeadMemo::kMaxLines> learnt;
  size_t line = 0;
  bool missed = false;
  for (;; ++line) {
    if (end - p < 2) return false;
    if (p[0] == '\r') {
      if (p[1] != '\n' || p + 2 != end) return false;
      break;
    }
    if (memo != nullptr && line < memo->count) {
      const Http1HeadMemo::Line& m = memo->lines[line];
      if (static_cast<size_t>(end - p) >= m.size + 2u &&
          std::memcmp(p, memo->bytes.data() + m.begin, m.size + 2u) == 0) {
        const std::string_view n(p, m.name_size);
        const std::string_view v(p + (m.value_begin - m.begin), m.value_size);
        if (line < learnt.size()) {
          learnt[line] = m;
          learnt[line].begin = static_cast<uint16_t>(p - section);
          learnt[line].value_begin = static_cast<uint16_t>(v.data() - section);
        }
        p += m.size + 2u;
        if (*p == ' ' || *p == '\t') return false;  // obs-fold
        if (m.kind == Http1HeadMemo::kContentLength) {
          if (has_length) return false;
          length = m.length;
          has_length = true;
        } else if (m.kind == Http1HeadMemo::kConnection) {
          close = close || m.close;
          keep_alive = keep_alive || m.keep_alive;
        }
        on_field(n, v);
        ++memo_lines_;
        continue;
      }
    }
    missed = true;
    // field-name ":" OWS field-value OWS CRLF, without obs-fold.
    const char* name = p;
    while (tchar(*p)) ++p;
    if (p == name || *p != ':') return false;
    const std::string_view n(name, static_cast<size_t>(p - name));
    ++p;
    while (*p == ' ' || *p == '\t') ++p;
    const char* value = p;
    p = skip_text(p, end);
    if (p[0] != '\r' || p[1] != '\n') return false;
    const char* value_end = p;
    const char* const line_end = p;
    while (value_end != value && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    p += 2;
    if (*p == ' ' || *p == '\t') return false;  // obs-fold
    const std::string_view v(value, static_cast<size_t>(value_end - value));
    Http1HeadMemo::Kind kind = Http1HeadMemo::kPlain;
    bool line_close = false, line_keep_alive = false;
    // The fields Beast gives a meaning (basic_parser::do_field), by the length of their name.
    switch (n.size()) {
      case 7:
        if (iequals_lower(n, "upgrade")) return false;
        break;
      case 10:
      case 16:
        if (iequals_lower(n, "connection") || iequals_lower(n, "proxy-connection")) {
          // token *( OWS "," OWS token ): a strict form of Beast's list.
          kind = Http1HeadMemo::kConnection;
          size_t i = 0;
          for (;;) {
            const size_t t = i;
            while (i < v.size() && tchar(v[i])) ++i;
            if (i == t) return false;
            const std::string_view token = v.substr(t, i - t);
            line_close = line_close || iequals_lower(token, "close");
            line_keep_alive = line_keep_alive || iequals_lower(token, "keep-alive");
            if (iequals_lower(token, "upgrade")) return false;
            while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
            if (i == v.size()) break;
            if (v[i] != ',') return false;
            ++i;
            while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
          }
          close = close || line_close;
          keep_alive = keep_alive || line_keep_alive;
        }
        break;
      case 14:
        if (iequals_lower(n, "content-length")) {
          // One plain decimal below 10^18; lists, repeats and the rest to Beast.
          if (has_length || v.empty() || v.size() > 18) return false;
          for (char c : v) {
            if (c < '0' || c > '9') return false;
            length = length * 10 + static_cast<uint64_t>(c - '0');
          }
          has_length = true;
          kind = Http1HeadMemo::kContentLength;
        }
        break;
      case 17:
        if (iequals_lower(n, "transfer-encoding")) return false;
        break;
      default:
        break;
    }
    if (line < learnt.size()) {
      Http1HeadMemo::Line& l = learnt[line];
      l.begin = static_cast<uint16_t>(name - section);
      l.size = static_cast<uint16_t>(line_end - name);
      l.name_size = static_cast<uint16_t>(n.size());
      l.value_begin = static_cast<uint16_t>(value - section);
      l.value_size = static_cast<uint16_t>(v.size());
      l.kind = kind;
      l.close = line_close;
      l.keep_alive = line_keep_alive;
      l.length = kind == Http1HeadMemo::kContentLength ? length : 0;
    }
    on_field(n, v);
  }
  const bool bodiless = head_ || code == 204 || code == 304;
  if (!bodiless && !has_length) return false;  // close-delimited: Beast
  // Accepted. A plain head with a line the memo did not have becomes the memo, when it fits
  // (only then are the offsets in `learnt` meaningful).
  if (memo != nullptr && (missed || line != memo->count) &&
      section_size <= Http1HeadMemo::kMaxBytes && line <= Http1HeadMemo::kMaxLines) {
    std::memcpy(memo->bytes.data(), section, section_size);
    std::copy(learnt.begin(), learnt.begin() + static_cast<std::ptrdiff_t>(line),
              memo->lines.begin());
    memo->count = line;
  }
  on_header(bodiless, false, has_length);
  fast_ = true;
  // Beast's rule (basic_parser::keep_alive): HTTP/1.1 unless "close", HTTP/1.0 only with
  // "keep-alive".
  fast_keep_alive_ = minor == '1' ? !close : keep_alive;
  fast_left_ = bodiless ? 0 : length;
  if (fast_left_ != 0) on_body_init(fast_left_);
  ++fast_heads_;
  return true;
}

// ---------------------------------------------------------------------------------------------

Http1ResponseParser::Http1ResponseParser(size_t max_body, bool beast_only,
                                         std::shared_ptr<Http1HeadMemo> memo)
    : impl_(std::make_unique<Impl>(max_body, beast_only, std::move(memo))) {}
Http1ResponseParser::~Http1ResponseParser() = default;

void Http1ResponseParser::start(uint64_t token, bool head) { impl_->start(token, head); }

Http1ResponseParser::Feed Http1ResponseParser::feed(const char* data, size_t size, int64_t now) {
  return impl_->feed(data, size, now);
}

Http1ResponseParser::Status Http1ResponseParser::finish(int64_t now, bool reset) {
  return impl_->finish(now, reset);
}

Completion& Http1ResponseParser::completion() { return impl_->completion(); }

bool Http1ResponseParser::keep_alive() const { return impl_->keep_alive(); }

std::string_view Http1ResponseParser::failure() const { return impl_->failure(); }

uint64_t Http1ResponseParser::fast_heads() const { return impl_->fast_heads(); }

uint64_t Http1ResponseParser::memo_lines() const { return impl_->memo_lines(); }

}  // namespace twin::replay
