#include "json_rewrite.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "twin/traffic/small_copy.h"
#include "twin/traffic/text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace twin::scrubber {
namespace {

using traffic::append_utf8;

constexpr size_t kMaxDepth = 512;

// Bytes that a string may hold as they are and that need no further look: everything but the
// quote, the backslash, control characters and non-ASCII (which is checked to be UTF-8).
constexpr std::array<bool, 256> make_plain() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}
constexpr std::array<bool, 256> kPlain = make_plain();

constexpr std::array<bool, 256> make_space() {
  std::array<bool, 256> t{};
  t[' '] = t['\t'] = t['\n'] = t['\r'] = true;
  return t;
}
constexpr std::array<bool, 256> kSpace = make_space();

inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

inline int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline size_t skip_space(const unsigned char* s, size_t i, size_t n) {
  if (i < n && s[i] > ' ') return i;  // compact JSON: no space between tokens
  while (i < n && kSpace[s[i]]) ++i;
  return i;
}

#if defined(__SSE2__)
// The bytes of `v` that are not plain (see kPlain), one bit each.
inline unsigned not_plain_bits(__m128i v) {
  const __m128i stop = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
      _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
  // movemask of v itself flags the bytes >= 0x80.
  return static_cast<unsigned>(_mm_movemask_epi8(stop) | _mm_movemask_epi8(v));
}
#endif

// The first index at or after `i` whose byte is not plain (see kPlain), or `n`. Strings are most
// of a JSON body, so this takes 16 bytes at a time where SSE2 is there (always on x86-64).
inline size_t skip_plain(const unsigned char* s, size_t i, size_t n) {
#if defined(__SSE2__)
  while (i + 16 <= n) {
    const unsigned bits = not_plain_bits(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    if (bits != 0) return i + static_cast<size_t>(__builtin_ctz(bits));
    i += 16;
  }
#endif
  while (i < n && kPlain[s[i]]) ++i;
  return i;
}

// What skip_key_plain() notes of a key's plain bytes (JsonVisitor::wants_key, the key's path
// segment): kKeyHint, one of the bytes a scrubber's content detectors start from; kKeySpecial,
// a byte a path segment escapes ('.', '['; a '\\' stops the plain bytes anyway).
constexpr uint8_t kKeyHint = 1;
constexpr uint8_t kKeySpecial = 2;
constexpr std::array<uint8_t, 256> make_key_class() {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= ':'; ++c) t[c] = kKeyHint;
  t['@'] = t['%'] = kKeyHint;
  t['.'] = t['['] = kKeySpecial;
  return t;
}
constexpr std::array<uint8_t, 256> kKeyClass = make_key_class();

// skip_plain() for a key, also OR-ing into `seen` the kKeyClass bits of the plain bytes it
// passes (and of none past them): keys outnumber values, and each was looked at twice more,
// byte by byte, for those (2026-12-06: about 5 % of a scrub's instructions).
inline size_t skip_key_plain(const unsigned char* s, size_t i, size_t n, uint8_t& seen) {
#if defined(__SSE2__)
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i ten = _mm_set1_epi8(10);
  const __m128i at = _mm_set1_epi8('@');
  const __m128i percent = _mm_set1_epi8('%');
  const __m128i dot = _mm_set1_epi8('.');
  const __m128i bracket = _mm_set1_epi8('[');
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const unsigned bits = not_plain_bits(v);
    const __m128i d = _mm_sub_epi8(v, zero);  // '0'..':' are 0..10
    const __m128i hint =
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(d, ten), d),
                     _mm_or_si128(_mm_cmpeq_epi8(v, at), _mm_cmpeq_epi8(v, percent)));
    const __m128i special = _mm_or_si128(_mm_cmpeq_epi8(v, dot), _mm_cmpeq_epi8(v, bracket));
    unsigned hint_bits = static_cast<unsigned>(_mm_movemask_epi8(hint));
    unsigned special_bits = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (bits != 0) {
      const unsigned before = (1u << __builtin_ctz(bits)) - 1;
      hint_bits &= before;
      special_bits &= before;
    }
    seen |= static_cast<uint8_t>((hint_bits != 0 ? kKeyHint : 0) |
                                 (special_bits != 0 ? kKeySpecial : 0));
    if (bits != 0) return i + static_cast<size_t>(__builtin_ctz(bits));
    i += 16;
  }
#endif
  while (i < n && kPlain[s[i]]) seen |= kKeyClass[s[i++]];
  return i;
}

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF) whose lead byte s[i] is >= 0x80, or 0 with `err` at the first byte that cannot
// belong to one (`n` when the input ends inside the sequence).
inline size_t utf8_length(const unsigned char* s, size_t i, size_t n, size_t& err) {
  const unsigned char c = s[i];
  size_t len;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    err = i;
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= n) {
      err = n;
      return 0;
    }
    const unsigned char b = s[i + k];
    if (b < lo || b > hi) {
      err = i + k;
      return 0;
    }
    lo = 0x80;
    hi = 0xBF;
  }
  return len;
}

// Four hex digits at s[i..i+4), or -1 with `err` at the first bad one (`n` when cut short).
inline int32_t hex4(const unsigned char* s, size_t i, size_t n, size_t& err) {
  int32_t v = 0;
  for (size_t k = 0; k < 4; ++k) {
    if (i + k >= n) {
      err = n;
      return -1;
    }
    const int h = hex_value(s[i + k]);
    if (h < 0) {
      err = i + k;
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

// The end of the number starting at s[i] (RFC 8259:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or false with `err` at the first byte that
// cannot continue it.
inline bool scan_number(const unsigned char* s, size_t i, size_t n, size_t& end, size_t& err) {
  auto need_digit = [&](size_t j) {
    if (j >= n) {
      err = n;
      return false;
    }
    if (!is_digit(s[j])) {
      err = j;
      return false;
    }
    return true;
  };
  if (s[i] == '-') ++i;
  if (!need_digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!need_digit(i)) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!need_digit(i)) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  end = i;
  return true;
}

bool is_json_number(std::string_view v) {
  if (v.empty()) return false;
  size_t end = 0;
  size_t err = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(v.data());
  return scan_number(s, 0, v.size(), end, err) && end == v.size();
}

// Whether one of the eight bytes of `w` is `b` (the zero-byte test on w ^ b·0x01…01: exact).
constexpr uint64_t has_byte(uint64_t w, uint8_t b) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const uint64_t x = w ^ (kOnes * b);
  return (x - kOnes) & ~x & (kOnes * 0x80);
}

// The paths and keys of the pass: bytes appended and cut back at every member, without
// std::string's checks and terminator on each call (they were a tenth of the parser's work).
class Bytes {
 public:
  size_t size() const { return n_; }
  const char* data() const { return buf_.get(); }
  // Cuts back to `n` (a size it had before).
  void resize(size_t n) { n_ = n; }
  void append(const char* p, size_t k) {
    if (k == 0) return;
    if (n_ + k > cap_) grow(n_ + k);
    // Keys and path segments are short (a million appends in a mixed bench's 2,000 exchanges).
    traffic::copy_small(buf_.get() + n_, p, k);
    n_ += k;
  }
  void append(std::string_view v) { append(v.data(), v.size()); }
  void push_back(char c) {
    if (n_ == cap_) grow(n_ + 1);
    buf_[n_++] = c;
  }
  std::string_view view() const { return {buf_.get(), n_}; }

 private:
  void grow(size_t need) {
    const size_t cap = std::max<size_t>({need, 2 * cap_, 256});
    std::unique_ptr<char[]> b(new char[cap]);
    if (n_ != 0) std::memcpy(b.get(), buf_.get(), n_);
    buf_ = std::move(b);
    cap_ = cap;
  }
  std::unique_ptr<char[]> buf_;
  size_t n_ = 0;
  size_t cap_ = 0;
};

// A key as a path segment: '.', '[' and '\' escaped by '\'. Keys are short and seldom hold
// one: eight bytes at a time up to the first that may, then byte by byte.
void append_path_segment(Bytes& path, std::string_view key) {
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, key.data() + i, 8);
    if (has_byte(w, '.') | has_byte(w, '[') | has_byte(w, '\\')) break;
  }
  size_t run = 0;
  for (; i < key.size(); ++i) {
    const char c = key[i];
    if (c == '.' || c == '[' || c == '\\') {
      path.append(key.data() + run, i - run);
      path.push_back('\\');
      run = i;
    }
  }
  path.append(key.data() + run, key.size() - run);
}

struct XxhStateDeleter {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using XxhStatePtr = std::unique_ptr<XXH3_state_t, XxhStateDeleter>;

// The single pass over a JSON text. With kHash it only feeds the structural tokens to a hash;
// otherwise it visits keys and values, keeps the path, and copies `in` to `out` lazily: bytes
// are appended only in front of a replacement and once at the end, so an identity rewrite is
// one memcpy.
template <bool kHash>
class Parser {
 public:
  Parser(std::string_view in, JsonVisitor* visitor, std::string* out)
      : in_(in),
        s_(reinterpret_cast<const unsigned char*>(in.data())),
        n_(in.size()),
        visitor_(visitor),
        out_(out) {
    frames_.reserve(16);
  }

  JsonRewriteResult run() {
    size_t err = 0;
    if (!parse(err)) {
      result_.valid = false;
      result_.error_offset = err;
    }
    if constexpr (!kHash) out_->append(in_.data() + copied_, n_ - copied_);
    return result_;
  }

  // Only with kHash: the hash of the token stream once run() said valid.
  uint64_t digest() {
    flush_tokens();
    return XXH3_64bits_digest(hash_.get());
  }

  bool init_hash() {
    hash_.reset(XXH3_createState());
    return hash_ && XXH3_64bits_reset(hash_.get()) == XXH_OK;
  }

 private:
  struct Span {
    size_t off = 0;
    size_t len = 0;
  };
  struct Frame {
    bool object;
    bool root;        // this container is the root value
    size_t path_len;  // the length of the container's own path
    size_t key_off;   // keys_ size when it opened
    size_t at;        // where its '{' or '[' is in the input
    Span near;        // near_ and parent_ when it opened, restored when it closes
    Span parent;
    bool label_read = false;  // label_value(): `label` is this object's sibling_label()
    std::string_view label;
  };
  enum class State : uint8_t { kValue, kFirstValue, kFirstKey, kKey, kAfter };

  bool parse(size_t& err) {
    const unsigned char* s = s_;
    const size_t n = n_;
    size_t i = 0;
    // A UTF-8 byte order mark may be ignored (RFC 8259 section 8.1); it is copied like the rest.
    static constexpr unsigned char kBom[] = {0xEF, 0xBB, 0xBF};
    if (n > 0 && s[0] == kBom[0]) {
      for (; i < 3; ++i) {
        if (i == n) {
          err = n;  // the input ends inside a byte order mark
          return false;
        }
        if (s[i] != kBom[i]) {
          err = 0;
          return false;
        }
      }
    }
    State st = State::kValue;
    std::string_view decoded;
    for (;;) {
      i = skip_space(s, i, n);
      switch (st) {
        case State::kFirstValue:
          if (i < n && s[i] == ']') {
            ++i;
            close();
            st = State::kAfter;
            continue;
          }
          [[fallthrough]];
        case State::kValue: {
          if (i >= n) {
            err = n;
            return false;
          }
          const unsigned char c = s[i];
          if (c == '"') {
            const size_t begin = i;
            if (!parse_string(i, decoded, err)) return false;
            value(JsonToken::kString, begin, i, decoded);
            st = State::kAfter;
            continue;
          }
          if (c == '{' || c == '[') {
            if (frames_.size() == kMaxDepth) {
              err = i;
              return false;
            }
            open(c == '{', i);
            ++i;
            st = c == '{' ? State::kFirstKey : State::kFirstValue;
            continue;
          }
          if (c == '-' || is_digit(c)) {
            size_t end = 0;
            if (!scan_number(s, i, n, end, err)) return false;
            value(JsonToken::kNumber, i, end, std::string_view(in_.data() + i, end - i));
            i = end;
            st = State::kAfter;
            continue;
          }
          const char* literal = c == 't'   ? "true"
                                : c == 'f' ? "false"
                                : c == 'n' ? "null"
                                           : nullptr;
          if (literal == nullptr) {
            err = i;
            return false;
          }
          const size_t len = std::strlen(literal);
          for (size_t k = 1; k < len; ++k) {
            if (i + k >= n) {
              err = n;
              return false;
            }
            if (s[i + k] != static_cast<unsigned char>(literal[k])) {
              err = i + k;
              return false;
            }
          }
          if constexpr (kHash) token(c == 'n' ? 'z' : static_cast<char>(c));
          i += len;
          st = State::kAfter;
          continue;
        }
        case State::kFirstKey:
          if (i < n && s[i] == '}') {
            ++i;
            close();
            st = State::kAfter;
            continue;
          }
          [[fallthrough]];
        case State::kKey: {
          if (i >= n) {
            err = n;
            return false;
          }
          if (s[i] != '"') {
            err = i;
            return false;
          }
          const size_t begin = i;
          uint8_t seen = 0;
          if (!parse_string(i, decoded, err, kHash ? nullptr : &seen)) return false;
          key(begin, i, decoded, seen);
          i = skip_space(s, i, n);
          if (i >= n) {
            err = n;
            return false;
          }
          if (s[i] != ':') {
            err = i;
            return false;
          }
          ++i;
          st = State::kValue;
          continue;
        }
        case State::kAfter: {
          if (frames_.empty()) {
            if (i == n) return true;
            err = i;
            return false;
          }
          if (i >= n) {
            err = n;
            return false;
          }
          const bool object = frames_.back().object;
          if (s[i] == ',') {
            ++i;
            st = object ? State::kKey : State::kValue;
            continue;
          }
          if (s[i] == (object ? '}' : ']')) {
            ++i;
            close();
            continue;
          }
          err = i;
          return false;
        }
      }
    }
  }

  // Parses the string whose opening quote is at s[i]; on success `i` is past the closing quote
  // and `decoded` views either the input (no backslash: the fast path) or scratch_.
  // `seen`: for a key, what skip_key_plain() saw of its plain bytes; it takes kKeyHint and
  // kKeySpecial both when the key has an escape (what the escapes decode to is not looked at).
  bool parse_string(size_t& i, std::string_view& decoded, size_t& err, uint8_t* seen = nullptr) {
    const unsigned char* s = s_;
    const size_t n = n_;
    const size_t start = i + 1;
    size_t j = start;
    size_t run = start;  // start of the raw bytes not yet appended to scratch_
    bool escaped = false;
    for (;;) {
      j = seen != nullptr ? skip_key_plain(s, j, n, *seen) : skip_plain(s, j, n);
      if (j >= n) {
        err = n;
        return false;
      }
      const unsigned char c = s[j];
      if (c == '"') {
        if (escaped) {
          scratch_.append(in_.data() + run, j - run);
          decoded = scratch_;
        } else {
          decoded = std::string_view(in_.data() + start, j - start);
        }
        i = j + 1;
        return true;
      }
      if (c >= 0x80) {
        const size_t len = utf8_length(s, j, n, err);
        if (len == 0) return false;
        j += len;
        continue;
      }
      if (c != '\\') {
        err = j;  // a control character
        return false;
      }
      if (!escaped) {
        escaped = true;
        scratch_.clear();
        if (seen != nullptr) *seen |= kKeyHint | kKeySpecial;
      }
      scratch_.append(in_.data() + run, j - run);
      if (j + 1 >= n) {
        err = n;
        return false;
      }
      switch (s[j + 1]) {
        case '"':
        case '\\':
        case '/':
          scratch_ += static_cast<char>(s[j + 1]);
          j += 2;
          break;
        case 'b':
          scratch_ += '\b';
          j += 2;
          break;
        case 'f':
          scratch_ += '\f';
          j += 2;
          break;
        case 'n':
          scratch_ += '\n';
          j += 2;
          break;
        case 'r':
          scratch_ += '\r';
          j += 2;
          break;
        case 't':
          scratch_ += '\t';
          j += 2;
          break;
        case 'u': {
          const int32_t cp = hex4(s, j + 2, n, err);
          if (cp < 0) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && j + 12 <= n && s[j + 6] == '\\' && s[j + 7] == 'u') {
            size_t ignored = 0;
            const int32_t lo = hex4(s, j + 8, n, ignored);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              append_utf8(scratch_, 0x10000 + ((static_cast<uint32_t>(cp) - 0xD800) << 10) +
                                        (static_cast<uint32_t>(lo) - 0xDC00));
              j += 12;
              break;
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) {
            // A lone surrogate has no UTF-8 form: its escape is kept as text.
            scratch_.append(in_.data() + j, 6);
          } else {
            append_utf8(scratch_, static_cast<uint32_t>(cp));
          }
          j += 6;
          break;
        }
        default:
          err = j + 1;
          return false;
      }
      run = j;
    }
  }

  void open(bool object, size_t at) {
    if constexpr (kHash) {
      frames_.push_back(Frame{object, frames_.empty(), 0, 0, 0, {}, {}, false, {}});
      token(object ? '{' : '[');
    } else {
      frames_.push_back(Frame{
          object, frames_.empty(), path_.size(), keys_.size(), at, near_, parent_, false, {}});
      if (object) {
        parent_ = near_;
      } else {
        path_.append("[]", 2);
      }
    }
  }

  void close() {
    const Frame& f = frames_.back();
    if constexpr (kHash) {
      token(f.object ? '}' : ']');
    } else {
      path_.resize(f.path_len);
      keys_.resize(f.key_off);
      near_ = f.near;
      parent_ = f.parent;
    }
    frames_.pop_back();
  }

  void key(size_t begin, size_t end, std::string_view decoded, uint8_t seen) {
    if constexpr (kHash) {
      token('k');
      const uint64_t len = decoded.size();
      tokens_.append(reinterpret_cast<const char*>(&len), sizeof len);
      tokens_.append(decoded);
    } else {
      const Frame& f = frames_.back();
      if (visitor_->wants_key(decoded, (seen & kKeyHint) != 0)) {
        ++result_.visited;
        replacement_.clear();
        if (labelled_) {
          visitor_->label = {};
          labelled_ = false;
        }
        if (visitor_->visit(JsonToken::kKey, std::string_view(path_.data(), f.path_len),
                            parent_view(), decoded, replacement_)) {
          replace_string(begin, end);
        }
      }
      keys_.resize(f.key_off);
      keys_.append(decoded);
      near_ = Span{f.key_off, decoded.size()};
      path_.resize(f.path_len);
      if (!f.root) path_.push_back('.');
      if ((seen & kKeySpecial) != 0) {
        append_path_segment(path_, decoded);
      } else {
        path_.append(decoded);  // nothing to escape
      }
    }
  }

  void value(JsonToken t, size_t begin, size_t end, std::string_view decoded) {
    if constexpr (kHash) {
      token(t == JsonToken::kString ? 's' : 'n');
    } else {
      ++result_.visited;
      replacement_.clear();
      if (labelled_) {
        visitor_->label = {};
        labelled_ = false;
      }
      // (most keys are not "value": one byte tells)
      if ((near_.len == 5 || near_.len == 3) && (keys_.data()[near_.off] | 0x20) == 'v') {
        label_value();
      }
      if (!visitor_->visit(t, path_.view(), parent_view(), decoded, replacement_)) return;
      if (t == JsonToken::kNumber) {
        if (!is_json_number(replacement_)) {
          ++result_.bad_numbers;
          return;
        }
        flush_to(begin);
        out_->append(replacement_);
        copied_ = end;
        ++result_.replaced;
      } else {
        replace_string(begin, end);
      }
    }
  }

  // JsonVisitor::label for the value about to be visited, whose key begins with 'v' or 'V'.
  [[gnu::noinline]] void label_value() {
    // an object's member (not an element of an array under such a key)
    if (frames_.empty() || !frames_.back().object) return;
    if (is_value_key(std::string_view(keys_.data() + near_.off, near_.len))) {
      // once an object, however many "value" members it has (a hostile body's many would each
      // scan up to 4 KiB again)
      Frame& f = frames_.back();
      if (!f.label_read) {
        f.label = sibling_label(f.at);
        f.label_read = true;
      }
      visitor_->label = f.label;
      labelled_ = !visitor_->label.empty();
    }
  }

  // The string value of a member of the object opening at in_[at] that names what its "value"
  // member holds (JsonVisitor::label): read from the input with a small scan of the object's own
  // members (nested containers skipped), at most kLabelScan bytes of it. Empty when there is
  // none, or when it has escapes.
  static constexpr size_t kLabelScan = 4096;
  std::string_view sibling_label(size_t at) const {
    const unsigned char* s = s_;
    const size_t n = std::min(n_, at + kLabelScan);
    size_t i = at + 1;
    // One string from s[i] == '"': its end (after the closing quote), and whether it has escapes.
    auto string_end = [&](size_t j, bool& escaped) {
      escaped = false;
      for (++j; j < n; ++j) {
        if (s[j] == '\\') {
          escaped = true;
          ++j;
        } else if (s[j] == '"') {
          return j + 1;
        }
      }
      return n + 1;  // not within the scan
    };
    int depth = 0;
    bool want_key = true;   // at depth 0: the next string is a key
    bool labelled = false;  // the key just read names the label
    while (i < n) {
      const unsigned char c = s[i];
      if (c == '"') {
        bool escaped = false;
        const size_t e = string_end(i, escaped);
        if (e > n) return {};
        if (depth == 0) {
          if (want_key) {
            labelled = !escaped && is_label_key(std::string_view(in_.data() + i + 1, e - i - 2));
          } else if (labelled && !escaped) {
            return std::string_view(in_.data() + i + 1, e - i - 2);
          }
        }
        i = e;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) return {};
        --depth;
      } else if (depth == 0 && c == ':') {
        want_key = false;
      } else if (depth == 0 && c == ',') {
        want_key = true;
        labelled = false;
      }
      ++i;
    }
    return {};
  }

  void replace_string(size_t begin, size_t end) {
    flush_to(begin);
    append_json_string(*out_, replacement_);
    copied_ = end;
    ++result_.replaced;
  }

  void flush_to(size_t pos) {
    out_->append(in_.data() + copied_, pos - copied_);
    copied_ = pos;
  }

  std::string_view parent_view() const {
    return std::string_view(keys_.data() + parent_.off, parent_.len);
  }

  void token(char c) {
    tokens_ += c;
    if (tokens_.size() >= (64u << 10)) flush_tokens();
  }

  void flush_tokens() {
    XXH3_64bits_update(hash_.get(), tokens_.data(), tokens_.size());
    tokens_.clear();
  }

  std::string_view in_;
  const unsigned char* s_;
  size_t n_;
  JsonVisitor* visitor_;
  std::string* out_;
  size_t copied_ = 0;
  JsonRewriteResult result_;
  std::vector<Frame> frames_;
  Bytes path_;               // the current value's path
  Bytes keys_;               // the decoded keys of the open object members, end to end
  Span near_;                // in keys_: the key of the innermost open member
  Span parent_;              // in keys_: what visit() gets as `parent`
  bool labelled_ = false;    // visitor_->label is set
  std::string scratch_;      // decoded strings that had escapes
  std::string replacement_;  // handed to the visitor
  std::string tokens_;       // kHash: structural tokens not yet hashed
  XxhStatePtr hash_;
};

}  // namespace

JsonRewriteResult rewrite_json(std::string_view in, JsonVisitor& visitor, std::string& out) {
  out.clear();
  out.reserve(in.size());
  visitor.label = {};  // (the parser clears only what it set)
  Parser<false> parser(in, &visitor, &out);
  return parser.run();
}

uint64_t json_structure_hash(std::string_view in) {
  Parser<true> parser(in, nullptr, nullptr);
  if (!parser.init_hash()) return 0;
  if (!parser.run().valid) return 0;
  const uint64_t h = parser.digest();
  return h == 0 ? 1 : h;  // 0 means invalid
}

bool is_label_key(std::string_view k) {
  if (k.size() < 3 || k.size() > 14) return false;
  char folded[16];
  size_t m = 0;
  for (char c : k) {
    if (c == '_' || c == '-') continue;
    folded[m++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  const std::string_view f(folded, m);
  return f == "name" || f == "key" || f == "field" || f == "property" || f == "attribute" ||
         f == "label" || f == "fieldname" || f == "propertyname" || f == "attributename";
}

bool is_value_key(std::string_view k) {
  return k == "value" || k == "Value" || k == "VALUE" || k == "val";
}

void append_json_string(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* s = reinterpret_cast<const unsigned char*>(v.data());
  const size_t n = v.size();
  out += '"';
  size_t run = 0;
  size_t i = 0;
  while (i < n) {
    i = skip_plain(s, i, n);
    if (i >= n) break;
    const unsigned char c = s[i];
    if (c >= 0x80) {
      size_t err = 0;
      const size_t len = utf8_length(s, i, n, err);
      if (len != 0) {
        i += len;
        continue;
      }
      out.append(v.data() + run, i - run);
      out += "\xEF\xBF\xBD";
      run = ++i;
      continue;
    }
    out.append(v.data() + run, i - run);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
        break;
    }
    run = ++i;
  }
  out.append(v.data() + run, n - run);
  out += '"';
}

}  // namespace twin::scrubber
