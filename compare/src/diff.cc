// Response differences by field path, and per-field noise counts.
//
// Bodies are read into the flat tape of tape.h (JSON, MessagePack, CBOR or protobuf, by the media
// type), not into nlohmann::json: with a noise-prone field (a timestamp, a request id) nearly every
// pair differs somewhere, so parsing is the common path (see tape.h).

#include "twin/compare/diff.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "tape.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/rpc.h"

namespace twin::compare {
namespace {

using tape::Doc;
using tape::is_digit;
using tape::is_json_ws;
using tape::Kind;
using tape::kInteger;
using tape::Node;
using tape::unescape_at;

// Containers deeper than this are compared as a whole whatever max_depth says: the descent that
// names paths recurses, and the stack must not depend on the input.
constexpr size_t kMaxDescent = 1000;
constexpr std::string_view kBodyPath = "$body";
constexpr std::string_view kHeaderPrefix = "header.";

// ---- text helpers

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

// `needle` is lower case.
bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

// Object keys that are data, not field names — ids and e-mail addresses used as map keys, or
// keys so long no schema has them — are named by their kind: a report never holds a value, and
// a key of 500 KB must not be copied into the path of each of a million array elements.
constexpr size_t kMaxKey = 64;
std::string_view key_kind(std::string_view key) {
  if (key.size() > kMaxKey) return "{long-key}";
  if (!key.empty() &&
      std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "{id}";
  }
  if (key.find('@') != std::string_view::npos) return "{email}";
  return {};
}

// Appends `["key"]`, the key JSON-escaped.
void append_quoted(std::string& path, std::string_view key) {
  path += "[\"";
  for (const char c : key) {
    switch (c) {
      case '"':
        path += "\\\"";
        break;
      case '\\':
        path += "\\\\";
        break;
      case '\n':
        path += "\\n";
        break;
      case '\r':
        path += "\\r";
        break;
      case '\t':
        path += "\\t";
        break;
      case '\b':
        path += "\\b";
        break;
      case '\f':
        path += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          path += "\\u00";
          path += kHex[(c >> 4) & 0xF];
          path += kHex[c & 0xF];
        } else {
          path += c;
        }
    }
  }
  path += "\"]";
}

// Appends an object member's path component: `.key`, `["{kind}"]` for a key that is data, or
// `["key"]`.
void append_key(std::string& path, std::string_view key) {
  if (std::string_view kind = key_kind(key); !kind.empty()) {
    path += "[\"";
    path += kind;
    path += "\"]";
    return;
  }
  if (!key.empty() && std::all_of(key.begin(), key.end(), is_ident)) {
    path += '.';
    path += key;
    return;
  }
  append_quoted(path, key);
}

// Bytes of a name (a protobuf field's, an XML element's or attribute's, "@id", "#text") that a
// path shows after a '.': identifiers, '-', '@', '#' and UTF-8's bytes past ASCII. Others ('.'
// in an XML name, a quote) are quoted.
bool is_name_byte(char c) {
  return is_ident(c) || c == '-' || c == '@' || c == '#' || static_cast<unsigned char>(c) >= 0x80;
}

// ---- paths and ignore globs

// Splits a normalised path, or an ignore pattern, into components: `$.a["b.c"][*]` gives
// {"$", "a", "b.c", "[*]"}; `header.<name>` gives {"header", "<name>"}. False when a `["` is
// not closed.
bool split_path(std::string_view p, std::vector<std::string>& comps) {
  comps.clear();
  if (p.starts_with(kHeaderPrefix)) {
    comps.emplace_back("header");
    comps.emplace_back(p.substr(kHeaderPrefix.size()));
    return true;
  }
  size_t i = 0;
  const auto read_plain = [&] {
    size_t j = i;
    while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
    comps.emplace_back(p.substr(i, j - i));
    i = j;
  };
  read_plain();
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      read_plain();
    } else if (p.compare(i, 3, "[*]") == 0) {
      comps.emplace_back("[*]");
      i += 3;
    } else if (p.compare(i, 2, "[\"") == 0) {
      std::string key;
      i += 2;
      while (i < p.size() && p[i] != '"') {
        if (p[i] == '\\') {
          if (!unescape_at(p, i, key)) return false;
        } else {
          key += p[i++];
        }
      }
      if (i + 1 >= p.size() || p[i + 1] != ']') return false;
      i += 2;
      comps.push_back(std::move(key));
    } else {
      // Any other bracket (a user's `[0]`) is kept as written; it never matches a path.
      const size_t close = p.find(']', i);
      if (close == std::string_view::npos) return false;
      comps.emplace_back(p.substr(i, close + 1 - i));
      i = close + 1;
    }
  }
  return true;
}

// `*` matches any run of characters within the component.
bool glob(std::string_view pat, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pat.size() && pat[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

// True when the pattern matches the path or, unless `whole`, one of its ancestors (an ignored
// path ignores its subtree, so running out of pattern first is a match; an unordered pattern
// names arrays, and matches only the whole path).
bool match(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& path,
           size_t qi, bool whole = false) {
  if (pi == pat.size()) return !whole || qi == path.size();
  if (pat[pi] == "**") {
    for (size_t k = qi; k <= path.size(); ++k) {
      if (match(pat, pi + 1, path, k, whole)) return true;
    }
    return false;
  }
  if (qi == path.size()) return false;
  return glob(pat[pi], path[qi]) && match(pat, pi + 1, path, qi + 1, whole);
}

// ---- content decoding

// The codings of a Content-Encoding header, identity left out; nullopt when one is unknown.
std::optional<std::vector<traffic::Coding>> codings_of(const traffic::Headers& headers) {
  std::vector<traffic::Coding> codings;
  const traffic::Header* h = traffic::find_header(headers, "content-encoding");
  if (h == nullptr) return codings;
  auto parsed = traffic::parse_content_encoding(h->value);
  if (!parsed) return std::nullopt;
  for (const traffic::Coding c : *parsed) {
    if (c != traffic::Coding::kIdentity) codings.push_back(c);
  }
  return codings;
}

// The bytes to compare: `body` decoded into `buf` when it is encoded (gzip, deflate, br, zstd,
// or a list of them: a candidate that compresses at another level, or with another coding,
// answers the same). False (with `body` as is) when it cannot be decoded, or decodes past
// `limit`: a small body that inflates to gigabytes must not grow memory past max_body.
bool decode(std::string_view body, const traffic::Headers& headers, size_t limit, std::string& buf,
            std::string_view& result) {
  result = body;
  const auto codings = codings_of(headers);
  if (!codings) return false;
  if (codings->empty()) return true;
  buf.clear();
  if (!traffic::decode_all(*codings, body, limit, buf)) return false;
  result = buf;
  return true;
}

// ---- body formats

// kProtobuf: one message (application/x-protobuf and kin); kRpcProto and kRpcJson: messages in
// length-prefixed frames (gRPC, gRPC-Web, Connect streaming) of protobuf or of JSON.
enum class Format : uint8_t {
  kUnknown,
  kJson,
  kMsgpack,
  kCbor,
  kProtobuf,
  kRpcProto,
  kRpcJson,
  kXml,
  kThrift,
  kJsonLines,    // JSON Lines, NDJSON
  kJsonSeq,      // JSON text sequences (RFC 7464)
  kEventStream,  // server-sent events
};

// A Content-Type's subtype, lower case, without parameters ("grpc-web+proto"); empty without one.
std::string subtype_of(const traffic::Headers& headers) {
  const traffic::Header* ct = traffic::find_header(headers, "content-type");
  if (ct == nullptr) return {};
  const std::string_view type = trim(std::string_view(ct->value).substr(0, ct->value.find(';')));
  const size_t slash = type.find('/');
  if (slash == std::string_view::npos) return {};
  std::string sub(type.substr(slash + 1));
  std::transform(sub.begin(), sub.end(), sub.begin(), ascii_lower);
  return sub;
}

// The format a body's Content-Type declares: MessagePack (msgpack, x-msgpack, vnd.msgpack,
// *+msgpack), CBOR (cbor, cbor-seq, *+cbor, *+cbor-seq), a protobuf message (x-protobuf,
// protobuf, vnd.google.protobuf, x-google-protobuf, x-protobuffer, proto, *+protobuf,
// *+x-protobuf), framed RPC messages (grpc, grpc-web and grpc-web-text with +proto or +json,
// connect+proto, connect+json), XML (xml, *+xml: text/xml, application/soap+xml, atom+xml),
// Thrift (x-thrift, vnd.apache.thrift.binary, vnd.apache.thrift.compact; .json is JSON), JSON
// Lines (x-ndjson, ndjson, jsonl, x-jsonl, jsonlines, x-jsonlines), JSON text sequences
// (json-seq, *+json-seq), server-sent events (event-stream), else JSON by "json" anywhere in it.
Format declared_format(const traffic::Headers& headers) {
  const std::string sub = subtype_of(headers);
  const std::string_view st = sub;
  if (st == "msgpack" || st == "x-msgpack" || st == "vnd.msgpack" || st.ends_with("+msgpack")) {
    return Format::kMsgpack;
  }
  if (st == "cbor" || st == "cbor-seq" || st.ends_with("+cbor") || st.ends_with("+cbor-seq")) {
    return Format::kCbor;
  }
  if (st == "x-protobuf" || st == "protobuf" || st == "vnd.google.protobuf" ||
      st == "x-google-protobuf" || st == "x-protobuffer" || st == "proto" ||
      st.ends_with("+protobuf") || st.ends_with("+x-protobuf")) {
    return Format::kProtobuf;
  }
  for (const std::string_view rpc : {"grpc", "grpc-web", "grpc-web-text"}) {
    if (st == rpc || (st.starts_with(rpc) && st.substr(rpc.size()) == "+proto")) {
      return Format::kRpcProto;
    }
    if (st.starts_with(rpc) && st.substr(rpc.size()) == "+json") return Format::kRpcJson;
  }
  if (st == "connect+proto") return Format::kRpcProto;
  if (st == "connect+json") return Format::kRpcJson;
  if (st == "xml" || st.ends_with("+xml")) return Format::kXml;
  if (st == "x-thrift" || st == "vnd.apache.thrift.binary" || st == "vnd.apache.thrift.compact") {
    return Format::kThrift;
  }
  if (st == "x-ndjson" || st == "ndjson" || st == "jsonl" || st == "x-jsonl" || st == "jsonlines" ||
      st == "x-jsonlines") {
    return Format::kJsonLines;
  }
  if (st == "json-seq" || st.ends_with("+json-seq")) return Format::kJsonSeq;
  if (st == "event-stream") return Format::kEventStream;
  const traffic::Header* ct = traffic::find_header(headers, "content-type");
  return ct != nullptr && icontains(ct->value, "json") ? Format::kJson : Format::kUnknown;
}

bool starts_like_json(std::string_view body) {
  size_t i = 0;
  while (i < body.size() && is_json_ws(body[i])) ++i;
  return i < body.size() && (body[i] == '{' || body[i] == '[');
}

// An XML declaration first (after a byte order mark and white space): an XML document, whatever
// its media type failed to say.
bool starts_like_xml(std::string_view body) {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  size_t i = 0;
  while (i < body.size() && is_json_ws(body[i])) ++i;
  return body.substr(i).starts_with("<?xml");
}

// The messages of a length-prefixed body (gRPC, gRPC-Web, Connect streaming: a flags byte, a
// 32-bit big-endian length, the message) into `out`, one after the other, their lengths in
// `lengths`. Frames flagged 0x80 (gRPC-Web trailers) or 0x02 (Connect's end of stream) carry the
// status, not messages, and are left out; a compressed one (0x01) is decoded by the
// grpc-encoding (Connect: connect-content-encoding) header. False when the frames do not cover
// the body, a coding is unknown, or the messages pass `limit` bytes.
bool unframe(std::string_view body, const traffic::Headers& headers, size_t limit, std::string& out,
             std::vector<size_t>& lengths) {
  out.clear();
  lengths.clear();
  const traffic::Envelopes envelopes = traffic::split_envelopes(body);
  if (!envelopes.rest.empty()) return false;
  std::optional<std::vector<traffic::Coding>> codings;
  for (const traffic::Envelope& e : envelopes.items) {
    if (e.flags & 0x82) continue;
    const size_t at = out.size();
    if (e.flags & 0x01) {
      if (!codings) {
        const traffic::Header* h = traffic::find_header(headers, "grpc-encoding");
        if (h == nullptr) h = traffic::find_header(headers, "connect-content-encoding");
        if (h == nullptr) return false;
        auto parsed = traffic::parse_content_encoding(h->value);
        if (!parsed) return false;
        codings.emplace(std::move(*parsed));
      }
      std::string decoded;
      if (!traffic::decode_all(*codings, e.payload, limit - std::min(limit, at), decoded)) {
        return false;
      }
      out += decoded;
    } else {
      out += e.payload;
    }
    if (out.size() > limit) return false;
    lengths.push_back(out.size() - at);
  }
  return true;
}

// Whether values ia (of da) and ib (of db) are of one type: one kind, and what the binary formats
// tell apart within a kind (bytes or text, an ext, undefined, a simple value, integer or float
// when both sides typed them, the CBOR tags).
bool same_type(const Doc& da, uint32_t ia, const Doc& db, uint32_t ib) {
  const Node& a = da[ia];
  const Node& b = db[ib];
  if (a.kind != b.kind || ((a.flags ^ b.flags) & tape::kTypeFlags) != 0) return false;
  if ((a.flags & b.flags & tape::kTyped) && ((a.flags ^ b.flags) & tape::kInteger)) return false;
  if ((a.flags | b.flags) & tape::kTagged) {
    const auto ta = da.tags(ia), tb = db.tags(ib);
    return std::equal(ta.begin(), ta.end(), tb.begin(), tb.end());
  }
  return true;
}

bool is_zero(std::string_view n) { return n == "0" || n == "-0"; }

// JSON integers have one spelling but for the sign of zero, so two of them compare as text (no
// precision lost on 64-bit ids); anything else compares as doubles (1 == 1.0 == 1e0).
bool number_equal(const Doc& da, const Node& a, const Doc& db, const Node& b) {
  const std::string_view x = da.text(a), y = db.text(b);
  if (x == y) return true;
  if ((a.flags & kInteger) && (b.flags & kInteger)) return is_zero(x) && is_zero(y);
  double u = 0, v = 0;
  const auto rx = std::from_chars(x.data(), x.data() + x.size(), u);
  const auto ry = std::from_chars(y.data(), y.data() + y.size(), v);
  if (rx.ec != std::errc() || ry.ec != std::errc()) return false;  // out of double's range
  return u == v;
}

// An object member's key: its text, and whether it is a protobuf field number (tape::kFieldKey).
struct Key {
  std::string_view text;
  bool field = false;
};
Key key_of(const Doc& d, uint32_t i) { return {d.text(d[i]), (d[i].flags & tape::kFieldKey) != 0}; }

// Appends a member's path component: a name (a protobuf field's number or name, an XML
// element's or attribute's) as a field's name, not as data; a name over 64 bytes is
// `["{long-key}"]` all the same (a path is copied for every element of an array).
void append_part(std::string& path, const Key& key) {
  if (!key.field) {
    append_key(path, key.text);
  } else if (key.text.size() > kMaxKey) {
    path += "[\"{long-key}\"]";
  } else if (!key.text.empty() && std::all_of(key.text.begin(), key.text.end(), is_name_byte)) {
    path += '.';
    path += key.text;
  } else {
    append_quoted(path, key.text);
  }
}

struct Member {
  Key key;
  uint32_t value;
};

// Pairs the members of objects `ia` (in `a`) and `ib` (in `b`) by key, calling
// pair(key, value_a, value_b), only_a(key, value_a) and only_b(key, value_b); each returns
// false to stop. When both list the same keys in the same order (the usual case, duplicates
// included) members pair in order and nothing is sorted; otherwise members are sorted by key and
// the last occurrence of a key wins, on both sides and for every key: pairing a common prefix in
// order first would pair the first of duplicate keys. `scratch` is used as a stack: callbacks
// may recurse, and it is left as found.
template <class Pair, class OnlyA, class OnlyB>
void match_members(const Doc& a, uint32_t ia, const Doc& b, uint32_t ib,
                   std::vector<Member>& scratch, Pair&& pair, OnlyA&& only_a, OnlyB&& only_b) {
  const uint32_t ca = a[ia].a, cb = b[ib].a;
  bool same_keys = ca == cb;
  for (uint32_t i = 0, ka = ia + 1, kb = ib + 1; same_keys && i < ca;
       ++i, ka = a.next(ka + 1), kb = b.next(kb + 1)) {
    same_keys = a.text(a[ka]) == b.text(b[kb]);
  }
  if (same_keys) {
    for (uint32_t i = 0, ka = ia + 1, kb = ib + 1; i < ca; ++i) {
      const uint32_t next_a = a.next(ka + 1), next_b = b.next(kb + 1);
      if (!pair(key_of(a, ka), ka + 1, kb + 1)) return;
      ka = next_a;
      kb = next_b;
    }
    return;
  }
  const size_t base = scratch.size();
  for (uint32_t j = 0, ka = ia + 1; j < ca; ++j, ka = a.next(ka + 1)) {
    scratch.push_back({key_of(a, ka), ka + 1});
  }
  const size_t mid = scratch.size();
  for (uint32_t j = 0, kb = ib + 1; j < cb; ++j, kb = b.next(kb + 1)) {
    scratch.push_back({key_of(b, kb), kb + 1});
  }
  const size_t end = scratch.size();
  const auto by_key = [](const Member& x, const Member& y) { return x.key.text < y.key.text; };
  std::stable_sort(scratch.begin() + static_cast<ptrdiff_t>(base),
                   scratch.begin() + static_cast<ptrdiff_t>(mid), by_key);
  std::stable_sort(scratch.begin() + static_cast<ptrdiff_t>(mid),
                   scratch.begin() + static_cast<ptrdiff_t>(end), by_key);
  const auto last_of_run = [&](size_t k, size_t limit) {
    while (k + 1 < limit && scratch[k + 1].key.text == scratch[k].key.text) ++k;
    return k;
  };
  size_t x = base, y = mid;
  bool go = true;
  while (go && (x < mid || y < end)) {
    // Copies, since a callback may grow `scratch` and move it.
    if (y == end || (x < mid && scratch[x].key.text < scratch[y].key.text)) {
      x = last_of_run(x, mid);
      const Member m = scratch[x++];
      go = only_a(m.key, m.value);
    } else if (x == mid || scratch[y].key.text < scratch[x].key.text) {
      y = last_of_run(y, end);
      const Member m = scratch[y++];
      go = only_b(m.key, m.value);
    } else {
      x = last_of_run(x, mid);
      y = last_of_run(y, end);
      const Member ma = scratch[x++], mb = scratch[y++];
      go = pair(ma.key, ma.value, mb.value);
    }
  }
  scratch.resize(base);
}

// ---- element identity, for aligning arrays

// A value's hash, weaker than equality as compare() judges it (equal values hash alike; a
// collision only costs a comparison): what two values of one array must share before they are
// compared whole to be matched. Kept per node of a tape, filled a subtree at a time, stamped
// with the pair being compared so that nothing is cleared between pairs.
struct Hashes {
  std::vector<uint64_t> hash;
  std::vector<uint32_t> stamp;
  std::vector<uint8_t> unordered;  // arrays an unordered pattern names (when there are any)
};

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Eight bytes at a time: keys and values are mostly short, and nothing here needs to resist a
// chosen collision (one costs a comparison, never a wrong answer).
uint64_t hash_text(std::string_view t) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ t.size();
  size_t i = 0;
  for (; i + 8 <= t.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, t.data() + i, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
  }
  const size_t left = t.size() - i;
  if (left > 0) {  // the last 1 to 7 bytes, as two loads that may overlap (no memcpy call)
    const char* p = t.data() + i;
    uint64_t w = 0;
    if (left >= 4) {
      uint32_t lo = 0, hi = 0;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + left - 4, 4);
      w = (static_cast<uint64_t>(hi) << 32) | lo;
    } else {
      w = static_cast<uint64_t>(static_cast<unsigned char>(p[0])) << 16 |
          static_cast<uint64_t>(static_cast<unsigned char>(p[left / 2])) << 8 |
          static_cast<unsigned char>(p[left - 1]);
    }
    h = (h ^ w) * 0x94d049bb133111ebULL;
  }
  return mix(h);
}

// The double a number's text reads as, when it has at most 15 significant digits, no exponent
// and at most 22 after the point: the digits are then exact in a double, and so is the power of
// ten, and one correctly rounded division gives what from_chars gives (Clinger's fast path).
bool fast_double(std::string_view t, double& v) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  size_t i = 0;
  const bool negative = !t.empty() && t[0] == '-';
  if (negative) ++i;
  uint64_t m = 0;
  int digits = 0, fraction = -1;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '.' && fraction < 0) {
      fraction = 0;
      continue;
    }
    if (!is_digit(c)) return false;
    m = m * 10 + static_cast<uint64_t>(c - '0');
    if (m != 0 && ++digits > 15) return false;
    if (fraction >= 0 && ++fraction > 22) return false;
  }
  if (i == (negative ? 1u : 0u)) return false;
  v = static_cast<double>(m) / kPow10[fraction < 0 ? 0 : fraction];
  if (negative) v = -v;
  return true;
}

// number_equal's values: two numbers it finds equal read as the same double (or, out of
// double's range, are the same text); -0 is 0.
uint64_t hash_number(std::string_view t) {
  double v = 0;
  if (!fast_double(t, v) && std::from_chars(t.data(), t.data() + t.size(), v).ec != std::errc()) {
    return hash_text(t);
  }
  if (v == 0) v = 0;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  return mix(bits ^ 0x6e756d626572ULL);
}

struct KeyedHash {
  uint64_t key_hash;
  uint32_t at;  // the member's place in its object
  std::string_view key;
  uint64_t value;
};

// Hashes the subtree at `root` of `d`, children before parents (a backward walk of the tape).
// Objects hash their members in any order, the last of a duplicate key winning (as
// match_members pairs them); an array named unordered hashes its elements in any order.
void hash_subtree(const Doc& d, Hashes& h, uint32_t root, uint32_t stamp,
                  std::vector<KeyedHash>& scratch) {
  static constexpr uint64_t kSeed[] = {
      0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL,
      0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL, 0xc0ac29b7c97c50ddULL};
  const uint32_t end = d.next(root);
  for (uint32_t i = end; i-- > root;) {
    const Node& n = d[i];
    uint64_t x = kSeed[static_cast<size_t>(n.kind)];
    switch (n.kind) {
      case Kind::kNull:
      case Kind::kFalse:
      case Kind::kTrue:
        break;
      case Kind::kNumber:
        x ^= hash_number(d.text(n));
        break;
      case Kind::kString:
        x ^= hash_text(d.text(n));
        break;
      case Kind::kArray: {
        const bool any_order =
            (n.flags & tape::kAnyOrder) || (!h.unordered.empty() && h.unordered[i]);
        x += n.a;
        for (uint32_t k = 0, c = i + 1; k < n.a; ++k, c = d.next(c)) {
          x = any_order ? x + mix(h.hash[c]) : mix(x ^ h.hash[c]);
        }
        break;
      }
      case Kind::kObject: {
        scratch.clear();
        for (uint32_t k = 0, c = i + 1; k < n.a; ++k, c = d.next(c + 1)) {
          const std::string_view key = d.text(d[c]);
          scratch.push_back({hash_text(key), k, key, h.hash[c + 1]});
        }
        // Keys all distinct (the usual case, checked by hash for small objects): every member
        // counts, in any order.
        bool distinct = scratch.size() <= 16;
        for (size_t k = 0; k < scratch.size() && distinct; ++k) {
          for (size_t r = k + 1; r < scratch.size() && distinct; ++r) {
            distinct = scratch[r].key_hash != scratch[k].key_hash;
          }
        }
        if (distinct) {
          for (const KeyedHash& e : scratch) x += mix(e.key_hash ^ mix(e.value));
          break;
        }
        // Else a key's last occurrence: sorted by key hash, then place; within a run of one
        // hash, an entry counts unless a later one has the same key.
        std::sort(scratch.begin(), scratch.end(), [](const KeyedHash& u, const KeyedHash& v) {
          return u.key_hash != v.key_hash ? u.key_hash < v.key_hash : u.at < v.at;
        });
        for (size_t k = 0; k < scratch.size(); ++k) {
          bool later = false;
          for (size_t r = k + 1;
               r < scratch.size() && scratch[r].key_hash == scratch[k].key_hash && !later; ++r) {
            later = scratch[r].key == scratch[k].key;
          }
          if (!later) x += mix(scratch[k].key_hash ^ mix(scratch[k].value));
        }
        break;
      }
    }
    if (n.flags & tape::kTypeFlags) x = mix(x ^ (n.flags & tape::kTypeFlags));
    if (n.flags & tape::kTagged) {
      for (const uint64_t tag : d.tags(i)) x = mix(x ^ tag);
    }
    h.hash[i] = x;
    h.stamp[i] = stamp;
  }
}

struct HeaderEntry {
  std::string name;  // lower case
  std::string_view value;
};

bool skipped_header(std::string_view lower_name) {
  static constexpr std::string_view kSkipped[] = {
      "date", "connection", "keep-alive",    "proxy-connection", "transfer-encoding",
      "te",   "trailer",    "content-length"};
  if (lower_name.starts_with(':')) return true;
  return std::find(std::begin(kSkipped), std::end(kSkipped), lower_name) != std::end(kSkipped);
}

void collect_headers(const traffic::Headers& headers, std::vector<HeaderEntry>& out) {
  out.clear();
  for (const traffic::Header& h : headers) {
    HeaderEntry e;
    e.name.resize(h.name.size());
    std::transform(h.name.begin(), h.name.end(), e.name.begin(), ascii_lower);
    if (skipped_header(e.name)) continue;
    e.value = trim(h.value);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const HeaderEntry& x, const HeaderEntry& y) {
    return x.name != y.name ? x.name < y.name : x.value < y.value;
  });
}

}  // namespace

// ---- ResponseDiffer

struct ResponseDiffer::Impl {
  explicit Impl(DiffOptions o);
  bool diff(const traffic::Response& a, const traffic::Response& b, std::vector<std::string>& out);
  std::string_view target_;  // the request's, while diff() runs: names a gRPC method
  void diff_body(const traffic::Response& a, const traffic::Response& b);
  bool read_body(Doc& doc, Format format, const traffic::Headers& headers, std::string_view body,
                 std::string& buf);
  const traffic::ProtobufSchema::MessageType* message_type(const traffic::Headers& headers) const;
  void diff_headers(const traffic::Response& a, const traffic::Response& b);
  void compare(uint32_t ia, uint32_t ib, size_t depth);
  bool equal(uint32_t ia, uint32_t ib);
  // Arrays: the pairs of elements to compare go onto pairs_; `unpaired` is set when an element
  // is left without a partner (the array's own path then names the change).
  void align(uint32_t ia, uint32_t ib, bool& unpaired);
  bool match_any_order(uint32_t ia, uint32_t ib, bool equality, bool& unpaired);
  bool any_order(uint32_t ia) const {
    return (doc_a_[ia].flags & tape::kAnyOrder) ||
           (!hash_a_.unordered.empty() && hash_a_.unordered[ia]);
  }
  void hash(const Doc& d, Hashes& h, uint32_t i);
  void mark_unordered(const Doc& d, Hashes& h, uint32_t i, size_t depth);
  void report();  // the JSON path in parts_
  void add(std::string_view path);
  bool ignored(std::string_view path);

  DiffOptions options_;
  size_t depth_limit_;
  std::vector<std::vector<std::string>> patterns_;
  // Buffers kept between calls, bounded by max_body: the decoded bodies by max_body, each tape
  // by 16 bytes per body byte at worst (`[[[[…`: a 12-byte node and a 4-byte open container).
  Doc doc_a_, doc_b_;
  std::string buf_a_, buf_b_;
  std::string unframed_a_, unframed_b_;  // an RPC body's messages, unframed (and decoded)
  std::string text_;                     // a grpc-web-text body's bytes, while it is unframed
  std::string thrift_subtype_;           // a Thrift body's declared subtype, for an unlabelled one
  std::vector<size_t> lengths_;
  BodyCounts counts_;
  // The JSON path being compared, as keys (array steps have `index` set); the path string is
  // written only for a difference, not for every member visited.
  struct Part {
    Key key;
    bool index;
  };
  std::vector<Part> parts_;
  std::string path_;
  std::vector<Member> members_;
  std::vector<std::pair<uint32_t, uint32_t>> work_;
  std::vector<std::vector<std::string>> unordered_;  // the unordered patterns, split
  Hashes hash_a_, hash_b_;
  uint32_t stamp_ = 0;  // the pair being compared, for Hashes::stamp
  std::vector<KeyedHash> keyed_;
  std::string mark_path_;
  // Stacks, each call leaving them as it found them (equal() and compare() recurse through the
  // array matching): the elements of arrays being aligned, their pairs still to compare, the
  // any-order matching's sorted hashes and taken flags, and the alignment's table.
  std::vector<uint32_t> elems_;
  std::vector<std::pair<uint32_t, uint32_t>> pairs_;
  std::vector<std::pair<uint64_t, uint32_t>> sorted_;
  std::vector<uint32_t> cursor_;
  std::vector<uint8_t> taken_;
  std::vector<uint32_t> table_;
  std::vector<HeaderEntry> headers_a_, headers_b_;
  std::vector<std::string> comps_;
  std::vector<std::string>* out_ = nullptr;
  bool cut_ = false;
};

ResponseDiffer::Impl::Impl(DiffOptions o)
    : options_(std::move(o)), depth_limit_(std::min(options_.max_depth, kMaxDescent)) {
  for (const std::string& pattern : options_.ignore) {
    std::vector<std::string> comps;
    if (!split_path(pattern, comps)) {
      throw std::invalid_argument("diff ignore pattern: unclosed [\" in '" + pattern + "'");
    }
    patterns_.push_back(std::move(comps));
  }
  for (const std::string& pattern : options_.unordered) {
    std::vector<std::string> comps;
    if (!split_path(pattern, comps)) {
      throw std::invalid_argument("diff unordered pattern: unclosed [\" in '" + pattern + "'");
    }
    unordered_.push_back(std::move(comps));
  }
}

bool ResponseDiffer::Impl::diff(const traffic::Response& a, const traffic::Response& b,
                                std::vector<std::string>& out) {
  out.clear();
  out_ = &out;
  cut_ = false;
  diff_body(a, b);
  if (options_.headers && !cut_) diff_headers(a, b);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > options_.max_paths) {
    out.resize(options_.max_paths);
    cut_ = true;
  }
  out_ = nullptr;
  return !cut_;
}

void ResponseDiffer::Impl::diff_body(const traffic::Response& a, const traffic::Response& b) {
  if (a.body == b.body) {
    // The usual case: same bytes. They mean the same only under the same coding.
    const traffic::Header* ea = traffic::find_header(a.headers, "content-encoding");
    const traffic::Header* eb = traffic::find_header(b.headers, "content-encoding");
    const std::string_view ca = ea ? std::string_view(ea->value) : std::string_view();
    const std::string_view cb = eb ? std::string_view(eb->value) : std::string_view();
    if (ca == cb) return;
    const auto pa = codings_of(a.headers);
    if (pa && pa == codings_of(b.headers)) return;
  }
  std::string_view ba, bb;
  const bool ok_a = decode(a.body, a.headers, options_.max_body, buf_a_, ba);
  const bool ok_b = decode(b.body, b.headers, options_.max_body, buf_b_, bb);
  if (ba == bb) return;
  // The format the media types declare, one side's reading the other when only one does (as a
  // JSON label always has), or JSON when a body starts like it; two declared formats are two
  // answers, whatever they hold.
  Format fa = declared_format(a.headers), fb = declared_format(b.headers);
  if (fa == Format::kUnknown) fa = fb;
  if (fb == Format::kUnknown) fb = fa;
  if (fa == Format::kUnknown && (starts_like_json(ba) || starts_like_json(bb))) {
    fa = fb = Format::kJson;
  }
  if (fa == Format::kUnknown && (starts_like_xml(ba) || starts_like_xml(bb))) {
    fa = fb = Format::kXml;
  }
  if (fa == Format::kUnknown) {
    ++counts_.unknown;
    add(kBodyPath);
    return;
  }
  if (fa == Format::kThrift) {
    thrift_subtype_ = subtype_of(declared_format(a.headers) == fa ? a.headers : b.headers);
  }
  if (!ok_a || !ok_b || ba.size() > options_.max_body || bb.size() > options_.max_body ||
      fa != fb || !read_body(doc_a_, fa, a.headers, ba, unframed_a_) ||
      !read_body(doc_b_, fb, b.headers, bb, unframed_b_)) {
    ++counts_.unreadable;
    add(kBodyPath);
    return;
  }
  switch (fa) {
    case Format::kJson:
      ++counts_.json;
      break;
    case Format::kMsgpack:
      ++counts_.msgpack;
      break;
    case Format::kCbor:
      ++counts_.cbor;
      break;
    case Format::kProtobuf:
      ++counts_.protobuf;
      break;
    case Format::kRpcProto:
    case Format::kRpcJson:
      ++counts_.rpc;
      break;
    case Format::kXml:
      ++counts_.xml;
      break;
    case Format::kThrift:
      ++counts_.thrift;
      break;
    case Format::kJsonLines:
    case Format::kJsonSeq:
      ++counts_.json_lines;
      break;
    case Format::kEventStream:
      ++counts_.event_stream;
      break;
    case Format::kUnknown:
      break;
  }
  parts_.clear();
  if (++stamp_ == 0) {  // wrapped: forget every stamp
    std::fill(hash_a_.stamp.begin(), hash_a_.stamp.end(), 0);
    std::fill(hash_b_.stamp.begin(), hash_b_.stamp.end(), 0);
    stamp_ = 1;
  }
  for (auto* h : {&hash_a_, &hash_b_}) {
    const Doc& d = h == &hash_a_ ? doc_a_ : doc_b_;
    if (h->stamp.size() < d.size()) {
      h->stamp.resize(d.size(), 0);
      h->hash.resize(d.size());
    }
    h->unordered.clear();
    if (!unordered_.empty()) {
      h->unordered.assign(d.size(), 0);
      mark_path_.assign("$");
      mark_unordered(d, *h, d.root(), 0);
    }
  }
  compare(doc_a_.root(), doc_b_.root(), 0);
}

// Reads `body`, of `format`, into `doc`; `buf` keeps the bytes the tape points into when the
// body had to be unframed.
bool ResponseDiffer::Impl::read_body(Doc& doc, Format format, const traffic::Headers& headers,
                                     std::string_view body, std::string& buf) {
  switch (format) {
    case Format::kJson:
      return doc.parse(body);
    case Format::kMsgpack:
      return doc.parse_msgpack(body);
    case Format::kCbor:
      return doc.parse_cbor(body);
    case Format::kXml:
      return doc.parse_xml(body);
    case Format::kJsonLines:
    case Format::kJsonSeq:
      return doc.parse_json_lines(body, format == Format::kJsonSeq);
    case Format::kEventStream:
      return doc.parse_event_stream(body);
    case Format::kThrift: {
      // The protocol the media type names (an unlabelled side's, the other side's);
      // application/x-thrift (Jaeger, Zipkin v1) the binary one, else the compact one.
      const std::string sub =
          declared_format(headers) == Format::kThrift ? subtype_of(headers) : thrift_subtype_;
      return (sub != "vnd.apache.thrift.compact" &&
              doc.parse_thrift(body, traffic::ThriftProtocol::kBinary)) ||
             (sub != "vnd.apache.thrift.binary" &&
              doc.parse_thrift(body, traffic::ThriftProtocol::kCompact));
    }
    case Format::kProtobuf: {
      const size_t n = body.size();
      return doc.parse_protobuf(body, std::span<const size_t>(&n, 1), options_.protobuf.get(),
                                message_type(headers));
    }
    case Format::kRpcProto:
    case Format::kRpcJson:
      break;
    case Format::kUnknown:
      return false;
  }
  std::string_view framed = body;
  if (subtype_of(headers).starts_with("grpc-web-text")) {
    if (!traffic::decode_grpc_web_text(body, text_)) return false;
    framed = text_;
  }
  if (!unframe(framed, headers, options_.max_body, buf, lengths_)) return false;
  if (format == Format::kRpcProto) {
    return doc.parse_protobuf(buf, lengths_, options_.protobuf.get(), message_type(headers));
  }
  if (lengths_.size() == 1) return doc.parse(buf);
  // Several JSON messages (or none): compared as the array of them, each valid on its own.
  std::string array = "[";
  size_t at = 0;
  for (const size_t n : lengths_) {
    if (!doc.parse(std::string_view(buf).substr(at, n))) return false;
    if (at > 0) array += ',';
    array.append(buf, at, n);
    at += n;
  }
  array += ']';
  buf = std::move(array);
  return doc.parse(buf);
}

void ResponseDiffer::Impl::diff_headers(const traffic::Response& a, const traffic::Response& b) {
  if (a.headers == b.headers) return;
  collect_headers(a.headers, headers_a_);
  collect_headers(b.headers, headers_b_);
  const std::vector<HeaderEntry>& x = headers_a_;
  const std::vector<HeaderEntry>& y = headers_b_;
  size_t i = 0, j = 0;
  while ((i < x.size() || j < y.size()) && !cut_) {
    const std::string& name =
        (j == y.size() || (i < x.size() && x[i].name <= y[j].name)) ? x[i].name : y[j].name;
    size_t i2 = i, j2 = j;
    while (i2 < x.size() && x[i2].name == name) ++i2;
    while (j2 < y.size() && y[j2].name == name) ++j2;
    const bool same =
        i2 - i == j2 - j &&
        std::equal(x.begin() + static_cast<ptrdiff_t>(i), x.begin() + static_cast<ptrdiff_t>(i2),
                   y.begin() + static_cast<ptrdiff_t>(j),
                   [](const HeaderEntry& u, const HeaderEntry& v) { return u.value == v.value; });
    if (!same) {
      path_.assign(kHeaderPrefix);
      path_ += name;
      add(path_);
    }
    i = i2;
    j = j2;
  }
}

// Names the paths below parts_ where the values differ. Recursion is bounded by depth_limit_.
void ResponseDiffer::Impl::compare(uint32_t ia, uint32_t ib, size_t depth) {
  if (cut_) return;
  const Node& na = doc_a_[ia];
  const Node& nb = doc_b_[ib];
  if (!same_type(doc_a_, ia, doc_b_, ib)) {
    report();
    return;
  }
  switch (na.kind) {
    case Kind::kNull:
    case Kind::kFalse:
    case Kind::kTrue:
      return;
    case Kind::kNumber:
      if (!number_equal(doc_a_, na, doc_b_, nb)) report();
      return;
    case Kind::kString:
      if (doc_a_.text(na) != doc_b_.text(nb)) report();
      return;
    case Kind::kArray:
    case Kind::kObject:
      break;
  }
  if (depth >= depth_limit_) {
    if (!equal(ia, ib)) report();
    return;
  }
  if (na.kind == Kind::kArray) {
    const size_t from = pairs_.size();
    bool unpaired = false;
    if (any_order(ia)) {
      match_any_order(ia, ib, false, unpaired);
    } else {
      align(ia, ib, unpaired);
    }
    if (unpaired) report();
    parts_.push_back({{}, true});
    const size_t to = pairs_.size();
    for (size_t k = from; k < to && !cut_; ++k) {
      const auto [x, y] = pairs_[k];
      compare(x, y, depth + 1);
    }
    pairs_.resize(from);
    parts_.pop_back();
    return;
  }
  const auto one_side = [&](const Key& key, uint32_t) {
    parts_.push_back({key, false});
    report();
    parts_.pop_back();
    return !cut_;
  };
  match_members(
      doc_a_, ia, doc_b_, ib, members_,
      [&](const Key& key, uint32_t va, uint32_t vb) {
        parts_.push_back({key, false});
        compare(va, vb, depth + 1);
        parts_.pop_back();
        return !cut_;
      },
      one_side, one_side);
}

// Whole-subtree equality under the same rules as compare(), with an explicit stack: it is what
// runs past depth_limit_, where nesting is whatever the body holds.
bool ResponseDiffer::Impl::equal(uint32_t ia, uint32_t ib) {
  // work_ is a stack shared with the calls the any-order matching makes from here.
  const size_t base = work_.size();
  const auto differ = [&] {
    work_.resize(base);
    return false;
  };
  work_.emplace_back(ia, ib);
  while (work_.size() > base) {
    const auto [x, y] = work_.back();
    work_.pop_back();
    const Node& na = doc_a_[x];
    const Node& nb = doc_b_[y];
    if (!same_type(doc_a_, x, doc_b_, y)) return differ();
    switch (na.kind) {
      case Kind::kNull:
      case Kind::kFalse:
      case Kind::kTrue:
        break;
      case Kind::kNumber:
        if (!number_equal(doc_a_, na, doc_b_, nb)) return differ();
        break;
      case Kind::kString:
        if (doc_a_.text(na) != doc_b_.text(nb)) return differ();
        break;
      case Kind::kArray: {
        if (na.a != nb.a) return differ();
        if (any_order(x)) {
          bool unpaired = false;
          if (!match_any_order(x, y, true, unpaired)) return differ();
          break;
        }
        uint32_t u = x + 1, v = y + 1;
        for (uint32_t i = 0; i < na.a; ++i, u = doc_a_.next(u), v = doc_b_.next(v)) {
          work_.emplace_back(u, v);
        }
        break;
      }
      case Kind::kObject: {
        bool same = true;
        match_members(
            doc_a_, x, doc_b_, y, members_,
            [&](const Key&, uint32_t va, uint32_t vb) {
              work_.emplace_back(va, vb);
              return true;
            },
            [&](const Key&, uint32_t) { return same = false; },
            [&](const Key&, uint32_t) { return same = false; });
        if (!same) return differ();
        break;
      }
    }
  }
  return true;
}

void ResponseDiffer::Impl::hash(const Doc& d, Hashes& h, uint32_t i) {
  if (h.stamp[i] != stamp_) hash_subtree(d, h, i, stamp_, keyed_);
}

// Marks the arrays an unordered pattern names, to depth_limit_ (deeper ones are compared whole,
// in order). mark_path_ holds the path of node i.
void ResponseDiffer::Impl::mark_unordered(const Doc& d, Hashes& h, uint32_t i, size_t depth) {
  const Node& n = d[i];
  if (n.kind != Kind::kArray && n.kind != Kind::kObject) return;
  if (n.kind == Kind::kArray) {
    split_path(mark_path_, comps_);
    for (const std::vector<std::string>& pattern : unordered_) {
      if (match(pattern, 0, comps_, 0, true)) {
        h.unordered[i] = 1;
        break;
      }
    }
  }
  if (depth >= depth_limit_) return;
  const size_t length = mark_path_.size();
  if (n.kind == Kind::kArray) {
    mark_path_ += "[*]";
    for (uint32_t k = 0, c = i + 1; k < n.a; ++k, c = d.next(c)) mark_unordered(d, h, c, depth + 1);
  } else {
    for (uint32_t k = 0, c = i + 1; k < n.a; ++k, c = d.next(c + 1)) {
      append_part(mark_path_, key_of(d, c));
      mark_unordered(d, h, c + 1, depth + 1);
      mark_path_.resize(length);
    }
  }
  mark_path_.resize(length);
}

// An ordered array's elements, aligned as a diff aligns lines: the common prefix and suffix of
// equal elements first, then, in what is left, a longest common subsequence of equal elements
// (ties: the baseline's element is passed over first). Between two matched elements, the
// unmatched ones are paired in order; what is left over on one side has no partner. With more
// than max_align element pairs left after the prefix and suffix, the rest is paired in order.
void ResponseDiffer::Impl::align(uint32_t ia, uint32_t ib, bool& unpaired) {
  const uint32_t n = doc_a_[ia].a, m = doc_b_[ib].a;
  if (n == 0 || m == 0) {
    unpaired = n != m;
    return;
  }
  const size_t ea = elems_.size(), eb = ea + n;
  for (uint32_t k = 0, c = ia + 1; k < n; ++k, c = doc_a_.next(c)) elems_.push_back(c);
  for (uint32_t k = 0, c = ib + 1; k < m; ++k, c = doc_b_.next(c)) elems_.push_back(c);
  // The prefix and suffix by comparison alone (the usual arrays end here, unhashed).
  size_t p = 0, s = 0;
  while (p < n && p < m && equal(elems_[ea + p], elems_[eb + p])) ++p;
  while (s < n - p && s < m - p && equal(elems_[ea + n - 1 - s], elems_[eb + m - 1 - s])) ++s;
  const size_t rn = n - p - s, rm = m - p - s;
  const auto pair_run = [&](size_t i0, size_t i1, size_t j0, size_t j1) {
    for (size_t k = 0; k < std::min(i1 - i0, j1 - j0); ++k) {
      pairs_.emplace_back(elems_[ea + p + i0 + k], elems_[eb + p + j0 + k]);
    }
    if (i1 - i0 != j1 - j0) unpaired = true;
  };
  // One element left on each side differs (else it would be prefix): nothing to match.
  bool common = rn > 0 && rm > 0 && rn * rm <= options_.max_align && rn * rm > 1;
  if (common) {
    // The rest's elements hashed (each subtree once per pair), so that elements that differ are
    // told apart without comparing them.
    for (size_t i = 0; i < rn; ++i) hash(doc_a_, hash_a_, elems_[ea + p + i]);
    for (size_t j = 0; j < rm; ++j) hash(doc_b_, hash_b_, elems_[eb + p + j]);
    // Whether any element of the rest is on both sides (by hash; equality is the table's
    // business): when none is, the table would match nothing, and the rest pairs in order.
    const size_t sb = sorted_.size();
    for (size_t j = 0; j < rm; ++j) sorted_.emplace_back(hash_b_.hash[elems_[eb + p + j]], 0);
    std::sort(sorted_.begin() + static_cast<ptrdiff_t>(sb), sorted_.end());
    common = false;
    for (size_t i = 0; i < rn && !common; ++i) {
      const std::pair<uint64_t, uint32_t> key(hash_a_.hash[elems_[ea + p + i]], 0);
      common = std::binary_search(sorted_.begin() + static_cast<ptrdiff_t>(sb), sorted_.end(), key);
    }
    sorted_.resize(sb);
  }
  if (!common) {
    pair_run(0, rn, 0, rm);
    elems_.resize(ea);
    return;
  }
  // table_[i * (rm + 1) + j]: the longest common subsequence of the rest from i and from j, with
  // kMatch set where element i equals element j.
  constexpr uint32_t kMatch = 1u << 31;
  const size_t w = rm + 1;
  table_.assign((rn + 1) * w, 0);
  const auto at = [&](size_t i, size_t j) { return table_[i * w + j] & ~kMatch; };
  for (size_t i = rn; i-- > 0;) {
    for (size_t j = rm; j-- > 0;) {
      const uint32_t x = elems_[ea + p + i], y = elems_[eb + p + j];
      if (hash_a_.hash[x] == hash_b_.hash[y] && equal(x, y)) {
        table_[i * w + j] = (at(i + 1, j + 1) + 1) | kMatch;
      } else {
        table_[i * w + j] = std::max(at(i + 1, j), at(i, j + 1));
      }
    }
  }
  size_t i = 0, j = 0, gi = 0, gj = 0;
  while (i < rn && j < rm) {
    if (table_[i * w + j] & kMatch) {
      pair_run(gi, i, gj, j);
      gi = ++i;
      gj = ++j;
    } else if (at(i + 1, j) >= at(i, j + 1)) {
      ++i;
    } else {
      ++j;
    }
  }
  pair_run(gi, rn, gj, rm);
  elems_.resize(ea);
}

// An unordered array's elements: each of the baseline's, in order, is matched to the first of
// the other side's not yet matched that equals it; the rest are paired in order. With
// `equality`, stops (false) at the first element without an equal partner; else pushes the
// pairs of the rest onto pairs_.
bool ResponseDiffer::Impl::match_any_order(uint32_t ia, uint32_t ib, bool equality,
                                           bool& unpaired) {
  hash(doc_a_, hash_a_, ia);
  hash(doc_b_, hash_b_, ib);
  const uint32_t n = doc_a_[ia].a, m = doc_b_[ib].a;
  const size_t eb = elems_.size(), sb = sorted_.size(), tb = taken_.size(), cb = cursor_.size();
  for (uint32_t k = 0, c = ib + 1; k < m; ++k, c = doc_b_.next(c)) {
    elems_.push_back(c);
    sorted_.emplace_back(hash_b_.hash[c], k);
  }
  std::sort(sorted_.begin() + static_cast<ptrdiff_t>(sb), sorted_.end());
  taken_.resize(tb + m, 0);
  cursor_.resize(cb + m);  // cursor_[cb + r], for a run of one hash starting at r: its first
  for (uint32_t r = 0; r < m; ++r) cursor_[cb + r] = r;  // entry that may not be taken
  const size_t la = elems_.size();  // the baseline's elements left without a partner
  bool whole = true;
  for (uint32_t k = 0, c = ia + 1; k < n; ++k, c = doc_a_.next(c)) {
    const uint64_t h = hash_a_.hash[c];
    const auto first = std::lower_bound(sorted_.begin() + static_cast<ptrdiff_t>(sb),
                                        sorted_.begin() + static_cast<ptrdiff_t>(sb + m),
                                        std::pair<uint64_t, uint32_t>(h, 0));
    const size_t run = static_cast<size_t>(first - sorted_.begin()) - sb;
    bool found = false;
    if (run < m && sorted_[sb + run].first == h) {
      // No reference into the stacks is held across equal(), which may grow them.
      for (size_t r = cursor_[cb + run]; r < m && sorted_[sb + r].first == h; ++r) {
        const uint32_t other = sorted_[sb + r].second;
        if (taken_[tb + other] || !equal(c, elems_[eb + other])) continue;
        taken_[tb + other] = 1;
        uint32_t cur = cursor_[cb + run];
        while (cur < m && sorted_[sb + cur].first == h && taken_[tb + sorted_[sb + cur].second]) {
          ++cur;
        }
        cursor_[cb + run] = cur;
        found = true;
        break;
      }
    }
    if (found) continue;
    if (equality) {
      whole = false;
      break;
    }
    elems_.push_back(c);
  }
  if (!equality) {
    size_t x = la;
    for (uint32_t k = 0; k < m; ++k) {
      if (taken_[tb + k]) continue;
      if (x < elems_.size()) {
        pairs_.emplace_back(elems_[x++], elems_[eb + k]);
      } else {
        unpaired = true;
      }
    }
    if (x < elems_.size()) unpaired = true;
  }
  elems_.resize(eb);
  sorted_.resize(sb);
  taken_.resize(tb);
  cursor_.resize(cb);
  return whole;
}

bool ResponseDiffer::Impl::ignored(std::string_view path) {
  if (patterns_.empty()) return false;
  // The paths written here always split; a failure would only mean "not ignored".
  if (!split_path(path, comps_)) return false;
  for (const std::vector<std::string>& pattern : patterns_) {
    if (match(pattern, 0, comps_, 0)) return true;
  }
  return false;
}

void ResponseDiffer::Impl::report() {
  path_.assign("$");
  for (const Part& part : parts_) {
    if (part.index) {
      path_ += "[*]";
    } else {
      append_part(path_, part.key);
    }
  }
  add(path_);
}

// Adds `path` unless ignored. Paths under [*] repeat once per element, so duplicates are folded
// whenever the list passes max_paths, and the cut is made only on distinct paths.
void ResponseDiffer::Impl::add(std::string_view path) {
  if (cut_ || ignored(path)) return;
  std::vector<std::string>& out = *out_;
  if (!out.empty() && out.back() == path) return;
  out.emplace_back(path);
  if (out.size() > options_.max_paths) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.size() > options_.max_paths) {
      out.resize(options_.max_paths);
      cut_ = true;
    }
  }
}

ResponseDiffer::ResponseDiffer(DiffOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
ResponseDiffer::~ResponseDiffer() = default;
ResponseDiffer::ResponseDiffer(ResponseDiffer&&) noexcept = default;
ResponseDiffer& ResponseDiffer::operator=(ResponseDiffer&&) noexcept = default;

// The message type of a response's protobuf body, by the schema: the output of the method the
// request's path names (gRPC, Connect), else the type its media type names (`proto=` or
// `messageType=`, as Spring and others write it) or an X-Protobuf-Message header.
const traffic::ProtobufSchema::MessageType* ResponseDiffer::Impl::message_type(
    const traffic::Headers& headers) const {
  const traffic::ProtobufSchema* schema = options_.protobuf.get();
  if (!schema) return nullptr;
  if (!target_.empty()) {
    if (const auto* out = schema->method(target_).second) return out;
  }
  if (const traffic::Header* h = traffic::find_header(headers, "content-type")) {
    std::string_view rest = h->value;
    for (size_t semi = rest.find(';'); semi != std::string_view::npos; semi = rest.find(';')) {
      rest.remove_prefix(semi + 1);
      const std::string_view param = trim(rest.substr(0, rest.find(';')));
      const size_t eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view name = trim(param.substr(0, eq));
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (iequals(name, "proto") || iequals(name, "messagetype")) {
        if (const auto* m = schema->message(value)) return m;
      }
    }
  }
  if (const traffic::Header* h = traffic::find_header(headers, "x-protobuf-message")) {
    return schema->message(trim(h->value));
  }
  return nullptr;
}

bool ResponseDiffer::diff(const traffic::Response& a, const traffic::Response& b,
                          std::vector<std::string>& out, std::string_view target) {
  impl_->target_ = target;
  const bool whole = impl_->diff(a, b, out);
  impl_->target_ = {};
  return whole;
}

const ResponseDiffer::BodyCounts& ResponseDiffer::body_counts() const { return impl_->counts_; }

// ---- FieldNoise

namespace {

// Keeps the `n` smallest distinct ids, ascending: the same whatever order pairs arrive in and
// however they were split between threads, so merged samples equal single-threaded ones.
void keep_sample(std::vector<uint64_t>& samples, uint64_t id, size_t n) {
  if (n == 0 || (samples.size() >= n && id >= samples.back())) return;
  const auto it = std::lower_bound(samples.begin(), samples.end(), id);
  if (it != samples.end() && *it == id) return;
  samples.insert(it, id);
  if (samples.size() > n) samples.pop_back();
}

// Absorbs rounding in rate − noise_rate so that a rate exactly on a threshold passes.
constexpr double kEpsilon = 1e-12;

}  // namespace

FieldNoise::Counts* FieldNoise::find_or_insert(std::string_view path, const NoiseOptions& options) {
  auto it = std::lower_bound(
      fields_.begin(), fields_.end(), path,
      [](const std::pair<std::string, Counts>& f, std::string_view p) { return f.first < p; });
  if (it != fields_.end() && it->first == path) return &it->second;
  if (fields_.size() >= options.max_fields) return nullptr;
  it = fields_.insert(it, {std::string(path), Counts{}});
  return &it->second;
}

void FieldNoise::add(uint64_t origin_id, const std::vector<std::string>& candidate_paths,
                     const std::vector<std::string>* noise_paths, const NoiseOptions& options) {
  ++compared_;
  for (const std::string& path : candidate_paths) {
    Counts* c = find_or_insert(path, options);
    if (c == nullptr) {
      ++overflow_;
      continue;
    }
    if (c->last_pair == compared_) continue;
    c->last_pair = compared_;
    ++c->differ;
    keep_sample(c->samples, origin_id, options.samples);
  }
  if (noise_paths == nullptr) return;
  ++with_noise_;
  for (const std::string& path : *noise_paths) {
    Counts* c = find_or_insert(path, options);
    if (c == nullptr) {
      ++overflow_;
      continue;
    }
    if (c->last_noise_pair == compared_) continue;
    c->last_noise_pair = compared_;
    ++c->noise_differ;
  }
}

void FieldNoise::merge(const FieldNoise& other, const NoiseOptions& options) {
  if (&other == this) {
    const FieldNoise copy = other;
    merge(copy, options);
    return;
  }
  compared_ += other.compared_;
  with_noise_ += other.with_noise_;
  overflow_ += other.overflow_;
  for (const auto& [path, theirs] : other.fields_) {
    Counts* c = find_or_insert(path, options);
    if (c == nullptr) {
      overflow_ += theirs.differ + theirs.noise_differ;
      continue;
    }
    c->differ += theirs.differ;
    c->noise_differ += theirs.noise_differ;
    for (const uint64_t id : theirs.samples) keep_sample(c->samples, id, options.samples);
  }
}

std::vector<FieldNoise::Field> FieldNoise::fields(const NoiseOptions& options) const {
  std::vector<Field> result;
  result.reserve(fields_.size());
  for (const auto& [path, c] : fields_) {
    Field f;
    f.path = path;
    f.differ = c.differ;
    f.noise_differ = c.noise_differ;
    f.rate = compared_ ? static_cast<double>(c.differ) / static_cast<double>(compared_) : 0;
    f.noise_rate =
        with_noise_ ? static_cast<double>(c.noise_differ) / static_cast<double>(with_noise_) : 0;
    f.reported = c.differ > 0 && f.rate - f.noise_rate >= options.absolute - kEpsilon &&
                 f.rate >= f.noise_rate * (1 + options.relative) - kEpsilon;
    f.samples = c.samples;
    result.push_back(std::move(f));
  }
  std::sort(result.begin(), result.end(), [](const Field& x, const Field& y) {
    if (x.reported != y.reported) return x.reported;
    if (x.rate != y.rate) return x.rate > y.rate;
    return x.path < y.path;
  });
  return result;
}

}  // namespace twin::compare
