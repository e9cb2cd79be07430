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
std::string_view key_kind(std::string_view key) {
  constexpr size_t kMaxKey = 64;
  if (key.size() > kMaxKey) return "{long-key}";
  if (!key.empty() &&
      std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "{id}";
  }
  if (key.find('@') != std::string_view::npos) return "{email}";
  return {};
}

// Appends an object member's path component: `.key` or `["key"]`, JSON-escaped.
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

// True when the pattern matches the path or one of its ancestors (an ignored path ignores its
// subtree, so running out of pattern first is a match).
bool match(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& path,
           size_t qi) {
  if (pi == pat.size()) return true;
  if (pat[pi] == "**") {
    for (size_t k = qi; k <= path.size(); ++k) {
      if (match(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (qi == path.size()) return false;
  return glob(pat[pi], path[qi]) && match(pat, pi + 1, path, qi + 1);
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
enum class Format : uint8_t { kUnknown, kJson, kMsgpack, kCbor, kProtobuf, kRpcProto, kRpcJson };

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
// connect+proto, connect+json), else JSON by "json" anywhere in it.
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
  const traffic::Header* ct = traffic::find_header(headers, "content-type");
  return ct != nullptr && icontains(ct->value, "json") ? Format::kJson : Format::kUnknown;
}

bool starts_like_json(std::string_view body) {
  size_t i = 0;
  while (i < body.size() && is_json_ws(body[i])) ++i;
  return i < body.size() && (body[i] == '{' || body[i] == '[');
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
  void diff_body(const traffic::Response& a, const traffic::Response& b);
  bool read_body(Doc& doc, Format format, const traffic::Headers& headers, std::string_view body,
                 std::string& buf);
  void diff_headers(const traffic::Response& a, const traffic::Response& b);
  void compare(uint32_t ia, uint32_t ib, size_t depth);
  bool equal(uint32_t ia, uint32_t ib);
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
  if (fa == Format::kUnknown) {
    ++counts_.unknown;
    add(kBodyPath);
    return;
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
    case Format::kUnknown:
      break;
  }
  parts_.clear();
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
    case Format::kProtobuf: {
      const size_t n = body.size();
      return doc.parse_protobuf(body, std::span<const size_t>(&n, 1));
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
  if (format == Format::kRpcProto) return doc.parse_protobuf(buf, lengths_);
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
    if (na.a != nb.a) report();
    parts_.push_back({{}, true});
    const uint32_t n = std::min(na.a, nb.a);
    uint32_t x = ia + 1, y = ib + 1;
    for (uint32_t i = 0; i < n && !cut_; ++i, x = doc_a_.next(x), y = doc_b_.next(y)) {
      compare(x, y, depth + 1);
    }
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
  work_.clear();
  work_.emplace_back(ia, ib);
  while (!work_.empty()) {
    const auto [x, y] = work_.back();
    work_.pop_back();
    const Node& na = doc_a_[x];
    const Node& nb = doc_b_[y];
    if (!same_type(doc_a_, x, doc_b_, y)) return false;
    switch (na.kind) {
      case Kind::kNull:
      case Kind::kFalse:
      case Kind::kTrue:
        break;
      case Kind::kNumber:
        if (!number_equal(doc_a_, na, doc_b_, nb)) return false;
        break;
      case Kind::kString:
        if (doc_a_.text(na) != doc_b_.text(nb)) return false;
        break;
      case Kind::kArray: {
        if (na.a != nb.a) return false;
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
        if (!same) return false;
        break;
      }
    }
  }
  return true;
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
    } else if (part.key.field) {
      path_ += '.';  // a protobuf field number: a field's name, not data
      path_ += part.key.text;
    } else {
      append_key(path_, part.key.text);
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

bool ResponseDiffer::diff(const traffic::Response& a, const traffic::Response& b,
                          std::vector<std::string>& out) {
  return impl_->diff(a, b, out);
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
