#include "http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace twin::capture {
namespace {

using traffic::ErrorKind;
using traffic::Exchange;
using traffic::Framing;
using traffic::Headers;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kFrameHeader = 9;

// Frame types (RFC 9113 6) and the extensions looks_like_http2 knows.
enum : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
  kAltSvc = 0xa,
  kOrigin = 0xc,
  kPriorityUpdate = 0x10,
};

// Frame flags.
enum : uint8_t {
  kEndStream = 0x1,
  kAck = 0x1,
  kEndHeaders = 0x4,
  kPadded = 0x8,
  kPriorityFlag = 0x20,
};

constexpr uint32_t kSettingsHeaderTableSize = 0x1;
constexpr uint32_t kNoError = 0x0;
constexpr size_t kDefaultTableSize = 4096;
constexpr size_t kMinTableCap = 64u << 10;
constexpr uint32_t kStreamIdMask = 0x7fffffffu;

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be24(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct InflaterFree {
  void operator()(nghttp2_hd_inflater* p) const { nghttp2_hd_inflate_del(p); }
};
using InflaterPtr = std::unique_ptr<nghttp2_hd_inflater, InflaterFree>;

InflaterPtr make_inflater() {
  nghttp2_hd_inflater* p = nullptr;
  if (nghttp2_hd_inflate_new(&p) != 0) return nullptr;
  return InflaterPtr(p);
}

// Whether a frame header could have been written by an HTTP/2 endpoint (for looks_like_http2).
bool plausible_frame(uint32_t length, uint8_t type, uint8_t flags, uint32_t raw_stream) {
  if (raw_stream & ~kStreamIdMask) return false;  // the reserved bit is always sent clear
  const uint32_t stream = raw_stream;
  switch (type) {
    case kData:
      return stream != 0 && (flags & ~(kEndStream | kPadded)) == 0;
    case kHeaders:
      return stream != 0 && (flags & ~(kEndStream | kEndHeaders | kPadded | kPriorityFlag)) == 0;
    case kPriority:
      return stream != 0 && length == 5 && flags == 0;
    case kRstStream:
      return stream != 0 && length == 4 && flags == 0;
    case kSettings:
      return stream == 0 && (flags & ~kAck) == 0 && length % 6 == 0 &&
             (!(flags & kAck) || length == 0);
    case kPushPromise:  // on the client's (odd) stream that it answers
      return stream % 2 == 1 && (flags & ~(kEndHeaders | kPadded)) == 0 && length >= 4;
    case kPing:
      return stream == 0 && length == 8 && (flags & ~kAck) == 0;
    case kGoaway:
      return stream == 0 && length >= 8 && flags == 0;
    case kWindowUpdate:
      return length == 4 && flags == 0;
    case kContinuation:
      return stream != 0 && (flags & ~kEndHeaders) == 0;
    case kAltSvc:
      return flags == 0 && length >= 2;
    case kOrigin:
      return stream == 0 && flags == 0;
    case kPriorityUpdate:
      return stream == 0 && flags == 0 && length >= 4;
    default:
      return false;
  }
}

// base64url (RFC 4648 5) as HTTP2-Settings carries it; also takes '+', '/' and '=' padding.
bool decode_base64url(std::string_view in, std::string& out) {
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-' || c == '+') {
      v = 62;
    } else if (c == '_' || c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace

bool looks_like_http2(std::string_view bytes) {
  // A client seen from its first byte: the preface (a sample may stop inside it).
  if (bytes.size() >= 4 && kPreface.starts_with(bytes.substr(0, kPreface.size()))) return true;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t off = 0;
  int frames = 0;
  while (bytes.size() - off >= kFrameHeader) {
    const uint32_t length = be24(p + off);
    if (!plausible_frame(length, p[off + 3], p[off + 4], be32(p + off + 5))) return false;
    if (++frames >= 2) return true;
    off += kFrameHeader + length;
    if (off > bytes.size()) return false;
  }
  return false;
}

struct Http2Analyzer::Impl {
  // One client-initiated stream being assembled into an exchange.
  struct Stream {
    Exchange ex;
    bool request_headers = false;  // the request's first header block is complete
    bool request_ended = false;    // END_STREAM from the client
    bool response_final = false;   // a final (non-1xx) response header block is complete
    bool response_ended = false;   // END_STREAM from the server
    bool refused = false;          // opened above the server's GOAWAY last-stream-id
    size_t held = 0;               // header and body bytes kept, for buffered()
  };

  enum class Phase : uint8_t { kPreface, kHeader, kPrefix, kContent, kPadding };
  enum class Role : uint8_t { kDiscard, kRequest, kResponse };

  // The frame layer and HPACK state of one direction.
  struct Side {
    Phase phase = Phase::kHeader;
    size_t preface_got = 0;
    std::array<uint8_t, kFrameHeader> header{};
    size_t header_got = 0;
    // The frame being read.
    uint32_t length = 0;
    uint8_t type = 0;
    uint8_t flags = 0;
    uint32_t stream_id = 0;
    int64_t frame_time = traffic::kNoTime;  // the call that delivered its first byte
    std::array<uint8_t, 6> prefix{};        // Pad Length, priority fields, promised stream id
    size_t prefix_need = 0;
    size_t prefix_got = 0;
    uint32_t content_left = 0;
    uint32_t padding_left = 0;
    std::array<uint8_t, 8> ctrl{};  // a SETTINGS entry, or the head of a control frame
    size_t ctrl_got = 0;
    Stream* data_stream = nullptr;  // the stream a DATA frame feeds, null to skip it
    // The header block being inflated (HEADERS or PUSH_PROMISE, then CONTINUATIONs).
    bool in_block = false;
    uint32_t block_stream = 0;
    bool block_end_stream = false;
    bool block_too_long = false;
    Role block_role = Role::kDiscard;
    Stream* block_target = nullptr;
    size_t block_bytes = 0;    // compressed
    size_t block_decoded = 0;  // 32 + name + value per field
    size_t block_first = 0;    // index of the block's first field in the target's headers
    int64_t block_time = traffic::kNoTime;
    InflaterPtr inflater;
    size_t table_limit = kDefaultTableSize;  // SETTINGS_HEADER_TABLE_SIZE given to the inflater
    bool table_pending = false;              // raised while a block was being inflated
    bool ended = false;
    bool reset = false;
  };

  explicit Impl(AnalyzerContext ctx) : context(std::move(ctx)), options(context.options) {
    sides[0].phase = Phase::kPreface;
    for (Side& s : sides) s.inflater = make_inflater();
    if (context.midstream) {
      // The engine skips midstream HTTP/2 connections; without the start the HPACK tables
      // cannot be followed.
      context.counters.anomaly("http2.midstream");
      done = true;
      return;
    }
    if (!sides[0].inflater || !sides[1].inflater) fail("http2.hpack_error");
  }

  // ---- streams ----

  Stream* find(uint32_t id) {
    if (cache_id == id && cache != nullptr) return cache;
    auto it = streams.find(id);
    if (it == streams.end()) return nullptr;
    cache_id = id;
    cache = &it->second;
    return cache;
  }

  Stream& open_stream(uint32_t id, int64_t start) {
    const size_t max_open = std::max<size_t>(1, options.max_pending);
    while (streams.size() >= max_open) {
      context.counters.anomaly("http2.too_many_streams");
      emit(streams.begin()->second, ErrorKind::kTruncated, 0);
    }
    highest_client = id;
    Stream& st = streams[id];
    st.ex.seq = next_seq++;
    st.ex.stream = id;
    st.ex.protocol = traffic::Protocol::kHttp2;
    st.ex.time.request_start = start;
    st.refused = id > goaway_last;
    return st;
  }

  // Drops every pointer to `st` before it leaves the map.
  void forget(Stream* st) {
    if (cache == st) cache = nullptr;
    for (Side& s : sides) {
      if (s.data_stream == st) s.data_stream = nullptr;
      if (s.block_target == st) {
        s.block_target = nullptr;
        s.block_role = Role::kDiscard;
      }
    }
  }

  void erase(Stream& st) {
    held -= st.held;
    const uint32_t id = st.ex.stream;
    forget(&st);
    streams.erase(id);
  }

  void emit(Stream& st, ErrorKind error, uint32_t flags) {
    // A header block still open on the stream is dropped whole: what part of it had been
    // inflated depends on how the bytes were cut, and the output must not.
    for (Side& s : sides) {
      if (s.in_block && s.block_target == &st) drop_headers(st, s.block_role, s.block_first);
    }
    Exchange ex = std::move(st.ex);
    if (!st.response_final) {
      ex.response.reset();
      ex.flags |= traffic::kFlagNoResponse;
    }
    if (error != ErrorKind::kNone) ex.error = error;
    ex.flags |= flags;
    ex.protocol = traffic::Protocol::kHttp2;
    erase(st);
    if (context.sink) context.sink(std::move(ex));
  }

  // Removes the header fields from index `first` on.
  void drop_headers(Stream& st, Role role, size_t first) {
    Headers& headers = role == Role::kRequest ? st.ex.request.headers : st.ex.response->headers;
    for (size_t i = first; i < headers.size(); ++i) {
      const size_t n = headers[i].name.size() + headers[i].value.size();
      st.held -= n;
      held -= n;
    }
    headers.resize(std::min(headers.size(), first));
  }

  void try_complete(Stream& st) {
    if (st.request_ended && st.response_ended) {
      emit(st, ErrorKind::kNone, 0);
    } else if (st.refused && st.request_ended && !st.response_final) {
      emit(st, ErrorKind::kReset, 0);
    }
  }

  // Emits every open stream in the order the client opened them.
  void emit_all(ErrorKind error, uint32_t flags) {
    while (!streams.empty()) emit(streams.begin()->second, error, flags);
  }

  void fail(std::string_view anomaly) {
    context.counters.anomaly(anomaly);
    emit_all(ErrorKind::kProtocol, 0);
    done = true;
  }

  // ---- bodies and headers ----

  void append_body(Stream& st, Direction dir, const uint8_t* p, size_t n) {
    const bool request = dir == Direction::kToServer;
    std::string& body = request ? st.ex.request.body : st.ex.response->body;
    uint64_t& size = request ? st.ex.request.body_size : st.ex.response->body_size;
    const size_t room = options.max_body > body.size() ? options.max_body - body.size() : 0;
    const size_t keep = std::min(room, n);
    if (keep > 0) {
      body.append(reinterpret_cast<const char*>(p), keep);
      st.held += keep;
      held += keep;
    }
    if (keep < n) {
      const uint32_t flag =
          request ? traffic::kFlagRequestBodyTruncated : traffic::kFlagResponseBodyTruncated;
      if (!(st.ex.flags & flag)) {
        st.ex.flags |= flag;
        ++context.counters.bodies_truncated;
      }
    }
    size += n;
  }

  // The first DATA frame of a message: note the framing and size the body once.
  void start_body(Stream& st, Direction dir) {
    const bool request = dir == Direction::kToServer;
    Framing& framing = request ? st.ex.request.framing : st.ex.response->framing;
    if (framing == Framing::kHttp2) return;
    framing = Framing::kHttp2;
    const Headers& headers = request ? st.ex.request.headers : st.ex.response->headers;
    const traffic::Header* cl = traffic::find_header(headers, "content-length");
    if (cl == nullptr || cl->value.empty() || cl->value.size() > 18) return;
    uint64_t v = 0;
    for (char c : cl->value) {
      if (c < '0' || c > '9') return;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    std::string& body = request ? st.ex.request.body : st.ex.response->body;
    body.reserve(static_cast<size_t>(std::min<uint64_t>(v, options.max_body)));
  }

  void on_header(Side& s, const nghttp2_nv& nv) {
    s.block_decoded += nv.namelen + nv.valuelen + 32;
    if (s.block_target == nullptr || s.block_too_long) return;
    if (s.block_decoded > options.max_header_bytes) {
      s.block_too_long = true;
      return;
    }
    Headers& headers = s.block_role == Role::kRequest ? s.block_target->ex.request.headers
                                                      : s.block_target->ex.response->headers;
    headers.push_back({std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                       std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen)});
    s.block_target->held += nv.namelen + nv.valuelen;
    held += nv.namelen + nv.valuelen;
  }

  // Runs header block bytes through the direction's inflater; false when HPACK fails.
  bool inflate(Side& s, const uint8_t* p, size_t n, bool final) {
    nghttp2_hd_inflater* inflater = s.inflater.get();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t rv = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, p, n, final ? 1 : 0);
      if (rv < 0) return false;
      p += rv;
      n -= static_cast<size_t>(rv);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) on_header(s, nv);
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater);
        return true;
      }
      if (!(flags & NGHTTP2_HD_INFLATE_EMIT)) {
        // Without a field out, the inflater has taken all it can: more input is needed (or,
        // at the end of the block, it is incomplete).
        if (n == 0) return !final;
        if (rv == 0) return false;
      }
    }
  }

  // The client's SETTINGS_HEADER_TABLE_SIZE bounds the server's encoder and vice versa.
  void raise_table_limit(Side& t, uint64_t value) {
    const size_t cap = std::max(kMinTableCap, options.max_header_bytes);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(value, cap));
    if (want <= t.table_limit) return;
    t.table_limit = want;
    if (t.in_block) {
      t.table_pending = true;  // the inflater takes it between blocks only
      return;
    }
    if (t.inflater) nghttp2_hd_inflate_change_table_size(t.inflater.get(), t.table_limit);
  }

  void apply_setting(Direction from, uint32_t id, uint32_t value) {
    if (id == kSettingsHeaderTableSize) {
      raise_table_limit(sides[from == Direction::kToServer ? 1 : 0], value);
    }
  }

  // ---- header blocks ----

  void begin_block(Side& s, Direction dir) {
    s.in_block = true;
    s.block_stream = s.stream_id;
    s.block_end_stream = s.type == kHeaders && (s.flags & kEndStream);
    s.block_too_long = false;
    s.block_role = Role::kDiscard;
    s.block_target = nullptr;
    s.block_bytes = 0;
    s.block_decoded = 0;
    s.block_time = s.frame_time;
    if (s.type == kPushPromise) {
      context.counters.anomaly(dir == Direction::kToClient ? "http2.push_skipped"
                                                           : "http2.unexpected_push_promise");
      return;
    }
    const uint32_t id = s.stream_id;
    if (id % 2 == 0) {
      // Server-initiated: a pushed response (already counted at its PUSH_PROMISE), or a client
      // breaking the rules.
      if (dir == Direction::kToServer) context.counters.anomaly("http2.unknown_stream");
      return;
    }
    Stream* st = find(id);
    if (dir == Direction::kToServer) {
      if (st == nullptr) {
        if (id <= highest_client) return;  // closed: frames may trail a reset
        st = &open_stream(id, s.frame_time);
      } else if (st->request_ended || !s.block_end_stream) {
        // After END_STREAM, or a second block that is not trailers (which end the stream).
        context.counters.anomaly("http2.unexpected_data");
        return;
      }
      s.block_role = Role::kRequest;
      s.block_target = st;
      s.block_first = st->ex.request.headers.size();
      if (st->ex.request.headers.capacity() == 0) st->ex.request.headers.reserve(8);
    } else {
      if (st == nullptr) {
        if (id > highest_client) context.counters.anomaly("http2.unknown_stream");
        return;
      }
      if (st->response_ended || (st->response_final && !s.block_end_stream)) {
        context.counters.anomaly("http2.unexpected_data");
        return;
      }
      if (!st->ex.response) st->ex.response.emplace();
      s.block_role = Role::kResponse;
      s.block_target = st;
      s.block_first = st->ex.response->headers.size();
      if (st->ex.response->headers.capacity() == 0) st->ex.response->headers.reserve(8);
    }
  }

  static void fill_request(Exchange& ex) {
    traffic::Request& rq = ex.request;
    std::string_view path;
    bool has_path = false;
    for (const traffic::Header& h : rq.headers) {
      if (h.name.empty() || h.name[0] != ':') continue;
      if (h.name == ":method") {
        rq.method = h.value;
      } else if (h.name == ":path") {
        path = h.value;
        has_path = true;
      } else if (h.name == ":authority") {
        rq.authority = h.value;
      }
    }
    if (has_path) {
      rq.target = path;
    } else if (rq.method == "CONNECT") {
      rq.target = rq.authority;
    }
    if (rq.authority.empty()) {
      if (const traffic::Header* host = traffic::find_header(rq.headers, "host")) {
        rq.authority = host->value;
      }
    }
  }

  // -1 when the block has no three-digit :status.
  static int block_status(const Headers& headers, size_t first) {
    for (size_t i = first; i < headers.size(); ++i) {
      if (headers[i].name != ":status") continue;
      const std::string& v = headers[i].value;
      if (v.size() != 3) return -1;
      int status = 0;
      for (char c : v) {
        if (c < '0' || c > '9') return -1;
        status = status * 10 + (c - '0');
      }
      return status;
    }
    return -1;
  }

  // END_HEADERS: the block is complete.
  void finish_block(Side& s, int64_t time) {
    static constexpr uint8_t kNothing = 0;
    if (!inflate(s, &kNothing, 0, true)) {
      fail("http2.hpack_error");
      return;
    }
    s.in_block = false;
    if (s.table_pending) {
      s.table_pending = false;
      nghttp2_hd_inflate_change_table_size(s.inflater.get(), s.table_limit);
    }
    Stream* st = s.block_target;
    const Role role = s.block_role;
    s.block_target = nullptr;
    s.block_role = Role::kDiscard;
    if (st == nullptr) return;
    if (s.block_too_long || s.block_bytes > options.max_header_bytes) {
      context.counters.anomaly("http2.header_block_too_long");
      ++context.counters.messages_skipped;
      erase(*st);
      return;
    }
    if (role == Role::kRequest) {
      if (!st->request_headers) {
        st->request_headers = true;
        fill_request(st->ex);
      }
      if (s.block_end_stream) {
        st->request_ended = true;
        st->ex.time.request_end = time;
      }
    } else {
      traffic::Response& rs = *st->ex.response;
      if (!st->response_final) {
        const int status = block_status(rs.headers, s.block_first);
        if (status >= 100 && status < 200 && !s.block_end_stream) {
          // Interim (100 Continue, 103 Early Hints): not the response.
          drop_headers(*st, Role::kResponse, s.block_first);
          return;
        }
        if (status < 0) context.counters.anomaly("http2.bad_status");
        st->response_final = true;
        rs.status = std::max(status, 0);
        st->ex.time.response_start = s.block_time;
      }
      if (s.block_end_stream) {
        st->response_ended = true;
        st->ex.time.response_end = time;
      }
    }
    try_complete(*st);
  }

  // ---- control frames ----

  void on_rst_stream(uint32_t id, uint32_t code) {
    if (id % 2 == 0) return;  // pushed streams are not recorded
    Stream* st = find(id);
    if (st == nullptr) {
      if (id > highest_client) context.counters.anomaly("http2.unknown_stream");
      return;
    }
    // RFC 9113 8.1: a server may answer in full, then stop the upload with NO_ERROR.
    const bool clean = code == kNoError && st->response_ended;
    emit(*st, clean ? ErrorKind::kNone : ErrorKind::kReset, 0);
  }

  void on_goaway(Direction dir, uint32_t last) {
    if (dir != Direction::kToClient) return;
    goaway_last = std::min(goaway_last, last);
    for (auto it = streams.upper_bound(goaway_last); it != streams.end();) {
      Stream& st = it->second;
      st.refused = true;
      ++it;  // emit() erases st
      emit(st, ErrorKind::kReset, 0);
    }
  }

  // ---- the frame layer ----

  void begin_frame(Side& s, Direction dir) {
    const uint8_t* h = s.header.data();
    s.length = be24(h);
    s.type = h[3];
    s.flags = h[4];
    s.stream_id = be32(h + 5) & kStreamIdMask;
    s.prefix_need = 0;
    s.prefix_got = 0;
    s.ctrl_got = 0;
    s.data_stream = nullptr;
    if (s.in_block) {
      if (s.type != kContinuation || s.stream_id != s.block_stream) {
        fail("http2.bad_continuation");
        return;
      }
    } else if (s.type == kContinuation) {
      fail("http2.bad_continuation");
      return;
    }
    const bool padded = (s.flags & kPadded) != 0;
    switch (s.type) {
      case kData:
        if (s.stream_id == 0) return fail("http2.bad_stream_id");
        s.prefix_need = padded ? 1 : 0;
        break;
      case kHeaders:
        if (s.stream_id == 0) return fail("http2.bad_stream_id");
        s.prefix_need = (padded ? 1 : 0) + ((s.flags & kPriorityFlag) ? 5 : 0);
        break;
      case kPushPromise:
        if (s.stream_id == 0) return fail("http2.bad_stream_id");
        s.prefix_need = (padded ? 1 : 0) + 4;
        break;
      case kContinuation:
        break;
      case kPriority:
        if (s.stream_id == 0) return fail("http2.bad_stream_id");
        if (s.length != 5) context.counters.anomaly("http2.bad_priority");
        break;
      case kRstStream:
        if (s.stream_id == 0) return fail("http2.bad_stream_id");
        if (s.length != 4) return fail("http2.bad_frame_size");
        break;
      case kSettings:
        if (s.stream_id != 0) return fail("http2.bad_stream_id");
        if ((s.flags & kAck) ? s.length != 0 : s.length % 6 != 0) {
          return fail("http2.bad_frame_size");
        }
        break;
      case kPing:
        if (s.stream_id != 0) return fail("http2.bad_stream_id");
        if (s.length != 8) return fail("http2.bad_frame_size");
        break;
      case kGoaway:
        if (s.stream_id != 0) return fail("http2.bad_stream_id");
        if (s.length < 8) return fail("http2.bad_frame_size");
        break;
      case kWindowUpdate:
        if (s.length != 4) return fail("http2.bad_frame_size");
        break;
      default:  // unknown types are ignored (RFC 9113 4.1)
        break;
    }
    if (s.length < s.prefix_need) return fail("http2.bad_frame_size");
    if (s.prefix_need > 0) {
      s.phase = Phase::kPrefix;
    } else {
      start_content(s, dir, 0);
    }
  }

  void after_prefix(Side& s, Direction dir) {
    uint32_t pad = 0;
    if ((s.type == kData || s.type == kHeaders || s.type == kPushPromise) && (s.flags & kPadded)) {
      pad = s.prefix[0];
    }
    if (pad > s.length - s.prefix_need) return fail("http2.bad_padding");
    start_content(s, dir, pad);
  }

  void start_content(Side& s, Direction dir, uint32_t pad) {
    s.content_left = s.length - static_cast<uint32_t>(s.prefix_need) - pad;
    s.padding_left = pad;
    switch (s.type) {
      case kData:
        start_data(s, dir);
        break;
      case kHeaders:
      case kPushPromise:
        begin_block(s, dir);
        break;
      default:
        break;
    }
    s.phase = Phase::kContent;
    if (s.content_left == 0) content_done(s, dir);
  }

  void start_data(Side& s, Direction dir) {
    const uint32_t id = s.stream_id;
    if (id % 2 == 0) {
      if (dir == Direction::kToServer) context.counters.anomaly("http2.unknown_stream");
      return;  // pushed response bodies are skipped
    }
    Stream* st = find(id);
    if (st == nullptr) {
      if (id > highest_client) context.counters.anomaly("http2.unknown_stream");
      return;  // closed: DATA may trail a reset
    }
    const bool ok = dir == Direction::kToServer ? st->request_headers && !st->request_ended
                                                : st->response_final && !st->response_ended;
    if (!ok) {
      context.counters.anomaly("http2.unexpected_data");
      return;
    }
    start_body(*st, dir);
    s.data_stream = st;
  }

  void content(Side& s, Direction dir, const uint8_t* p, size_t n) {
    switch (s.type) {
      case kData:
        if (s.data_stream) append_body(*s.data_stream, dir, p, n);
        break;
      case kHeaders:
      case kPushPromise:
      case kContinuation:
        s.block_bytes += n;
        if (s.block_bytes > options.max_header_bytes) s.block_too_long = true;
        if (!inflate(s, p, n, false)) fail("http2.hpack_error");
        break;
      case kSettings:
        while (n > 0) {
          const size_t take = std::min(n, 6 - s.ctrl_got);
          std::memcpy(s.ctrl.data() + s.ctrl_got, p, take);
          s.ctrl_got += take;
          p += take;
          n -= take;
          if (s.ctrl_got == 6) {
            s.ctrl_got = 0;
            apply_setting(dir, be16(s.ctrl.data()), be32(s.ctrl.data() + 2));
          }
        }
        break;
      case kRstStream:
      case kGoaway:
      case kPing:
      case kWindowUpdate:
      case kPriority: {
        const size_t take = std::min(n, s.ctrl.size() - s.ctrl_got);
        std::memcpy(s.ctrl.data() + s.ctrl_got, p, take);
        s.ctrl_got += take;
        break;
      }
      default:
        break;
    }
  }

  void content_done(Side& s, Direction dir) {
    s.phase = Phase::kPadding;
    if (s.padding_left == 0) end_frame(s, dir);
  }

  void end_frame(Side& s, Direction dir) {
    s.phase = Phase::kHeader;
    s.header_got = 0;
    switch (s.type) {
      case kData:
        if (s.data_stream != nullptr && (s.flags & kEndStream)) {
          Stream& st = *s.data_stream;
          s.data_stream = nullptr;
          if (dir == Direction::kToServer) {
            st.request_ended = true;
            st.ex.time.request_end = now;
          } else {
            st.response_ended = true;
            st.ex.time.response_end = now;
          }
          try_complete(st);
        }
        s.data_stream = nullptr;
        break;
      case kHeaders:
      case kPushPromise:
      case kContinuation:
        if (s.flags & kEndHeaders) finish_block(s, now);
        break;
      case kRstStream:
        on_rst_stream(s.stream_id, be32(s.ctrl.data()));
        break;
      case kGoaway:
        on_goaway(dir, be32(s.ctrl.data()) & kStreamIdMask);
        break;
      default:
        break;
    }
  }

  void data(Direction dir, std::string_view bytes, int64_t time) {
    if (done) return;
    Side& s = sides[dir == Direction::kToServer ? 0 : 1];
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t n = bytes.size();
    now = time;
    while (n > 0 && !done) {
      switch (s.phase) {
        case Phase::kPreface: {
          const size_t take = std::min(n, kPreface.size() - s.preface_got);
          if (std::memcmp(p, kPreface.data() + s.preface_got, take) != 0) {
            fail("http2.bad_preface");
            return;
          }
          s.preface_got += take;
          p += take;
          n -= take;
          if (s.preface_got == kPreface.size()) s.phase = Phase::kHeader;
          break;
        }
        case Phase::kHeader: {
          if (s.header_got == 0) s.frame_time = time;
          const size_t take = std::min(n, kFrameHeader - s.header_got);
          std::memcpy(s.header.data() + s.header_got, p, take);
          s.header_got += take;
          p += take;
          n -= take;
          if (s.header_got == kFrameHeader) begin_frame(s, dir);
          break;
        }
        case Phase::kPrefix: {
          const size_t take = std::min(n, s.prefix_need - s.prefix_got);
          std::memcpy(s.prefix.data() + s.prefix_got, p, take);
          s.prefix_got += take;
          p += take;
          n -= take;
          if (s.prefix_got == s.prefix_need) after_prefix(s, dir);
          break;
        }
        case Phase::kContent: {
          const size_t take = std::min<size_t>(n, s.content_left);
          content(s, dir, p, take);
          p += take;
          n -= take;
          s.content_left -= static_cast<uint32_t>(take);
          if (s.content_left == 0 && !done) content_done(s, dir);
          break;
        }
        case Phase::kPadding: {
          const size_t take = std::min<size_t>(n, s.padding_left);
          p += take;
          n -= take;
          s.padding_left -= static_cast<uint32_t>(take);
          if (s.padding_left == 0) end_frame(s, dir);
          break;
        }
      }
    }
  }

  void gap(Direction /*dir*/) {
    if (done) return;
    context.counters.anomaly("http2.gap");
    emit_all(ErrorKind::kTruncated, traffic::kFlagGap);
    done = true;
  }

  void end(Direction dir, bool reset) {
    Side& s = sides[dir == Direction::kToServer ? 0 : 1];
    s.ended = true;
    s.reset = s.reset || reset;
  }

  void finish(bool end_of_capture) {
    if (done) return;
    while (!streams.empty()) {
      Stream& st = streams.begin()->second;
      // The direction the stream still waits on.
      const Side& waited = sides[st.request_ended ? 1 : 0];
      ErrorKind error;
      if (st.refused) {
        error = ErrorKind::kReset;
      } else if (waited.ended) {
        error = waited.reset ? ErrorKind::kReset : ErrorKind::kTruncated;
      } else {
        error = end_of_capture ? ErrorKind::kCancelled : ErrorKind::kTruncated;
      }
      emit(st, error, 0);
    }
    done = true;
  }

  size_t buffered() const {
    size_t n = held + streams.size() * sizeof(Stream);
    for (const Side& s : sides) {
      if (s.inflater) n += nghttp2_hd_inflate_get_dynamic_table_size(s.inflater.get());
    }
    return n;
  }

  AnalyzerContext context;
  const AnalyzerOptions& options;
  std::array<Side, 2> sides;           // [0] client → server, [1] server → client
  std::map<uint32_t, Stream> streams;  // open client streams; ids grow with seq
  Stream* cache = nullptr;             // the last stream found (DATA comes in runs)
  uint32_t cache_id = 0;
  uint32_t highest_client = 0;  // the highest stream id the client opened
  uint32_t goaway_last = kStreamIdMask;
  uint64_t next_seq = 0;
  size_t held = 0;
  int64_t now = traffic::kNoTime;  // the time of the current data() call
  bool done = false;
};

Http2Analyzer::Http2Analyzer(AnalyzerContext context)
    : impl_(std::make_unique<Impl>(std::move(context))) {}

Http2Analyzer::Http2Analyzer(AnalyzerContext context, H2cUpgrade upgrade)
    : impl_(std::make_unique<Impl>(std::move(context))) {
  Impl& m = *impl_;
  if (m.done) return;
  // Stream 1 is the upgrade request, which the client has finished sending.
  Impl::Stream& st = m.streams[1];
  st.ex = std::move(upgrade.exchange);
  st.ex.stream = 1;
  st.ex.protocol = traffic::Protocol::kHttp2;
  st.ex.response.reset();
  st.request_headers = true;
  st.request_ended = true;
  for (const traffic::Header& h : st.ex.request.headers) st.held += h.name.size() + h.value.size();
  st.held += st.ex.request.body.size();
  m.held += st.held;
  m.highest_client = 1;
  m.next_seq = st.ex.seq + 1;
  if (!upgrade.http2_settings.empty()) {
    std::string payload;
    if (!decode_base64url(upgrade.http2_settings, payload) || payload.size() % 6 != 0) {
      m.context.counters.anomaly("http2.bad_upgrade_settings");
      return;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
      m.apply_setting(Direction::kToServer, be16(p + i), be32(p + i + 2));
    }
  }
}

Http2Analyzer::~Http2Analyzer() = default;

void Http2Analyzer::data(Direction dir, std::string_view bytes, int64_t time) {
  impl_->data(dir, bytes, time);
}

void Http2Analyzer::gap(Direction dir, uint64_t /*length*/, int64_t /*time*/) { impl_->gap(dir); }

void Http2Analyzer::end(Direction dir, bool reset, int64_t /*time*/) { impl_->end(dir, reset); }

void Http2Analyzer::finish(int64_t /*time*/, bool end_of_capture) { impl_->finish(end_of_capture); }

Analyzer::State Http2Analyzer::state() const { return impl_->done ? State::kDone : State::kActive; }

size_t Http2Analyzer::buffered() const { return impl_->buffered(); }

}  // namespace twin::capture
