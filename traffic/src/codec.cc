#include "codec.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twin/traffic/small_copy.h"

namespace twin::traffic::codec {
namespace {

enum TimeBit : uint8_t {
  kRequestStart = 1,
  kRequestEnd = 2,
  kResponseStart = 4,
  kResponseEnd = 8,
  kIntended = 16,
};

// Writes through a pointer into a buffer that encode_record() has sized to an upper bound once:
// a record is some thirty small fields, and appending each to a std::string (a capacity check
// and a call per field) was most of the encoder's time. The bytes are those of put_varint and
// put_bytes in codec.h.
// Most fields of a record are a few bytes long (methods, header names and values, reasons):
// copied with copy_small() (twin/traffic/small_copy.h) and compared with equal_small() instead
// of calls to memcpy and memcmp, which were a fifth of encoding a record.
struct Cursor {
  char* p;
  void byte(uint8_t b) { *p++ = static_cast<char>(b); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  void raw(const void* data, size_t n) {
    traffic::copy_small(p, static_cast<const char*>(data), n);
    p += n;
  }
  void bytes(std::string_view s) {
    varint(s.size());
    raw(s.data(), s.size());
  }
};
constexpr size_t kVarintMax = 10;

void put_endpoint(Cursor& out, const Endpoint& e) {
  const uint8_t family = (e.family == 4 || e.family == 6) ? e.family : 0;
  out.byte(family);
  if (family == 0) return;
  out.raw(e.address.data(), family == 4 ? 4 : 16);
  out.varint(e.port);
}

bool get_endpoint(Input& in, Endpoint& e) {
  if (!in.byte(e.family)) return false;
  e.address = {};
  e.port = 0;
  if (e.family == 0) return true;
  if (e.family != 4 && e.family != 6) return false;
  return in.raw(e.address.data(), e.family == 4 ? 4 : 16) && in.small(e.port, 0xffff);
}

// Common header names, stored as a one-byte code instead of their text: fewer bytes for zstd
// to compress and decompress and for the decoder to copy. Part of format 1.0 (docs/FORMAT.md):
// append only. Code 2k+1 is kHeaderNames[k] as written, code 2k+2 the same name in lowercase
// (HTTP/2 and many HTTP/1 clients lowercase names); code 0 means the name follows as bytes.
constexpr std::string_view kHeaderNames[] = {
    ":authority",
    ":method",
    ":path",
    ":scheme",
    ":status",
    ":protocol",
    "Accept",
    "Accept-Charset",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Ranges",
    "Access-Control-Allow-Origin",
    "Age",
    "Allow",
    "Authorization",
    "Cache-Control",
    "Connection",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Location",
    "Content-Range",
    "Content-Type",
    "Cookie",
    "Date",
    "ETag",
    "Expect",
    "Expires",
    "Forwarded",
    "From",
    "Host",
    "If-Match",
    "If-Modified-Since",
    "If-None-Match",
    "If-Range",
    "If-Unmodified-Since",
    "Keep-Alive",
    "Last-Modified",
    "Link",
    "Location",
    "Max-Forwards",
    "Origin",
    "Pragma",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Range",
    "Referer",
    "Refresh",
    "Retry-After",
    "Server",
    "Set-Cookie",
    "Strict-Transport-Security",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "User-Agent",
    "Vary",
    "Via",
    "WWW-Authenticate",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Request-Id",
    "X-Real-IP",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-Requested-With",
    "X-Api-Key",
    "X-Correlation-Id",
    "Traceparent",
    "Tracestate",
    "Grpc-Status",
    "Grpc-Message",
    "Grpc-Encoding",
    "Grpc-Accept-Encoding",
    "Grpc-Timeout",
    "Content-Security-Policy",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Sec-Fetch-Dest",
    "Sec-Ch-Ua",
    "Sec-Ch-Ua-Mobile",
    "Sec-Ch-Ua-Platform",
    "Upgrade-Insecure-Requests",
    "DNT",
    "Priority",
    "Alt-Svc",
    "Timing-Allow-Origin",
    "Server-Timing",
    "X-Response-Time",
    "X-Powered-By",
};
constexpr size_t kHeaderNameCount = sizeof(kHeaderNames) / sizeof(kHeaderNames[0]);

struct NameTable {
  std::vector<std::string> by_code;  // index code-1
  std::unordered_map<std::string_view, uint32_t> codes;
  NameTable() {
    by_code.reserve(2 * kHeaderNameCount);
    for (auto name : kHeaderNames) {
      by_code.emplace_back(name);
      std::string lower(name);
      for (auto& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      by_code.push_back(std::move(lower));
    }
    // The first code of a spelling wins (pseudo-headers are lowercase already).
    for (size_t i = by_code.size(); i-- > 0;) codes[by_code[i]] = static_cast<uint32_t>(i + 1);
  }
};

const NameTable& name_table() {
  static const NameTable table;
  return table;
}

// Header lists repeat their order from exchange to exchange, so the code used at the same
// position last time is tried before the hash lookup.
uint32_t name_code(const NameTable& table, std::string_view name, size_t slot) {
  thread_local std::array<uint32_t, 64> recent{};
  uint32_t& guess = recent[slot % recent.size()];
  if (guess != 0 && equal_small(table.by_code[guess - 1], name)) return guess;
  auto it = table.codes.find(name);
  const uint32_t code = it == table.codes.end() ? 0 : it->second;
  if (code != 0) guess = code;
  return code;
}

/// `slots` picks the guesses of name_code: requests and responses keep theirs apart.
void put_headers(Cursor& out, const Headers& headers, size_t slots) {
  const auto& table = name_table();  // once: a call and a guard check per header were 5 %
  out.varint(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& h = headers[i];
    const uint32_t code = name_code(table, h.name, slots + i % 32);
    out.varint(code);
    if (code == 0) out.bytes(h.name);
    out.bytes(h.value);
  }
}

size_t headers_bound(const Headers& headers) {
  size_t n = kVarintMax;
  for (const auto& h : headers) n += 3 * kVarintMax + h.name.size() + h.value.size();
  return n;
}

bool get_headers(Input& in, Headers& headers) {
  uint64_t n;
  // Each header takes at least two bytes, which bounds n by what is left before any allocation.
  if (!in.varint(n) || n > in.left() / 2) return false;
  // Readers reuse one Exchange for every record; header counts vary from record to record, and
  // a plain resize would free the strings of the headers it drops and allocate new ones when
  // the count grows again. Dropped headers wait here with their buffers instead.
  thread_local Headers spare;
  while (headers.size() > n) {
    spare.push_back(std::move(headers.back()));
    headers.pop_back();
  }
  while (headers.size() < n && !spare.empty()) {
    headers.push_back(std::move(spare.back()));
    spare.pop_back();
  }
  if (spare.size() > 256) spare.resize(256);
  headers.resize(n);
  const auto& table = name_table();
  for (auto& h : headers) {
    uint64_t code;
    if (!in.varint(code) || code > table.by_code.size()) return false;
    if (code == 0) {
      if (!in.bytes(h.name)) return false;
    } else {
      overwrite(h.name, table.by_code[code - 1]);
    }
    if (!in.bytes(h.value)) return false;
  }
  return true;
}

template <typename Enum>
Enum clamp_enum(uint8_t raw, Enum max, Enum fallback) {
  // Values added by a newer minor version read as the fallback rather than failing the record.
  return raw <= static_cast<uint8_t>(max) ? static_cast<Enum>(raw) : fallback;
}

bool get_body(Input& in, std::string& body, uint64_t& body_size) {
  uint64_t extra;
  if (!in.bytes(body) || !in.varint(extra)) return false;
  body_size = body.size() + extra;
  return body_size >= extra;  // no wrap-around
}

}  // namespace

size_t record_bound(const Exchange& e) {
  size_t n = 16 * kVarintMax + 8 + 2 * (1 + 16 + kVarintMax);
  n += e.target.size() + e.request.method.size() + e.request.target.size() +
       e.request.authority.size() + e.request.body.size() + 5 * kVarintMax;
  n += headers_bound(e.request.headers);
  if (e.response) {
    n += 4 * kVarintMax + 2 + e.response->reason.size() + e.response->body.size();
    n += headers_bound(e.response->headers);
  }
  return n;
}

std::vector<std::string_view> header_name_table() {
  return {std::begin(kHeaderNames), std::end(kHeaderNames)};
}

void encode_record(const Exchange& e, int64_t& prev_start, std::string& buffer) {
  const size_t start = buffer.size();
  buffer.resize(start + record_bound(e));
  char* end = encode_record(e, prev_start, buffer.data() + start);
  buffer.resize(static_cast<size_t>(end - buffer.data()));
}

char* encode_record(const Exchange& e, int64_t& prev_start, char* to) {
  Cursor out{to};
  out.varint(e.id);
  out.varint(e.origin_id);
  out.varint(e.session);
  out.varint(e.seq);
  out.varint(e.stream);
  out.byte(static_cast<uint8_t>(e.protocol));
  out.byte(static_cast<uint8_t>(e.error));
  out.varint(e.flags);
  out.bytes(e.target);

  const Timing& t = e.time;
  uint8_t mask = 0;
  if (t.request_start != kNoTime) mask |= kRequestStart;
  if (t.request_end != kNoTime) mask |= kRequestEnd;
  if (t.response_start != kNoTime) mask |= kResponseStart;
  if (t.response_end != kNoTime) mask |= kResponseEnd;
  if (t.intended != kNoTime) mask |= kIntended;
  out.byte(static_cast<uint8_t>(mask));
  // Instants are deltas (wrapping arithmetic, so any pair of int64 values round-trips): the
  // start against the previous record's start, the others against the start.
  const uint64_t base = (mask & kRequestStart) ? static_cast<uint64_t>(t.request_start) : 0;
  auto delta = [](int64_t v, uint64_t from) {
    return zigzag(static_cast<int64_t>(static_cast<uint64_t>(v) - from));
  };
  if (mask & kRequestStart) {
    out.varint(delta(t.request_start, static_cast<uint64_t>(prev_start)));
    prev_start = t.request_start;
  }
  if (mask & kRequestEnd) out.varint(delta(t.request_end, base));
  if (mask & kResponseStart) out.varint(delta(t.response_start, base));
  if (mask & kResponseEnd) out.varint(delta(t.response_end, base));
  if (mask & kIntended) out.varint(delta(t.intended, base));

  put_endpoint(out, e.client);
  put_endpoint(out, e.server);

  const Request& rq = e.request;
  out.bytes(rq.method);
  out.bytes(rq.target);
  out.bytes(rq.authority);
  out.byte(static_cast<uint8_t>(rq.framing));
  put_headers(out, rq.headers, 0);
  out.bytes(rq.body);
  out.varint(rq.body_size > rq.body.size() ? rq.body_size - rq.body.size() : 0);

  out.byte(e.response ? 1 : 0);
  if (e.response) {
    const Response& rs = *e.response;
    out.varint(static_cast<uint64_t>(static_cast<uint32_t>(rs.status)));
    out.bytes(rs.reason);
    out.byte(static_cast<uint8_t>(rs.framing));
    put_headers(out, rs.headers, 32);
    out.bytes(rs.body);
    out.varint(rs.body_size > rs.body.size() ? rs.body_size - rs.body.size() : 0);
  }
  return out.p;
}

bool decode_record(const char* data, size_t size, int64_t& prev_start, Exchange& e,
                   bool request_only) {
  Input in(data, size);
  uint8_t protocol, error, mask;
  if (!in.varint(e.id) || !in.varint(e.origin_id) || !in.varint(e.session) || !in.varint(e.seq) ||
      !in.small(e.stream, 0xffffffffu) || !in.byte(protocol) || !in.byte(error) ||
      !in.small(e.flags, 0xffffffffu) || !in.bytes(e.target) || !in.byte(mask)) {
    return false;
  }
  e.protocol = clamp_enum(protocol, Protocol::kHttp2, Protocol::kUnknown);
  e.error = clamp_enum(error, ErrorKind::kOther, ErrorKind::kOther);

  Timing& t = e.time;
  t = Timing{};
  uint64_t v;
  uint64_t base = 0;
  auto undelta = [](uint64_t z, uint64_t from) {
    return static_cast<int64_t>(static_cast<uint64_t>(unzigzag(z)) + from);
  };
  if (mask & kRequestStart) {
    if (!in.varint(v)) return false;
    t.request_start = undelta(v, static_cast<uint64_t>(prev_start));
    prev_start = t.request_start;
    base = static_cast<uint64_t>(t.request_start);
  }
  for (auto [bit, field] :
       {std::pair{kRequestEnd, &t.request_end}, std::pair{kResponseStart, &t.response_start},
        std::pair{kResponseEnd, &t.response_end}, std::pair{kIntended, &t.intended}}) {
    if (mask & bit) {
      if (!in.varint(v)) return false;
      *field = undelta(v, base);
    }
  }

  if (!get_endpoint(in, e.client) || !get_endpoint(in, e.server)) return false;

  Request& rq = e.request;
  uint8_t framing;
  if (!in.bytes(rq.method) || !in.bytes(rq.target) || !in.bytes(rq.authority) ||
      !in.byte(framing) || !get_headers(in, rq.headers) || !get_body(in, rq.body, rq.body_size)) {
    return false;
  }
  rq.framing = clamp_enum(framing, Framing::kHttp2, Framing::kNone);

  uint8_t has_response;
  if (!in.byte(has_response) || has_response > 1) return false;
  if (!has_response) {
    e.response.reset();
    return true;  // trailing bytes are reserved for fields added by later minor versions
  }
  Response& rs = e.response ? *e.response : e.response.emplace();
  if (request_only) {
    rs = Response{};  // said to be there, not read
    return true;
  }
  uint32_t status;
  if (!in.small(status, 0xffffffffu) || !in.bytes(rs.reason) || !in.byte(framing) ||
      !get_headers(in, rs.headers) || !get_body(in, rs.body, rs.body_size)) {
    return false;
  }
  rs.status = static_cast<int>(status);
  rs.framing = clamp_enum(framing, Framing::kHttp2, Framing::kNone);
  return true;
}

}  // namespace twin::traffic::codec
