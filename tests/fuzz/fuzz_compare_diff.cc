// Fuzz target for the comparator's response diff (compare/src/diff.cc), which parses the bodies
// targets sent back: untrusted bytes. The input is
//   byte 0     options: bit 0 compare headers, bit 1 the first body is labelled encoded, bit 2 the
//              second is, bit 3 both are labelled JSON, bit 4 a tiny max_depth, bit 5 a tiny
//              max_paths, bits 6-7 the Content-Encoding label: "gzip", "deflate",
//              "X-Gzip, identity" or "gzip, br" (br over gzip)
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Inputs nested deeper than the default max_depth are also compared with the largest one (1000,
// the stack bound).
// Properties:
//   - for unencoded bodies, the paths are those of a plain recursive reference written from the
//     contract in diff.h (below: strict RFC 8259 parse, the number, string, duplicate-key, array
//     and max_depth rules, the path syntax), cut or not;
//   - a response never differs from itself;
//   - the paths are sorted and distinct, and start with '$' or "header.";
//   - without a cut, the set of paths is the same both ways (and one side is empty only when
//     the other is);
//   - without a cut, ignoring every reported path leaves no difference (reported paths are
//     valid ignore patterns that match themselves);
//   - encoding does not matter: an unlabelled body gzip-, zlib-, raw-deflate-, br- or
//     zstd-compressed (or gzip then br) with the matching Content-Encoding gives the same paths
//     (header.content-encoding aside);
//   - with the JSON label, whitespace around an unlabelled body changes nothing (when the bodies
//     differ), and a body against itself wrapped in whitespace differs at most at "$body".
//
// Run with -DTWIN_FUZZ=ON (clang), giving the dictionary (JSON tokens, stream headers) with
// -dict; new inputs go to the first directory (one command line):
//   build-fuzz/bin/fuzz_compare_diff -dict=tests/fuzz/compare_diff.dict -max_len=4096
//       /tmp/cd-corpus tests/fuzz/corpus/compare_diff
// Then shrink into a fresh directory with -merge=1 (e.g. -use_counters=0 keeps it near 150
// files) and check that in: ctest replays the whole corpus.

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "twin/compare/diff.h"
#include "twin/traffic/content_coding.h"

namespace {

twin::traffic::Response response(std::string body, bool json, const char* coding, int salt) {
  twin::traffic::Response r;
  r.status = 200;
  r.headers.push_back({"Content-Type", json ? "application/json" : "text/plain"});
  if (coding != nullptr) r.headers.push_back({"Content-Encoding", coding});
  r.headers.push_back({"X-Salt", std::to_string(salt)});
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

void check(const std::vector<std::string>& paths) {
  if (!std::is_sorted(paths.begin(), paths.end())) std::abort();
  if (std::adjacent_find(paths.begin(), paths.end()) != paths.end()) std::abort();
  for (const auto& p : paths) {
    if (p.rfind("$", 0) != 0 && p.rfind("header.", 0) != 0) std::abort();
  }
}

// window_bits as for deflateInit2: 15 + 16 gzip, 15 zlib, -15 raw.
std::string compress(const std::string& in, int window_bits) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    std::abort();
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::vector<std::string> without(std::vector<std::string> paths, const std::string& drop) {
  paths.erase(std::remove(paths.begin(), paths.end(), drop), paths.end());
  return paths;
}

// The deepest run of open brackets, strings not skipped: an upper bound of the JSON nesting.
size_t nesting(const std::string& s) {
  size_t depth = 0, deepest = 0;
  for (const char c : s) {
    if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// ---- reference: a plain recursive DOM parser and differ written from the header's contract
// (diff.h), to check the tape-based one against. Slow and simple on purpose.

struct Ref {
  enum Kind { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject } kind = kNull;
  std::string text;  // number as written, or unescaped string
  bool integer = false;
  std::vector<std::string> keys;  // object members in order, duplicates kept
  std::vector<Ref> items;         // array elements, or the object's values
};

class RefParser {
 public:
  explicit RefParser(std::string_view s) : s_(s) {}
  bool parse(Ref& out) {
    ws();
    if (!value(out)) return false;
    ws();
    return p_ == s_.size();
  }

 private:
  void ws() {
    while (p_ < s_.size() &&
           (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) {
      ++p_;
    }
  }
  bool lit(std::string_view w) {
    if (s_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  int hex4() {
    if (p_ + 4 > s_.size()) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[p_++];
      v *= 16;
      if (c >= '0' && c <= '9') {
        v += c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v += c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v += c - 'A' + 10;
      } else {
        return -1;
      }
    }
    return v;
  }
  static void utf8(std::string& o, uint32_t cp) {
    if (cp < 0x80) {
      o += static_cast<char>(cp);
    } else if (cp < 0x800) {
      o += static_cast<char>(0xC0 | (cp >> 6));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      o += static_cast<char>(0xE0 | (cp >> 12));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      o += static_cast<char>(0xF0 | (cp >> 18));
      o += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string& o) {
    if (!lit("\"")) return false;
    for (;;) {
      if (p_ >= s_.size()) return false;
      const unsigned char c = static_cast<unsigned char>(s_[p_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        o += static_cast<char>(c);
        continue;
      }
      if (p_ >= s_.size()) return false;
      const char e = s_[p_++];
      const char* const from = "\"\\/bfnrt";
      const char* const to = "\"\\/\b\f\n\r\t";
      if (const char* k = e ? std::strchr(from, e) : nullptr) {
        o += to[k - from];
        continue;
      }
      if (e != 'u') return false;
      const int hi = hex4();
      if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return false;
      if (hi < 0xD800 || hi > 0xDBFF) {
        utf8(o, static_cast<uint32_t>(hi));
        continue;
      }
      if (!lit("\\u")) return false;
      const int lo = hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) return false;
      utf8(o, 0x10000 + ((static_cast<uint32_t>(hi) - 0xD800) << 10) +
                  (static_cast<uint32_t>(lo) - 0xDC00));
    }
  }
  bool digits() {
    const size_t from = p_;
    while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    return p_ > from;
  }
  bool number(Ref& out) {
    const size_t from = p_;
    out.kind = Ref::kNumber;
    out.integer = true;
    lit("-");
    if (lit("0")) {
    } else if (p_ < s_.size() && s_[p_] >= '1' && s_[p_] <= '9') {
      digits();
    } else {
      return false;
    }
    if (lit(".")) {
      out.integer = false;
      if (!digits()) return false;
    }
    if (lit("e") || lit("E")) {
      out.integer = false;
      if (!lit("+")) lit("-");
      if (!digits()) return false;
    }
    out.text = s_.substr(from, p_ - from);
    return true;
  }
  bool value(Ref& out) {
    if (p_ >= s_.size()) return false;
    switch (s_[p_]) {
      case 'n':
        out.kind = Ref::kNull;
        return lit("null");
      case 't':
        out.kind = Ref::kTrue;
        return lit("true");
      case 'f':
        out.kind = Ref::kFalse;
        return lit("false");
      case '"':
        out.kind = Ref::kString;
        return string(out.text);
      case '[':
        out.kind = Ref::kArray;
        ++p_;
        ws();
        if (lit("]")) return true;
        for (;;) {
          ws();
          out.items.emplace_back();
          if (!value(out.items.back())) return false;
          ws();
          if (lit("]")) return true;
          if (!lit(",")) return false;
        }
      case '{':
        out.kind = Ref::kObject;
        ++p_;
        ws();
        if (lit("}")) return true;
        for (;;) {
          ws();
          out.keys.emplace_back();
          if (!string(out.keys.back())) return false;
          ws();
          if (!lit(":")) return false;
          ws();
          out.items.emplace_back();
          if (!value(out.items.back())) return false;
          ws();
          if (lit("}")) return true;
          if (!lit(",")) return false;
        }
      default:
        return number(out);
    }
  }

  std::string_view s_;
  size_t p_ = 0;
};

bool ref_number_equal(const Ref& x, const Ref& y) {
  if (x.text == y.text) return true;
  const auto zero = [](const std::string& t) { return t == "0" || t == "-0"; };
  if (x.integer && y.integer) return zero(x.text) && zero(y.text);
  double u = 0, v = 0;
  if (std::from_chars(x.text.data(), x.text.data() + x.text.size(), u).ec != std::errc() ||
      std::from_chars(y.text.data(), y.text.data() + y.text.size(), v).ec != std::errc()) {
    return false;
  }
  return u == v;
}

std::string ref_key_path(const std::string& path, const std::string& key) {
  // Keys that are data are named by their kind (diff.h): more than 64 bytes, digits only, an '@'.
  if (key.size() > 64) return path + "[\"{long-key}\"]";
  if (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
    return path + "[\"{id}\"]";
  }
  if (key.find('@') != std::string::npos) return path + "[\"{email}\"]";
  const auto ident = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!key.empty() && std::all_of(key.begin(), key.end(), ident)) return path + "." + key;
  std::string out = path + "[\"";
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"]";
}

// The members to compare: in order when both list the same keys in the same order, otherwise
// the last occurrence of each key, by key.
using RefPairs = std::vector<std::tuple<std::string, const Ref*, const Ref*>>;
RefPairs ref_pairs(const Ref& x, const Ref& y) {
  RefPairs out;
  const bool same_keys = x.keys == y.keys;
  if (same_keys) {
    for (size_t i = 0; i < x.keys.size(); ++i) {
      out.emplace_back(x.keys[i], &x.items[i], &y.items[i]);
    }
    return out;
  }
  std::map<std::string, std::pair<const Ref*, const Ref*>> by_key;
  for (size_t i = 0; i < x.keys.size(); ++i) by_key[x.keys[i]].first = &x.items[i];
  for (size_t i = 0; i < y.keys.size(); ++i) by_key[y.keys[i]].second = &y.items[i];
  for (const auto& [k, v] : by_key) out.emplace_back(k, v.first, v.second);
  return out;
}

bool ref_equal(const Ref& x, const Ref& y) {
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case Ref::kNumber:
      return ref_number_equal(x, y);
    case Ref::kString:
      return x.text == y.text;
    case Ref::kArray:
      if (x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!ref_equal(x.items[i], y.items[i])) return false;
      }
      return true;
    case Ref::kObject:
      for (const auto& [k, u, v] : ref_pairs(x, y)) {
        if (u == nullptr || v == nullptr || !ref_equal(*u, *v)) return false;
      }
      return true;
    default:
      return true;
  }
}

void ref_compare(const Ref& x, const Ref& y, const std::string& path, size_t depth,
                 size_t depth_limit, std::set<std::string>& out) {
  if (x.kind != y.kind) {
    out.insert(path);
    return;
  }
  if (x.kind != Ref::kArray && x.kind != Ref::kObject) {
    if (!ref_equal(x, y)) out.insert(path);
    return;
  }
  if (depth >= depth_limit) {
    if (!ref_equal(x, y)) out.insert(path);
    return;
  }
  if (x.kind == Ref::kArray) {
    if (x.items.size() != y.items.size()) out.insert(path);
    for (size_t i = 0; i < std::min(x.items.size(), y.items.size()); ++i) {
      ref_compare(x.items[i], y.items[i], path + "[*]", depth + 1, depth_limit, out);
    }
    return;
  }
  for (const auto& [k, u, v] : ref_pairs(x, y)) {
    if (u == nullptr || v == nullptr) {
      out.insert(ref_key_path(path, k));
    } else {
      ref_compare(*u, *v, ref_key_path(path, k), depth + 1, depth_limit, out);
    }
  }
}

// The body paths diff() should give for two unencoded bodies.
std::set<std::string> ref_diff(const std::string& a, const std::string& b, bool json_label,
                               size_t depth_limit) {
  if (a == b) return {};
  const auto looks_json = [&](const std::string& s) {
    const size_t i = s.find_first_not_of(" \t\r\n");
    return json_label || (i != std::string::npos && (s[i] == '{' || s[i] == '['));
  };
  Ref x, y;
  if (!(looks_json(a) || looks_json(b)) || !RefParser(a).parse(x) || !RefParser(b).parse(y)) {
    return {"$body"};
  }
  std::set<std::string> out;
  ref_compare(x, y, "$", 0, depth_limit, out);
  return out;
}

// Checks diff()'s paths against the reference, for unencoded bodies not nested too deep for its
// recursion.
void check_ref(const std::string& a, const std::string& b, bool json,
               const std::vector<std::string>& got, bool whole,
               const twin::compare::DiffOptions& options) {
  const std::set<std::string> want =
      ref_diff(a, b, json, std::min<size_t>(options.max_depth, 1000));
  std::vector<std::string> body;
  for (const std::string& p : got) {
    if (p.rfind("header.", 0) != 0) body.push_back(p);
  }
  if (whole) {
    if (!std::equal(body.begin(), body.end(), want.begin(), want.end())) std::abort();
    return;
  }
  for (const std::string& p : body) {
    if (want.count(p) == 0) std::abort();
  }
  if (!options.headers && want.size() <= options.max_paths) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint8_t opt = data[0];
  size_t len = static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8);
  std::string rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  len = std::min(len, rest.size());
  twin::compare::DiffOptions options;
  options.headers = opt & 1;
  if (opt & 16) options.max_depth = 2;
  if (opt & 32) options.max_paths = 2;
  const bool json = opt & 8;
  static const char* const kLabels[] = {"gzip", "deflate", "X-Gzip, identity", "gzip, br"};
  const char* label = kLabels[opt >> 6];
  twin::compare::ResponseDiffer differ(options);
  auto a = response(rest.substr(0, len), json, (opt & 2) ? label : nullptr, 1);
  auto b = response(rest.substr(len), json, (opt & 4) ? label : nullptr, 2);

  std::vector<std::string> ab, ba, aa;
  bool whole_ab = differ.diff(a, b, ab);
  bool whole_ba = differ.diff(b, a, ba);
  check(ab);
  check(ba);
  if (whole_ab && whole_ba && ab != ba) std::abort();
  if (ab.empty() != ba.empty()) std::abort();
  if (!differ.diff(a, a, aa) || !aa.empty()) std::abort();
  const bool shallow = nesting(rest) <= 200;
  if (!(opt & 6) && shallow) check_ref(a.body, b.body, json, ab, whole_ab, options);

  // Past the default max_depth, compare with the largest one too: the recursion must hold.
  if (!(opt & 16) && nesting(rest) > options.max_depth) {
    twin::compare::DiffOptions deep_options = options;
    deep_options.max_depth = 1000;
    twin::compare::ResponseDiffer deep(deep_options);
    std::vector<std::string> deep_ab, deep_ba;
    const bool whole_deep_ab = deep.diff(a, b, deep_ab);
    const bool whole = deep.diff(b, a, deep_ba) && whole_deep_ab;
    check(deep_ab);
    check(deep_ba);
    if (whole && deep_ab != deep_ba) std::abort();
    if (!(opt & 6) && shallow)
      check_ref(a.body, b.body, json, deep_ab, whole_deep_ab, deep_options);
    if (!deep.diff(b, b, deep_ab) || !deep_ab.empty()) std::abort();
  }

  // Every reported path, used as an ignore pattern, hides itself.
  if (whole_ab && !ab.empty()) {
    twin::compare::DiffOptions ignoring = options;
    ignoring.ignore = ab;
    twin::compare::ResponseDiffer quiet(ignoring);
    std::vector<std::string> rest_ab;
    if (!quiet.diff(a, b, rest_ab) || !rest_ab.empty()) std::abort();
  }

  if (a.body.size() > (1u << 14)) return 0;  // keep the metamorphic checks cheap
  std::vector<std::string> got;

  // Encoding the first body (when it is not labelled already) changes nothing.
  if (!(opt & 2) && whole_ab) {
    static const struct {
      const char* coding;
      int window_bits;  // 0: twin::traffic::encode
    } kCodings[] = {{"gzip", 15 + 16}, {"deflate", 15}, {"deflate", -15},
                    {"br", 0},         {"zstd", 0},     {"gzip, br", 0}};
    const auto& c = kCodings[a.body.size() % 6];
    std::string packed;
    if (c.window_bits != 0) {
      packed = compress(a.body, c.window_bits);
    } else {
      const auto codings = twin::traffic::parse_content_encoding(c.coding);
      if (!codings) std::abort();
      packed = a.body;
      for (const auto coding : *codings) {
        std::string next;
        if (!twin::traffic::encode(coding, packed, next)) std::abort();
        packed.swap(next);
      }
    }
    auto encoded = response(std::move(packed), json, c.coding, 1);
    const bool whole = differ.diff(encoded, b, got);
    check(got);
    if (whole &&
        without(got, "header.content-encoding") != without(ab, "header.content-encoding")) {
      std::abort();
    }
  }

  // Whitespace around a JSON body changes nothing.
  if (json && !(opt & 2) && !(opt & 4)) {
    auto padded = response(" \n" + a.body + "\t\r\n", json, nullptr, 1);
    if (a.body != b.body && padded.body != b.body && whole_ab) {
      const bool whole = differ.diff(padded, b, got);
      check(got);
      if (whole && got != ab) std::abort();
    }
    if (!differ.diff(a, padded, got)) std::abort();
    if (!got.empty() && got != std::vector<std::string>{"$body"}) std::abort();
  }
  return 0;
}
