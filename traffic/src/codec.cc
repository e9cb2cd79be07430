#include "codec.h"

namespace twin::traffic::codec {
namespace {

enum TimeBit : uint8_t {
  kRequestStart = 1,
  kRequestEnd = 2,
  kResponseStart = 4,
  kResponseEnd = 8,
  kIntended = 16,
};

void put_endpoint(std::string& out, const Endpoint& e) {
  const uint8_t family = (e.family == 4 || e.family == 6) ? e.family : 0;
  out.push_back(static_cast<char>(family));
  if (family == 0) return;
  out.append(reinterpret_cast<const char*>(e.address.data()), family == 4 ? 4 : 16);
  put_varint(out, e.port);
}

bool get_endpoint(Input& in, Endpoint& e) {
  if (!in.byte(e.family)) return false;
  e.address = {};
  e.port = 0;
  if (e.family == 0) return true;
  if (e.family != 4 && e.family != 6) return false;
  return in.raw(e.address.data(), e.family == 4 ? 4 : 16) && in.small(e.port, 0xffff);
}

void put_headers(std::string& out, const Headers& headers) {
  put_varint(out, headers.size());
  for (const auto& h : headers) {
    put_bytes(out, h.name);
    put_bytes(out, h.value);
  }
}

bool get_headers(Input& in, Headers& headers) {
  uint64_t n;
  // Each header takes at least two bytes, which bounds n by what is left before any allocation.
  if (!in.varint(n) || n > in.left() / 2) return false;
  headers.resize(n);
  for (auto& h : headers) {
    if (!in.bytes(h.name) || !in.bytes(h.value)) return false;
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

void encode_record(const Exchange& e, int64_t& prev_start, std::string& out) {
  put_varint(out, e.id);
  put_varint(out, e.origin_id);
  put_varint(out, e.session);
  put_varint(out, e.seq);
  put_varint(out, e.stream);
  out.push_back(static_cast<char>(e.protocol));
  out.push_back(static_cast<char>(e.error));
  put_varint(out, e.flags);
  put_bytes(out, e.target);

  const Timing& t = e.time;
  uint8_t mask = 0;
  if (t.request_start != kNoTime) mask |= kRequestStart;
  if (t.request_end != kNoTime) mask |= kRequestEnd;
  if (t.response_start != kNoTime) mask |= kResponseStart;
  if (t.response_end != kNoTime) mask |= kResponseEnd;
  if (t.intended != kNoTime) mask |= kIntended;
  out.push_back(static_cast<char>(mask));
  // Instants are deltas (wrapping arithmetic, so any pair of int64 values round-trips): the
  // start against the previous record's start, the others against the start.
  const uint64_t base = (mask & kRequestStart) ? static_cast<uint64_t>(t.request_start) : 0;
  auto delta = [](int64_t v, uint64_t from) {
    return zigzag(static_cast<int64_t>(static_cast<uint64_t>(v) - from));
  };
  if (mask & kRequestStart) {
    put_varint(out, delta(t.request_start, static_cast<uint64_t>(prev_start)));
    prev_start = t.request_start;
  }
  if (mask & kRequestEnd) put_varint(out, delta(t.request_end, base));
  if (mask & kResponseStart) put_varint(out, delta(t.response_start, base));
  if (mask & kResponseEnd) put_varint(out, delta(t.response_end, base));
  if (mask & kIntended) put_varint(out, delta(t.intended, base));

  put_endpoint(out, e.client);
  put_endpoint(out, e.server);

  const Request& rq = e.request;
  put_bytes(out, rq.method);
  put_bytes(out, rq.target);
  put_bytes(out, rq.authority);
  out.push_back(static_cast<char>(rq.framing));
  put_headers(out, rq.headers);
  put_bytes(out, rq.body);
  put_varint(out, rq.body_size > rq.body.size() ? rq.body_size - rq.body.size() : 0);

  out.push_back(e.response ? 1 : 0);
  if (e.response) {
    const Response& rs = *e.response;
    put_varint(out, static_cast<uint64_t>(static_cast<uint32_t>(rs.status)));
    put_bytes(out, rs.reason);
    out.push_back(static_cast<char>(rs.framing));
    put_headers(out, rs.headers);
    put_bytes(out, rs.body);
    put_varint(out, rs.body_size > rs.body.size() ? rs.body_size - rs.body.size() : 0);
  }
}

bool decode_record(const char* data, size_t size, int64_t& prev_start, Exchange& e) {
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
