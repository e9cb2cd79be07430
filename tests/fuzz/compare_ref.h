#pragma once
// The fuzz targets' reference for the comparator's response diff (compare/src/diff.cc): a plain
// recursive DOM parser of JSON and a differ, written from the contract in diff.h, slow and
// simple on purpose. fuzz_compare_diff checks JSON bodies against it; fuzz_compare_binary builds
// the same DOM from nlohmann::json's MessagePack and CBOR readers.

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

namespace compare_ref {

struct Ref {
  enum Kind { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject } kind = kNull;
  std::string text;  // number as written, or unescaped string (a MessagePack ext: type, data)
  bool integer = false;
  // What the binary formats tell apart (diff.h): a number's type (integer or float) when both
  // sides come from one, a string's flavour, the CBOR tags. JSON leaves them as they are.
  bool typed = false;
  enum Flavour { kText, kBytes, kExt } flavour = kText;
  std::vector<uint64_t> tags;
  std::vector<std::string> keys;  // object members in order, duplicates kept
  std::vector<Ref> items;         // array elements, or the object's values
  bool names = false;             // the keys are names (XML's, Thrift's field ids), not data
  bool any_order = false;         // its order means nothing (a Thrift set: tape::kAnyOrder)
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

inline bool ref_number_equal(const Ref& x, const Ref& y) {
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

inline bool ref_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

inline std::string ref_quoted_path(const std::string& path, const std::string& key);

inline std::string ref_key_path(const std::string& path, const std::string& key) {
  // Keys that are data are named by their kind (diff.h): more than 64 bytes, digits only, an '@'.
  if (key.size() > 64) return path + "[\"{long-key}\"]";
  if (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
    return path + "[\"{id}\"]";
  }
  if (key.find('@') != std::string::npos) return path + "[\"{email}\"]";
  if (!key.empty() && std::all_of(key.begin(), key.end(), ref_ident)) return path + "." + key;
  return ref_quoted_path(path, key);
}

// A name's step (XML's element and attribute names): after a '.' when it is made of
// identifier bytes, '-', '@', '#' and bytes past ASCII; quoted otherwise; over 64 bytes by kind.
inline std::string ref_name_path(const std::string& path, const std::string& key) {
  if (key.size() > 64) return path + "[\"{long-key}\"]";
  const auto name = [](char c) {
    return ref_ident(c) || c == '-' || c == '@' || c == '#' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  if (!key.empty() && std::all_of(key.begin(), key.end(), name)) return path + "." + key;
  return ref_quoted_path(path, key);
}

inline std::string ref_quoted_path(const std::string& path, const std::string& key) {
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
inline RefPairs ref_pairs(const Ref& x, const Ref& y) {
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

// One kind, and one type within it.
inline bool ref_same_type(const Ref& x, const Ref& y) {
  if (x.kind != y.kind || x.flavour != y.flavour || x.tags != y.tags) return false;
  return !(x.kind == Ref::kNumber && x.typed && y.typed && x.integer != y.integer);
}

// Which arrays are unordered (DiffOptions::unordered): the fuzz targets name all of them
// ("$.**") or none; either way only to the depth limit (deeper arrays are compared in order).
struct RefArrays {
  bool any_order = false;
  size_t depth_limit = 64;
  size_t max_align = size_t{1} << 16;
  bool unordered(size_t depth) const { return any_order && depth <= depth_limit; }
};

inline bool ref_equal(const Ref& x, const Ref& y, size_t depth = 0, const RefArrays& arrays = {});

// Unordered arrays: each of x's elements, in order, takes the first of y's not yet taken that
// equals it. Fills the leftovers (indices, in order); true when every element of x found one.
inline bool ref_match_any_order(const Ref& x, const Ref& y, size_t depth, const RefArrays& arrays,
                                std::vector<size_t>& left_x, std::vector<size_t>& left_y) {
  std::vector<bool> taken(y.items.size(), false);
  bool whole = true;
  for (size_t i = 0; i < x.items.size(); ++i) {
    bool found = false;
    for (size_t j = 0; j < y.items.size() && !found; ++j) {
      if (!taken[j] && ref_equal(x.items[i], y.items[j], depth + 1, arrays))
        found = taken[j] = true;
    }
    if (!found) {
      whole = false;
      left_x.push_back(i);
    }
  }
  for (size_t j = 0; j < y.items.size(); ++j) {
    if (!taken[j]) left_y.push_back(j);
  }
  return whole;
}

inline bool ref_equal(const Ref& x, const Ref& y, size_t depth, const RefArrays& arrays) {
  if (!ref_same_type(x, y)) return false;
  switch (x.kind) {
    case Ref::kNumber:
      return ref_number_equal(x, y);
    case Ref::kString:
      return x.text == y.text;
    case Ref::kArray: {
      if (x.items.size() != y.items.size()) return false;
      if (x.any_order || arrays.unordered(depth)) {
        std::vector<size_t> lx, ly;
        return ref_match_any_order(x, y, depth, arrays, lx, ly);
      }
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!ref_equal(x.items[i], y.items[i], depth + 1, arrays)) return false;
      }
      return true;
    }
    case Ref::kObject:
      for (const auto& [k, u, v] : ref_pairs(x, y)) {
        if (u == nullptr || v == nullptr || !ref_equal(*u, *v, depth + 1, arrays)) return false;
      }
      return true;
    default:
      return true;
  }
}

// The pairs of elements of two ordered arrays to compare, as diff.h says: common prefix and
// suffix, then a longest common subsequence by a full table (ties pass over x's element first),
// the unmatched elements between two matches paired in order. Sets `unpaired` when an element is
// left without a partner.
inline std::vector<std::pair<size_t, size_t>> ref_align(const Ref& x, const Ref& y, size_t depth,
                                                        const RefArrays& arrays, bool& unpaired) {
  const size_t n = x.items.size(), m = y.items.size();
  const auto eq = [&](size_t i, size_t j) {
    return ref_equal(x.items[i], y.items[j], depth + 1, arrays);
  };
  size_t p = 0, s = 0;
  while (p < n && p < m && eq(p, p)) ++p;
  while (s < n - p && s < m - p && eq(n - 1 - s, m - 1 - s)) ++s;
  const size_t rn = n - p - s, rm = m - p - s;
  std::vector<std::pair<size_t, size_t>> out;
  const auto run = [&](size_t i0, size_t i1, size_t j0, size_t j1) {
    for (size_t k = 0; k < std::min(i1 - i0, j1 - j0); ++k)
      out.emplace_back(p + i0 + k, p + j0 + k);
    if (i1 - i0 != j1 - j0) unpaired = true;
  };
  if (rn == 0 || rm == 0 || rn * rm > arrays.max_align) {
    run(0, rn, 0, rm);
    return out;
  }
  std::vector<std::vector<size_t>> lcs(rn + 1, std::vector<size_t>(rm + 1, 0));
  std::vector<std::vector<bool>> same(rn + 1, std::vector<bool>(rm + 1, false));
  for (size_t i = rn; i-- > 0;) {
    for (size_t j = rm; j-- > 0;) {
      same[i][j] = eq(p + i, p + j);
      lcs[i][j] = same[i][j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0, j = 0, gi = 0, gj = 0;
  while (i < rn && j < rm) {
    if (same[i][j]) {
      run(gi, i, gj, j);
      gi = ++i;
      gj = ++j;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      ++i;
    } else {
      ++j;
    }
  }
  run(gi, rn, gj, rm);
  return out;
}

inline void ref_compare(const Ref& x, const Ref& y, const std::string& path, size_t depth,
                        size_t depth_limit, std::set<std::string>& out,
                        const RefArrays& arrays_in = {}) {
  RefArrays arrays = arrays_in;
  arrays.depth_limit = depth_limit;
  if (!ref_same_type(x, y)) {
    out.insert(path);
    return;
  }
  if (x.kind != Ref::kArray && x.kind != Ref::kObject) {
    if (!ref_equal(x, y, depth, arrays)) out.insert(path);
    return;
  }
  if (depth >= depth_limit) {
    if (!ref_equal(x, y, depth, arrays)) out.insert(path);
    return;
  }
  if (x.kind == Ref::kArray) {
    bool unpaired = false;
    std::vector<std::pair<size_t, size_t>> pairs;
    if (x.any_order || arrays.unordered(depth)) {
      std::vector<size_t> lx, ly;
      ref_match_any_order(x, y, depth, arrays, lx, ly);
      for (size_t k = 0; k < std::min(lx.size(), ly.size()); ++k) pairs.emplace_back(lx[k], ly[k]);
      unpaired = lx.size() != ly.size();
    } else {
      pairs = ref_align(x, y, depth, arrays, unpaired);
    }
    if (unpaired) out.insert(path);
    for (const auto& [i, j] : pairs) {
      ref_compare(x.items[i], y.items[j], path + "[*]", depth + 1, depth_limit, out, arrays);
    }
    return;
  }
  for (const auto& [k, u, v] : ref_pairs(x, y)) {
    // (named as the side it comes from says: the baseline's when both have it)
    const bool names = u != nullptr ? x.names : y.names;
    const std::string at = names ? ref_name_path(path, k) : ref_key_path(path, k);
    if (u == nullptr || v == nullptr) {
      out.insert(at);
    } else {
      ref_compare(*u, *v, at, depth + 1, depth_limit, out, arrays);
    }
  }
}

// diff()'s paths are sorted and distinct, and each starts with '$' or "header.".
inline void check(const std::vector<std::string>& paths) {
  if (!std::is_sorted(paths.begin(), paths.end())) std::abort();
  if (std::adjacent_find(paths.begin(), paths.end()) != paths.end()) std::abort();
  for (const auto& p : paths) {
    if (p.rfind("$", 0) != 0 && p.rfind("header.", 0) != 0) std::abort();
  }
}

// A target's answer of `body`, labelled `type` (none when null); X-Salt (`salt`) makes the
// headers of two answers differ, as a real pair's do.
inline twin::traffic::Response response(std::string body, const char* type, int salt) {
  twin::traffic::Response r;
  r.status = 200;
  if (type != nullptr) r.headers.push_back({"Content-Type", type});
  r.headers.push_back({"X-Salt", std::to_string(salt)});
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

// The compare targets' input: an options byte, the first body's length (two bytes,
// little-endian, clamped to what is there), the first body, then the second.
struct Input {
  uint8_t opt = 0;
  std::string first, second, both;  // `both`: the two bodies as they came
};
inline bool split_input(const uint8_t* data, size_t size, Input& in) {
  if (size < 3) return false;
  in.opt = data[0];
  const size_t len = static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8);
  in.both.assign(reinterpret_cast<const char*>(data) + 3, size - 3);
  in.first = in.both.substr(0, std::min(len, in.both.size()));
  in.second = in.both.substr(in.first.size());
  return true;
}

// The properties of any diff: a response never differs from itself, the paths are well-formed
// (check()), and one way's are empty only when the other way's are. Returns whether a→b was
// whole (not cut at max_paths), its paths in `ab`.
inline bool basic(twin::compare::ResponseDiffer& differ, const twin::traffic::Response& a,
                  const twin::traffic::Response& b, std::vector<std::string>& ab) {
  std::vector<std::string> ba, same;
  const bool whole_ab = differ.diff(a, b, ab);
  differ.diff(b, a, ba);
  check(ab);
  check(ba);
  if (ab.empty() != ba.empty()) std::abort();
  if (!differ.diff(a, a, same) || !same.empty()) std::abort();
  if (!differ.diff(b, b, same) || !same.empty()) std::abort();
  return whole_ab;
}

// Checks diff()'s body paths (`got`, headers left out) against the reference's (`want`): the same
// when the diff was not cut (`whole`), otherwise a part of them, cut only past max_paths.
inline void check_paths(const std::set<std::string>& want, const std::vector<std::string>& got,
                        bool whole, const twin::compare::DiffOptions& options) {
  std::vector<std::string> body;
  for (const std::string& p : got) {
    if (p.rfind("header.", 0) != 0) body.push_back(p);
  }
  if (whole) {
    if (!std::equal(body.begin(), body.end(), want.begin(), want.end())) {
      // (TWIN_FUZZ_DEBUG=1: both lists of paths on stderr, to see a crash's difference)
      if (std::getenv("TWIN_FUZZ_DEBUG") != nullptr) {
        for (const std::string& p : body) std::fprintf(stderr, "got  %s\n", p.c_str());
        for (const std::string& p : want) std::fprintf(stderr, "want %s\n", p.c_str());
      }
      std::abort();
    }
    return;
  }
  for (const std::string& p : body) {
    if (want.count(p) == 0) std::abort();
  }
  if (!options.headers && want.size() <= options.max_paths) std::abort();
}

}  // namespace compare_ref
