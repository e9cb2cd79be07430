#include "twin/scrubber/transform.h"

#include <arpa/inet.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "aes_ecb.h"
#include "prp.h"
#include "siphash.h"
#include "twin/scrubber/ff1.h"

namespace twin::scrubber {
namespace {

// ---------------------------------------------------------------------------------------------
// Character classes.

// What one byte of a value may become. kOther bytes stay as they are.
enum Cls : uint8_t {
  kOther = 0,
  kDigit,
  kUpper,
  kLower,
  kHexUpper,  // A-F only (the value's letters are all hex)
  kHexLower,  // a-f only
  kHex16,     // 0-9a-f as one class (UUID nibbles)
  // Scheme 3: letters outside ASCII, one class a script (and case), each a set of code points
  // of one UTF-8 length (kUni below). Such a class is the class of a letter's first byte; its
  // other bytes are kCont, written with it.
  kLatinUpper,  // À-Þ
  kLatinLower,  // ß-ÿ
  kLatinExt,    // Latin Extended-A (Ł, Ş, Č…; case not kept)
  kGreekUpper,
  kGreekLower,
  kCyrillicUpper,
  kCyrillicLower,
  kHebrew,
  kArabic,
  kDevanagari,
  kThai,
  kHiragana,
  kKatakana,
  kHan,  // CJK unified ideographs
  kHangul,
  kCont,
};
constexpr uint8_t kUniFirst = kLatinUpper;

constexpr std::array<uint8_t, 7> kClassSize = {1, 10, 26, 26, 6, 6, 16};  // the ASCII classes
constexpr std::array<const char*, 7> kAlphabet = {"",
                                                  "0123456789",
                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                  "abcdefghijklmnopqrstuvwxyz",
                                                  "ABCDEF",
                                                  "abcdef",
                                                  "0123456789abcdef"};
// The class as it enters the tweak: never a byte that can stay in place (those are not
// alphanumeric), so a shape string is unambiguous. A letter of a kUni class is its marker once
// for each of its bytes (each class has one UTF-8 length).
constexpr std::array<uint8_t, 7> kShapeChar = {0, '0', 'A', 'a', 'F', 'f', 'x'};

// The letters of a script that a token keeps in that script (scheme 3): up to two ranges of
// code points, all of one UTF-8 length, all assigned letters. What is not in one of them
// (combining marks, digits of other scripts, symbols, emoji, scripts not listed) stays in place.
struct UniClass {
  uint8_t marker;  // in the shape
  uint8_t length;  // UTF-8 bytes
  uint32_t first[2], last[2];
  uint32_t size() const { return last[0] - first[0] + 1 + (last[1] ? last[1] - first[1] + 1 : 0); }
  uint32_t at(uint32_t i) const {
    const uint32_t one = last[0] - first[0] + 1;
    return i < one ? first[0] + i : first[1] + (i - one);
  }
};
constexpr std::array<UniClass, kCont - kUniFirst> kUni = {{
    {'L', 2, {0xC0, 0xD8}, {0xD6, 0xDE}},
    {'l', 2, {0xDF, 0xF8}, {0xF6, 0xFF}},
    {'e', 2, {0x100, 0}, {0x17F, 0}},
    {'G', 2, {0x391, 0x3A3}, {0x3A1, 0x3AB}},
    {'g', 2, {0x3AC, 0}, {0x3CE, 0}},
    {'C', 2, {0x400, 0}, {0x42F, 0}},
    {'c', 2, {0x430, 0}, {0x45F, 0}},
    {'w', 2, {0x5D0, 0}, {0x5EA, 0}},
    {'r', 2, {0x621, 0x641}, {0x63A, 0x64A}},
    {'d', 3, {0x905, 0}, {0x939, 0}},
    {'t', 3, {0xE01, 0}, {0xE2E, 0}},
    {'h', 3, {0x3041, 0}, {0x3096, 0}},
    {'k', 3, {0x30A1, 0}, {0x30FA, 0}},
    {'n', 3, {0x4E00, 0}, {0x9FFF, 0}},
    {'q', 3, {0xAC00, 0}, {0xD7A3, 0}},
}};

inline uint32_t class_size(uint8_t cls) {
  constexpr std::array<uint8_t, 7> kAscii = {1, 10, 26, 26, 6, 6, 16};
  return cls < kUniFirst ? kAscii[cls] : kUni[cls - kUniFirst].size();
}

// The kUni class of code point `cp` and its index there; false when it has none.
inline bool uni_class(uint32_t cp, uint8_t& cls, uint16_t& index) {
  for (size_t c = 0; c < kUni.size(); ++c) {
    const UniClass& u = kUni[c];
    uint32_t base = 0;
    for (int r = 0; r < 2 && u.last[r] != 0; ++r) {
      if (cp >= u.first[r] && cp <= u.last[r]) {
        cls = static_cast<uint8_t>(kUniFirst + c);
        index = static_cast<uint16_t>(base + cp - u.first[r]);
        return true;
      }
      base += u.last[r] - u.first[r] + 1;
    }
  }
  return false;
}

// Whether in[i] starts a letter of a kUni class, in well-formed UTF-8 of its class's length
// (110xxxxx 10xxxxxx, or 1110xxxx 10xxxxxx 10xxxxxx; an overlong form decodes to a code point
// whose class has another length, so it is none): its class, index and length.
inline bool uni_letter_at(std::string_view in, size_t i, uint8_t& cls, uint16_t& index,
                          size_t& length) {
  const auto b = static_cast<uint8_t>(in[i]);
  auto cont = [&](size_t k) {
    return i + k < in.size() && (static_cast<uint8_t>(in[i + k]) & 0xC0) == 0x80;
  };
  uint32_t cp = 0;
  if ((b & 0xE0) == 0xC0 && cont(1)) {
    length = 2;
    cp = uint32_t(b & 0x1F) << 6 | (static_cast<uint8_t>(in[i + 1]) & 0x3F);
  } else if ((b & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    length = 3;
    cp = uint32_t(b & 0x0F) << 12 | uint32_t(static_cast<uint8_t>(in[i + 1]) & 0x3F) << 6 |
         (static_cast<uint8_t>(in[i + 2]) & 0x3F);
  } else {
    return false;
  }
  return uni_class(cp, cls, index) && kUni[cls - kUniFirst].length == length;
}

// Writes code point `cp` as UTF-8 in `length` bytes (the length its class has).
inline void put_utf8(uint32_t cp, uint8_t length, char* out) {
  if (length == 2) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Tags keeping the uses of the keyed functions apart.
constexpr uint8_t kTagPlain = 0;
constexpr uint8_t kTagCard = 'C';
constexpr uint8_t kTagPhone = 'P';
constexpr uint8_t kTagIban = 'I';
constexpr uint8_t kTagUuid = 'U';

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
inline bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
inline bool is_hex_letter(char c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
inline bool is_hex(char c) { return is_digit(c) || is_hex_letter(c); }
inline bool has_non_ascii(std::string_view v) {
  return std::any_of(v.begin(), v.end(), [](char c) { return (c & 0x80) != 0; });
}

// Byte tables: the token path looks every character up several times, and a table lookup does
// not mispredict on values that mix digits and letters at random.
struct ClassTables {
  std::array<std::array<Cls, 256>, 2> cls{};        // [hex rule][byte]
  std::array<std::array<uint8_t, 256>, 2> index{};  // [kHex16][byte]: index within the class
};

constexpr ClassTables make_class_tables() {
  ClassTables t;
  for (int c = 0; c < 256; ++c) {
    const auto u = static_cast<size_t>(c);
    if (c >= '0' && c <= '9') {
      t.cls[0][u] = t.cls[1][u] = kDigit;
      t.index[0][u] = t.index[1][u] = static_cast<uint8_t>(c - '0');
    } else if (c >= 'A' && c <= 'Z') {
      t.cls[0][u] = kUpper;
      t.cls[1][u] = c <= 'F' ? kHexUpper : kUpper;
      t.index[0][u] = static_cast<uint8_t>(c - 'A');
      t.index[1][u] = static_cast<uint8_t>(10 + (c - 'A'));
    } else if (c >= 'a' && c <= 'z') {
      t.cls[0][u] = kLower;
      t.cls[1][u] = c <= 'f' ? kHexLower : kLower;
      t.index[0][u] = static_cast<uint8_t>(c - 'a');
      t.index[1][u] = static_cast<uint8_t>(10 + (c - 'a'));
    }
  }
  return t;
}
constexpr ClassTables kTables = make_class_tables();

inline Cls classify_char(char c, bool hex) {
  return kTables.cls[hex ? 1 : 0][static_cast<uint8_t>(c)];
}

// Index of `c` within its class's alphabet.
inline uint8_t index_of(char c, Cls cls) {
  return kTables.index[cls == kHex16 ? 1 : 0][static_cast<uint8_t>(c)];
}

// y % size with y /= size, by constant divisors (the compiler turns them into multiplications:
// this runs once per character of every token).
inline uint16_t take_digit(uint64_t& y, Cls cls) {
  uint64_t r = 0;
  switch (cls) {
    case kDigit:
      r = y % 10;
      y /= 10;
      break;
    case kUpper:
    case kLower:
      r = y % 26;
      y /= 26;
      break;
    case kHexUpper:
    case kHexLower:
      r = y % 6;
      y /= 6;
      break;
    case kHex16:
      r = y & 15;
      y >>= 4;
      break;
    default:  // kOther, kCont: no digit; a kUni class: its size
      if (cls >= kUniFirst && cls < kCont) {
        const uint32_t size = class_size(cls);
        r = y % size;
        y /= size;
      }
      break;
  }
  return static_cast<uint16_t>(r);
}

// The hex rule. A value is id-shaped when it has letters and either digits too ("3fa9c0") or at
// least 8 letters ("deadbeefcafe"); short all-letter words ("bad", "cafe") are not. An id-shaped
// value whose letters are all hex keeps them within a-f / A-F; one whose letters are not all hex
// never becomes all hex (its permutation walks past such images). Both sets are closed under
// their maps, so a class pattern still maps one-to-one as a whole.
struct HexRule {
  bool hex = false;        // letters stay hex
  bool avoid_hex = false;  // the image must not be all-hex
};

HexRule hex_rule(std::string_view s) {
  size_t letters = 0;
  size_t digits = 0;
  bool all_hex = true;
  for (char c : s) {
    if (is_digit(c)) {
      ++digits;
    } else if (is_alpha(c)) {
      all_hex &= is_hex_letter(c);
      ++letters;
    }
  }
  const bool id_shaped = letters > 0 && (digits > 0 || letters >= 8);
  return {id_shaped && all_hex, id_shaped && !all_hex};
}

// ---------------------------------------------------------------------------------------------
// Luhn, mod 97, calendar.

int luhn_sum(std::string_view digits, bool double_last) {
  int sum = 0;
  bool dbl = double_last;
  for (size_t i = digits.size(); i-- > 0;) {
    if (!is_digit(digits[i])) continue;
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum;
}

// Continues the IBAN remainder `r` over `s`, letters counting as 10..35 (either case).
int mod97(int r, std::string_view s) {
  for (char c : s) {
    if (is_digit(c)) {
      r = (r * 10 + (c - '0')) % 97;
    } else {
      const int v = 10 + ((c | 0x20) - 'a');
      r = (r * 100 + v) % 97;
    }
  }
  return r;
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[static_cast<size_t>(m - 1)];
}

bool valid_date(int y, int m, int d) {
  return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

// ---------------------------------------------------------------------------------------------
// Dates in text.

// Reads between `min` and `max` digits at `pos`; the count read, 0 when fewer than `min`.
size_t read_digits(std::string_view s, size_t pos, size_t min, size_t max, int* value) {
  size_t n = 0;
  int v = 0;
  while (n < max && pos + n < s.size() && is_digit(s[pos + n])) {
    v = v * 10 + (s[pos + n] - '0');
    ++n;
  }
  if (n < min) return 0;
  *value = v;
  return n;
}

// A time of day after a date: HH:MM[:SS][.frac][zone] or HHMM[SS][.frac][zone], zone being Z or
// [+-]HH[[:]MM], optionally after one space.
bool valid_time(std::string_view t) {
  size_t pos = 0;
  int v = 0;
  if (read_digits(t, pos, 2, 2, &v) != 2 || v > 24) return false;
  pos += 2;
  const bool extended = pos < t.size() && t[pos] == ':';
  if (extended) ++pos;
  if (read_digits(t, pos, 2, 2, &v) != 2 || v > 59) return false;
  pos += 2;
  if (pos < t.size() && (extended ? t[pos] == ':' : is_digit(t[pos]))) {
    if (extended) ++pos;
    if (read_digits(t, pos, 2, 2, &v) != 2 || v > 60) return false;
    pos += 2;
    if (pos < t.size() && (t[pos] == '.' || t[pos] == ',')) {
      ++pos;
      const size_t start = pos;
      while (pos < t.size() && is_digit(t[pos])) ++pos;
      if (pos == start) return false;
    }
  }
  if (pos == t.size()) return true;
  if (t[pos] == ' ') ++pos;
  if (pos == t.size()) return false;
  if (t[pos] == 'Z' || t[pos] == 'z') return pos + 1 == t.size();
  if (t[pos] != '+' && t[pos] != '-') return false;
  ++pos;
  if (read_digits(t, pos, 2, 2, &v) != 2 || v > 23) return false;
  pos += 2;
  if (pos == t.size()) return true;
  if (t[pos] == ':') ++pos;
  if (read_digits(t, pos, 2, 2, &v) != 2 || v > 59) return false;
  return pos + 2 == t.size();
}

enum class DateOrder : uint8_t { kYmd, kMdy, kDmy };

struct DateText {
  int year = 0;
  int month = 0;
  int day = 0;
  DateOrder order = DateOrder::kYmd;
  char sep = 0;  // 0 for the compact YYYYMMDD
  bool pad_month = true;
  bool pad_day = true;
  size_t length = 0;  // bytes of the date; the rest (a time) is kept as it is
};

// Recognises YYYY-MM-DD (also with / or .), YYYYMMDD, MM/DD/YYYY (US), DD.MM.YYYY and DD-MM-YYYY
// (day first), single-digit months and days included, each optionally followed by a time
// ('T', 't' or a space, then valid_time()). "a/b/YYYY" is read as US unless only day-first
// makes a valid date; "a.b.YYYY" and "a-b-YYYY" the other way round.
bool parse_date(std::string_view s, DateText* out) {
  DateText dt;
  int a = 0;
  int b = 0;
  int c = 0;
  size_t n1 = read_digits(s, 0, 1, 8, &a);
  if (n1 == 8) {
    dt.year = a / 10000;
    dt.month = a / 100 % 100;
    dt.day = a % 100;
    dt.length = 8;
  } else if (n1 == 4 && s.size() > 4 && (s[4] == '-' || s[4] == '/' || s[4] == '.')) {
    dt.sep = s[4];
    dt.year = a;
    size_t pos = 5;
    const size_t n2 = read_digits(s, pos, 1, 2, &b);
    if (n2 == 0) return false;
    pos += n2;
    if (pos >= s.size() || s[pos] != dt.sep) return false;
    ++pos;
    const size_t n3 = read_digits(s, pos, 1, 2, &c);
    if (n3 == 0) return false;
    pos += n3;
    dt.month = b;
    dt.day = c;
    dt.pad_month = n2 == 2;
    dt.pad_day = n3 == 2;
    dt.length = pos;
  } else if ((n1 == 1 || n1 == 2) && s.size() > n1 &&
             (s[n1] == '/' || s[n1] == '.' || s[n1] == '-')) {
    dt.sep = s[n1];
    size_t pos = n1 + 1;
    const size_t n2 = read_digits(s, pos, 1, 2, &b);
    if (n2 == 0) return false;
    pos += n2;
    if (pos >= s.size() || s[pos] != dt.sep) return false;
    ++pos;
    if (read_digits(s, pos, 4, 4, &c) != 4) return false;
    if (pos + 4 < s.size() && is_digit(s[pos + 4])) return false;
    pos += 4;
    dt.year = c;
    dt.length = pos;
    const bool us_first = dt.sep == '/';
    const bool us_ok = valid_date(c, a, b);
    const bool eu_ok = valid_date(c, b, a);
    if (us_ok && (us_first || !eu_ok)) {
      dt.order = DateOrder::kMdy;
      dt.month = a;
      dt.day = b;
      dt.pad_month = n1 == 2;
      dt.pad_day = n2 == 2;
    } else {
      dt.order = DateOrder::kDmy;
      dt.month = b;
      dt.day = a;
      dt.pad_month = n2 == 2;
      dt.pad_day = n1 == 2;
    }
  } else {
    return false;
  }
  if (!valid_date(dt.year, dt.month, dt.day)) return false;
  if (dt.length < s.size()) {
    const char t = s[dt.length];
    if (t != 'T' && t != 't' && t != ' ') return false;
    if (!valid_time(s.substr(dt.length + 1))) return false;
  }
  *out = dt;
  return true;
}

void append_number(std::string& out, int value, bool pad, int width) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;
  const auto len = static_cast<int>(end - buf);
  if (pad) out.append(static_cast<size_t>(std::max(0, width - len)), '0');
  out.append(buf, end);
}

// ---------------------------------------------------------------------------------------------
// Numbers in text.

struct NumberText {
  bool negative = false;
  bool plus = false;         // an explicit '+'
  size_t int_digits = 0;     // digits before the point
  bool zero_padded = false;  // "007": the integer part keeps its width
  bool point = false;
  size_t decimals = 0;
  std::string_view exponent;  // "e+3", kept as it is; empty when none
  int exponent_value = 0;
  double mantissa = 0;  // signed, without the exponent
};

// [+-] digits [. digits] [(e|E) [+-] digits], at least one mantissa digit, nothing else.
bool parse_number(std::string_view s, NumberText* out) {
  NumberText nt;
  size_t pos = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    nt.negative = s[pos] == '-';
    nt.plus = s[pos] == '+';
    ++pos;
  }
  const size_t start = pos;
  while (pos < s.size() && is_digit(s[pos])) ++pos;
  nt.int_digits = pos - start;
  nt.zero_padded = nt.int_digits > 1 && s[start] == '0';
  if (pos < s.size() && s[pos] == '.') {
    nt.point = true;
    ++pos;
    const size_t frac = pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    nt.decimals = pos - frac;
  }
  if (nt.int_digits + nt.decimals == 0) return false;
  const size_t mantissa_end = pos;
  if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
    const size_t e = pos++;
    bool exp_negative = false;
    if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) exp_negative = s[pos++] == '-';
    const size_t digits = pos;
    int value = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (value < 100000) value = value * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == digits) return false;
    nt.exponent = s.substr(e);
    nt.exponent_value = exp_negative ? -value : value;
  }
  if (pos != s.size()) return false;
  if (mantissa_end - start > 400) return false;  // past any double's useful precision
  double m = 0;
  const auto r = std::from_chars(s.data() + start, s.data() + mantissa_end, m);
  if (r.ec != std::errc() || r.ptr != s.data() + mantissa_end || !std::isfinite(m)) return false;
  nt.mantissa = nt.negative ? -m : m;
  *out = nt;
  return true;
}

// Writes `mantissa` in the format of `nt` (sign style, integer width when zero-padded, number of
// decimals, exponent text). False when it cannot be written (not finite, absurdly long).
bool format_number(double mantissa, const NumberText& nt, std::string& out) {
  if (!std::isfinite(mantissa)) return false;
  char buf[512];
  const auto r = std::to_chars(buf, buf + sizeof(buf), std::fabs(mantissa),
                               std::chars_format::fixed, static_cast<int>(nt.decimals));
  if (r.ec != std::errc()) return false;
  const std::string_view digits(buf, static_cast<size_t>(r.ptr - buf));
  const bool zero = digits.find_first_not_of("0.") == std::string_view::npos;
  if (mantissa < 0 && !zero) {
    out += '-';
  } else if (nt.plus) {
    out += '+';
  }
  if (nt.zero_padded) {
    const size_t point = digits.find('.');
    const size_t int_len = point == std::string_view::npos ? digits.size() : point;
    if (int_len < nt.int_digits) out.append(nt.int_digits - int_len, '0');
  }
  if (nt.int_digits == 0 && digits.size() > 1 && digits[0] == '0' && digits[1] == '.') {
    out.append(digits.substr(1));  // ".5" stays ".5"
  } else {
    out.append(digits);
  }
  if (nt.point && nt.decimals == 0) out += '.';  // "5." stays "5."
  out.append(nt.exponent);
  return true;
}

// floor(q) where q is a quotient that decimal inputs can leave a hair below an integer
// (0.3 / 0.1 = 2.9999999999999996).
double robust_floor(double q) {
  const double r = std::round(q);
  if (std::fabs(q - r) <= 1e-9 * std::max(1.0, std::fabs(q))) return r;
  return std::floor(q);
}

// ---------------------------------------------------------------------------------------------
// Addresses.

uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
}

void store_be64(uint8_t* p, uint64_t v) {
  if (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

void format_ipv4(const uint8_t* a, std::string& out) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    append_number(out, a[i], false, 0);
  }
}

// RFC 5952: lower-case hex without leading zeros, the longest run of two or more zero groups (the
// first of equals) as "::", and IPv4-mapped addresses (::ffff:0:0/96) in dotted form.
void format_ipv6(const uint8_t* a, std::string& out) {
  std::array<unsigned, 8> g{};
  for (size_t i = 0; i < 8; ++i) g[i] = (static_cast<unsigned>(a[2 * i]) << 8) | a[2 * i + 1];
  if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff) {
    out += "::ffff:";
    format_ipv4(a + 12, out);
    return;
  }
  int best = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[static_cast<size_t>(i)] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[static_cast<size_t>(j)] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) out += ':';
    const unsigned v = g[static_cast<size_t>(i)];
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (v >> shift) & 15;
      if (nibble != 0 || started || shift == 0) {
        out += kHex[nibble];
        started = true;
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Transformer::Impl {
  Impl(const Key& key, int token_scheme);

  void token(std::string_view value, Kind kind, std::string& out) const;
  Outcome apply(std::string_view value, Kind kind, const ActionParams& params,
                std::string_view entity, std::string& out);
  Result<std::string> ff1(std::string_view value, std::string_view tweak, bool encrypt) const;
  int shift_days(std::string_view entity, int max_days) const;

  // The shape-keeping core: writes to out[0, in.size()) the token of `in`, in which position i
  // belongs to class classify(i). Under `tag` and `extra` (both in the tweak), the map is a
  // permutation of all strings of one shape when the shape's domain fits 64 bits, a PRF beyond.
  // With `avoid_hex`, images whose letters are all hex are walked past (needs a letter).
  template <typename Classify>
  void shape_token(std::string_view in, uint8_t tag, std::string_view extra, Classify classify,
                   char* out, bool avoid_hex = false) const {
    shape_token_impl<false>(in, tag, extra, classify, out, avoid_hex, nullptr);
  }
  // shape_token, kUniClasses: `classify` may also say a kUni class (scheme 3) or kCont, and
  // `uni` gives a kUni letter's index within its class. (Apart, so that the ASCII classes' path
  // stays as lean as it was: tokens are a sixth of a dense scrub's instructions.)
  template <bool kUniClasses, typename Classify>
  void shape_token_impl(std::string_view in, uint8_t tag, std::string_view extra, Classify classify,
                        char* out, bool avoid_hex, const uint16_t* uni) const;
  // The round key of a shape: SipHash-2-4-128 under prp_key of the tag, the length, `extra`
  // and the shape's bytes (kShapeChar for classed positions), through shape_keys.
  SipKey shape_key(uint8_t tag, std::string_view extra, const uint8_t* shape, size_t n) const;
  // shape_token with the plain classes (and the hex rule) of `in`.
  // Scheme 3: letters of the kUni scripts keep their script (and case) too, see uni_token.
  void class_token(std::string_view in, uint8_t tag, std::string_view extra, char* out) const {
    const HexRule rule = hex_rule(in);
    if (scheme >= 3 && has_non_ascii(in)) {
      uni_token(in, tag, extra, rule, out);
      return;
    }
    shape_token(
        in, tag, extra, [&](size_t i) { return classify_char(in[i], rule.hex); }, out,
        rule.avoid_hex);
  }
  // class_token of a value with bytes past ASCII: each well-formed UTF-8 letter of a kUni class
  // is classed (its first byte by the class, the others kCont); other bytes as in class_token.
  void uni_token(std::string_view in, uint8_t tag, std::string_view extra, HexRule rule,
                 char* out) const;
  void append_class_token(std::string_view in, std::string& out) const {
    const size_t pos = out.size();
    out.resize(pos + in.size());
    class_token(in, kTagPlain, {}, out.data() + pos);
  }

  // Kind-aware tokens: false (and `out` untouched) when the value does not have the kind's form.
  bool email_token(std::string_view value, std::string& out) const;
  bool digits_token(std::string_view value, bool card, std::string& out) const;
  bool iban_token(std::string_view value, std::string& out) const;
  bool uuid_token(std::string_view value, std::string& out) const;
  void uuid_stream_token(std::string_view in, size_t version, size_t variant, char* out) const;
  bool jwt_token(std::string_view value, std::string& out) const;
  bool ip_token(std::string_view value, std::string& out) const;
  void anonymize_address(uint8_t* addr, size_t len) const;

  Outcome noise(std::string_view value, Kind kind, const ActionParams& params, std::string& out);
  Outcome bucket(std::string_view value, Kind kind, const ActionParams& params, std::string& out);
  Outcome shift_date(std::string_view value, Kind kind, const ActionParams& params,
                     std::string_view entity, std::string& out);
  static void mask(std::string_view value, const ActionParams& params, std::string& out);

  int scheme;         // token scheme (kTokenScheme)
  SipKey prp_key;     // keys the per-shape Feistel round keys
  SipKey stream_key;  // keys the PRF for domains past 64 bits
  SipKey noise_key;
  SipKey shift_key;
  AesEcb ip_aes;  // Crypto-PAn: AES key, and the pads that fill a block after a prefix
  std::array<uint8_t, 16> ip_pad4{};
  std::array<uint8_t, 16> ip_pad6{};
  Ff1 ff1_10;
  Ff1 ff1_36;
  Ff1 ff1_62;

  // Domain labels repeat from address to address ("gmail", "example", "mail"): their tokens
  // are kept here, exact (the label is compared), so that most addresses cost the token of
  // their local part only. Mutable: a Transformer is one thread's (transform.h).
  struct LabelSlot {
    uint64_t hash = 0;  // 0: empty
    uint8_t len = 0;
    char in[63];
    char out[63];
  };
  static constexpr size_t kLabelSlots = 1024;
  mutable std::vector<LabelSlot> label_tokens = std::vector<LabelSlot>(kLabelSlots);
  void label_token(std::string_view label, char* out) const;

  // A shape's round key (SipHash-2-4-128 of the tag, the length and the shape, about 280
  // instructions) depends on the shape only, and values share shapes ("Xxxxx", "+d ddd-ddd-
  // dddd"): the keys of recent shapes without `extra` are kept here, exact (the shape is
  // compared). Mutable like label_tokens.
  struct ShapeKeySlot {
    uint64_t hash = 0;  // 0: empty
    SipKey key;
    uint8_t tag = 0;
    uint8_t len = 0;
    uint8_t shape[46];
  };
  static constexpr size_t kShapeKeySlots = 512;
  mutable std::vector<ShapeKeySlot> shape_keys = std::vector<ShapeKeySlot>(kShapeKeySlots);
};

namespace {

// Set-up failures are exceptions (a constructor, at start-up): they mean a broken OpenSSL.
template <typename T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error("scrubber transforms: " + r.error().message);
  return std::move(*r);
}

}  // namespace

Transformer::Impl::Impl(const Key& key, int token_scheme)
    : scheme(token_scheme),
      prp_key(SipKey::from_bytes(key.derive("token").bytes().data())),
      stream_key(SipKey::from_bytes(key.derive("token").bytes().data() + 16)),
      noise_key(SipKey::from_bytes(key.derive("noise").bytes().data())),
      shift_key(SipKey::from_bytes(key.derive("shift").bytes().data())),
      ip_aes(must(AesEcb::create(std::span(key.derive("ip").bytes()).first(16)))),
      ff1_10(must(Ff1::create(key.derive("ff1").bytes(), 10))),
      ff1_36(must(Ff1::create(key.derive("ff1").bytes(), 36))),
      ff1_62(must(Ff1::create(key.derive("ff1").bytes(), 62))) {
  const Key ip = key.derive("ip");
  std::copy(ip.bytes().begin() + 16, ip.bytes().end(), ip_pad4.begin());
  ip_pad6 = ip_pad4;
  ip_pad6[0] ^= 0x06;  // a different pad for IPv6: the families are independent
  if (!ip_aes.encrypt(ip_pad4.data(), ip_pad4.data(), 1) ||
      !ip_aes.encrypt(ip_pad6.data(), ip_pad6.data(), 1)) {
    throw std::runtime_error("scrubber transforms: AES failed");
  }
}

SipKey Transformer::Impl::shape_key(uint8_t tag, std::string_view extra, const uint8_t* shape,
                                    size_t n) const {
  auto compute = [&] {
    SipHasher h(prp_key, true);
    // Scheme 2's round keys are not scheme 1's: its tags have the top bit set (tags are ASCII).
    h.update(scheme >= 2 ? static_cast<uint8_t>(tag | 0x80) : tag);
    h.update_u64(n);
    h.update_u64(extra.size());
    h.update(extra);
    h.update(shape, n);
    SipKey key;
    h.finish128(&key.k0, &key.k1);
    return key;
  };
  if (!extra.empty() || n > sizeof(ShapeKeySlot::shape)) return compute();
  const uint64_t hash = XXH3_64bits_withSeed(shape, n, tag) | 1;
  ShapeKeySlot& slot = shape_keys[(hash ^ (hash >> 31)) & (kShapeKeySlots - 1)];
  if (slot.hash == hash && slot.tag == tag && slot.len == n &&
      std::memcmp(slot.shape, shape, n) == 0) {
    return slot.key;
  }
  slot.key = compute();
  slot.hash = hash;
  slot.tag = tag;
  slot.len = static_cast<uint8_t>(n);
  std::memcpy(slot.shape, shape, n);
  return slot.key;
}

template <bool kUniClasses, typename Classify>
void Transformer::Impl::shape_token_impl(std::string_view in, uint8_t tag, std::string_view extra,
                                         Classify classify, char* out, bool avoid_hex,
                                         const uint16_t* uni) const {
  const size_t n = in.size();
  using Digit = std::conditional_t<kUniClasses, uint16_t, uint8_t>;
  auto size_of = [](uint8_t cls) -> uint64_t {
    if constexpr (kUniClasses) {
      return class_size(cls);
    } else {
      return kClassSize[cls];
    }
  };
  // A classed position's digit: its index within its class (`uni` for a kUni class's letter).
  auto digit_of = [&](size_t i, Cls cls) -> Digit {
    if constexpr (kUniClasses) {
      if (cls >= kUniFirst) return uni[i];
    }
    return index_of(in[i], cls);
  };
  // Position i's class takes `digit`: writes its character (all its bytes) at out + i.
  auto put = [&](size_t i, Cls cls, uint32_t digit) {
    if constexpr (kUniClasses) {
      if (cls >= kUniFirst) {
        const UniClass& u = kUni[cls - kUniFirst];
        put_utf8(u.at(digit), u.length, out + i);
        return;
      }
    }
    out[i] = kAlphabet[cls][digit];
  };
  (void)uni;
  // Pass 1: the shape (into the tweak) and the value as a mixed-radix number, most significant
  // position first, while the domain fits 64 bits.
  uint64_t domain = 1;
  uint64_t x = 0;
  bool wide = false;
  // The classed positions' classes and digits while the domain fits 64 bits (each class has at
  // least 2 values, so at most 63 of them): scheme 2 splits them in two halves.
  std::array<uint8_t, 64> classes;
  std::array<Digit, 64> digits;
  size_t k = 0;
  // The shape's bytes are gathered first and hashed in one call (the hash is the same as byte by
  // byte, at a fraction of the cost).
  uint8_t local[256] = {};  // (zeroed only to quiet -Wmaybe-uninitialized)
  std::vector<uint8_t> heap;
  uint8_t* shape_bytes = local;
  if (n > sizeof(local)) {
    heap.resize(n);
    shape_bytes = heap.data();
  }
  [[maybe_unused]] uint8_t marker = 0;  // of the last kUni letter, for its kCont bytes
  for (size_t i = 0; i < n; ++i) {
    const Cls cls = classify(i);
    if (cls == kOther) {
      shape_bytes[i] = static_cast<uint8_t>(in[i]);
      continue;
    }
    if constexpr (kUniClasses) {
      if (cls == kCont) {
        shape_bytes[i] = marker;
        continue;
      }
      if (cls >= kUniFirst) {
        marker = kUni[cls - kUniFirst].marker;
        shape_bytes[i] = marker;
      } else {
        shape_bytes[i] = kShapeChar[cls];
      }
    } else {
      shape_bytes[i] = kShapeChar[cls];
    }
    if (!wide) {
      uint64_t next = 0;
      const uint64_t size = size_of(cls);
      if (__builtin_mul_overflow(domain, size, &next)) {
        wide = true;
      } else {
        domain = next;
        const Digit d = digit_of(i, cls);
        x = x * size + d;
        classes[k] = cls;
        digits[k++] = d;
      }
    }
  }

  if (!wide) {
    // Permutation of the shape's domain; then the image written back position by position, least
    // significant last.
    SipKey round_key = shape_key(tag, extra, shape_bytes, n);
    uint64_t y = x;
    // Scheme 2: the first half of the classed positions is A (da values), the rest B (db), as
    // FF1 splits a numeral string; a single classed position has no halves and takes scheme 1.
    const bool halves = scheme >= 2 && k >= 2;
    uint64_t da = 1, db = 1, a = 0, b = 0;
    if (halves) {
      for (size_t j = 0; j < k / 2; ++j) {
        da *= size_of(classes[j]);
        a = a * size_of(classes[j]) + digits[j];
      }
      for (size_t j = k / 2; j < k; ++j) {
        db *= size_of(classes[j]);
        b = b * size_of(classes[j]) + digits[j];
      }
    }
    for (bool first = true;; first = false) {
      if (halves) {
        if (!first) {  // walking past an all-hex image: rare
          a = y / db;
          b = y % db;
        }
        y = prp2_permute(round_key, da, db, a, b);
      } else {
        y = prp_permute(round_key, domain, y);
      }
      uint64_t rest = y;
      bool all_hex = true;
      for (size_t i = n; i-- > 0;) {
        const Cls cls = classify(i);
        if (cls == kOther) {
          out[i] = in[i];
          continue;
        }
        if constexpr (kUniClasses) {
          if (cls == kCont) continue;  // written with its letter's first byte
        }
        put(i, cls, take_digit(rest, cls));
        const char c = out[i];
        all_hex &= !is_alpha(c) || is_hex_letter(c);
      }
      if (!avoid_hex || !all_hex) return;
    }
  }

  // Past 64 bits: a PRF of the whole value (shape included) seeds a keystream; each classed
  // position takes 16 bits of it (bias below size / 2^16; 32 bits for a kUni class). A PRF, not
  // a permutation: two values of such a shape collide with a probability below 2^-64.
  SipHasher seed(stream_key, true);
  if (scheme >= 2) {
    // Scheme 2: the tag (top bit set), the lengths and `extra`, the shape's bytes, then the
    // classed positions' digits, each part hashed whole (scheme 1 fed the hash two bytes a
    // position, one call each); the value can be read back from them, so distinct values of
    // one length seed distinct streams.
    seed.update(static_cast<uint8_t>(tag | 0x80));
    seed.update_u64(n);
    seed.update_u64(extra.size());
    seed.update(extra);
    seed.update(shape_bytes, n);
    // the shape's bytes are hashed: their buffer takes the digits (a kUni letter's two bytes
    // fit in its own two or three)
    uint8_t* all = shape_bytes;
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      const Cls cls = classify(i);
      if (cls == kOther || cls == kCont) continue;
      const Digit d = digit_of(i, cls);
      all[m++] = static_cast<uint8_t>(d);
      if constexpr (kUniClasses) {
        if (cls >= kUniFirst) all[m++] = static_cast<uint8_t>(d >> 8);
      }
    }
    seed.update(all, m);
  } else {
    seed.update(tag);
    seed.update_u64(n);
    seed.update_u64(extra.size());
    seed.update(extra);
    for (size_t i = 0; i < n; ++i) {
      const Cls cls = classify(i);
      if (cls == kOther) {
        seed.update(static_cast<uint8_t>(in[i]));
      } else {
        seed.update(kShapeChar[cls]);
        seed.update(index_of(in[i], cls));
      }
    }
  }
  SipKey stream;
  seed.finish128(&stream.k0, &stream.k1);
  uint64_t counter = 0;
  uint64_t bits = 0;
  int available = 0;
  auto take16 = [&]() -> uint64_t {
    if (available == 0) {
      // scheme 2: SipHash-1-3 of the counter, as its Feistel rounds
      bits =
          scheme >= 2 ? siphash13_u64_byte(stream, counter++, 0) : siphash_u64(stream, counter++);
      available = 4;
    }
    const uint64_t chunk = bits & 0xffff;
    bits >>= 16;
    --available;
    return chunk;
  };
  for (;;) {
    bool all_hex = true;
    for (size_t i = 0; i < n; ++i) {
      const Cls cls = classify(i);
      if (cls == kOther) {
        out[i] = in[i];
        continue;
      }
      if constexpr (kUniClasses) {
        if (cls == kCont) continue;
        if (cls >= kUniFirst) {
          const uint64_t high = take16();
          const uint64_t c32 = high << 16 | take16();
          put(i, cls, static_cast<uint32_t>((c32 * class_size(cls)) >> 32));
          continue;
        }
      }
      const char c = kAlphabet[cls][(take16() * kClassSize[cls]) >> 16];
      out[i] = c;
      all_hex &= !is_alpha(c) || is_hex_letter(c);
    }
    if (!avoid_hex || !all_hex) return;  // else draw again, further down the stream
  }
}

char shape_class(std::string_view s, size_t i, size_t& length) {
  length = 1;
  const char c = s[i];
  if (is_digit(c)) return 'd';
  if (is_upper(c)) return 'U';
  if (is_lower(c)) return 'l';
  uint8_t cls = 0;
  uint16_t index = 0;
  if ((c & 0x80) != 0 && uni_letter_at(s, i, cls, index, length)) {
    return static_cast<char>(kUni[cls - kUniFirst].marker | 0x80);  // (apart from the bytes)
  }
  length = 1;
  return c;
}

void Transformer::Impl::uni_token(std::string_view in, uint8_t tag, std::string_view extra,
                                  HexRule rule, char* out) const {
  const size_t n = in.size();
  // (on the stack for the values most are, as shape_token's own buffer)
  uint8_t cls_local[256];
  uint16_t index_local[256];
  std::vector<uint8_t> cls_heap;
  std::vector<uint16_t> index_heap;
  uint8_t* cls = cls_local;
  uint16_t* index = index_local;
  if (n > sizeof(cls_local)) {
    cls_heap.resize(n);
    index_heap.resize(n);
    cls = cls_heap.data();
    index = index_heap.data();
  }
  for (size_t i = 0; i < n;) {
    const auto b = static_cast<uint8_t>(in[i]);
    if (b < 0x80) {
      cls[i] = classify_char(in[i], rule.hex);
      ++i;
      continue;
    }
    uint8_t c = kOther;
    uint16_t at = 0;
    size_t length = 0;
    if (uni_letter_at(in, i, c, at, length)) {
      cls[i] = c;
      index[i] = at;
      for (size_t j = 1; j < length; ++j) cls[i + j] = kCont;
      i += length;
      continue;
    }
    cls[i] = kOther;  // (an overlong form never decodes into a class: its length would differ)
    ++i;
  }
  shape_token_impl<true>(
      in, tag, extra, [&](size_t i) { return static_cast<Cls>(cls[i]); }, out, rule.avoid_hex,
      index);
}

void Transformer::Impl::token(std::string_view value, Kind kind, std::string& out) const {
  switch (kind) {
    case Kind::kEmail:
      if (email_token(value, out)) return;
      break;
    case Kind::kCard:
      if (digits_token(value, true, out)) return;
      break;
    case Kind::kPhone:
      if (digits_token(value, false, out)) return;
      break;
    case Kind::kIpv4:
    case Kind::kIpv6:
      if (ip_token(value, out)) return;
      break;
    case Kind::kIban:
      if (iban_token(value, out)) return;
      break;
    case Kind::kUuid:
      if (uuid_token(value, out)) return;
      break;
    case Kind::kJwt:
      if (jwt_token(value, out)) return;
      break;
    default:
      break;
  }
  append_class_token(value, out);
}

// local@label.label.tld: the local part and every label but the top-level one as plain tokens
// (so a label maps the same in every address), the TLD and all separators kept.
bool Transformer::Impl::email_token(std::string_view value, std::string& out) const {
  const size_t at = value.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == value.size()) return false;
  if (scheme >= 3) {
    // The TLD is kept as it is, so it must be one: 2 to 63 ASCII letters, or an IDN's "xn--"
    // form. Before scheme 3 whatever followed the last dot was kept ("a@b.c\", \"card\": …"
    // chosen by a key named email kept the card number).
    const size_t dot = value.rfind('.');
    if (dot == std::string_view::npos || dot < at) return false;
    const std::string_view tld = value.substr(dot + 1);
    const bool letters = std::all_of(tld.begin(), tld.end(), is_alpha);
    const bool idn =
        tld.size() > 4 && (tld.substr(0, 4) == "xn--" || tld.substr(0, 4) == "XN--") &&
        std::all_of(tld.begin() + 4, tld.end(), [](char c) { return is_alnum(c) || c == '-'; });
    if (tld.size() < 2 || tld.size() > 63 || !(letters || idn)) return false;
  }
  const size_t pos = out.size();
  out.resize(pos + value.size());
  char* o = out.data() + pos;
  class_token(value.substr(0, at), kTagPlain, {}, o);
  o[at] = '@';
  const size_t domain = at + 1;
  const size_t tld = value.rfind('.');
  const size_t end = tld == std::string_view::npos || tld < domain ? value.size() : tld;
  size_t label = domain;
  while (label < end) {
    size_t dot = value.find('.', label);
    if (dot == std::string_view::npos || dot > end) dot = end;
    label_token(value.substr(label, dot - label), o + label);
    if (dot < value.size()) o[dot] = value[dot];
    label = dot + 1;
  }
  if (end < value.size()) std::memcpy(o + end, value.data() + end, value.size() - end);
  return true;
}

void Transformer::Impl::label_token(std::string_view label, char* out) const {
  if (label.size() > sizeof(LabelSlot::in)) {
    class_token(label, kTagPlain, {}, out);
    return;
  }
  // FNV-1a: labels are short, and a wrong guess costs only a compare.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : label) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  h |= 1;
  LabelSlot& slot = label_tokens[(h ^ (h >> 29)) & (kLabelSlots - 1)];
  if (slot.hash == h && slot.len == label.size() &&
      std::memcmp(slot.in, label.data(), label.size()) == 0) {
    std::memcpy(out, slot.out, label.size());
    return;
  }
  class_token(label, kTagPlain, {}, out);
  slot.hash = h;
  slot.len = static_cast<uint8_t>(label.size());
  std::memcpy(slot.in, label.data(), label.size());
  std::memcpy(slot.out, out, label.size());
}

// Cards and phone numbers: the digits as one run (so "4111 1111 …" and "41111111…" map alike),
// everything else in place. A card keeps its first digit and gets a fresh Luhn check digit (off by
// as much as the original's was): the digits between are permuted, so cards of one length, first
// digit and validity never collide.
bool Transformer::Impl::digits_token(std::string_view value, bool card, std::string& out) const {
  std::array<char, 64> digits{};
  size_t nd = 0;
  for (char c : value) {
    if (is_digit(c)) {
      if (nd == digits.size()) return false;
      digits[nd++] = c;
    } else if (card ? (c != ' ' && c != '-') : is_alpha(c) || (scheme >= 3 && (c & 0x80))) {
      // (a phone's other characters stay: from scheme 3 only ASCII ones, since a letter of
      // another script is a letter too)
      return false;
    }
  }
  std::array<char, 64> mapped{};
  if (card) {
    if (nd < 3 || nd > 21) return false;  // 19 permuted digits at most: 10^19 < 2^64
    const char extra[2] = {digits[0], static_cast<char>(nd)};
    const std::string_view middle(digits.data() + 1, nd - 2);
    mapped[0] = digits[0];
    shape_token(
        middle, kTagCard, std::string_view(extra, 2), [](size_t) { return kDigit; },
        mapped.data() + 1);
    // Validity is part of the shape: a valid card stays valid, an invalid one (a typo a service
    // should reject) stays invalid, with the check digit off by the same amount.
    const char check = luhn_check_digit(std::string_view(mapped.data(), nd - 1));
    const char want = luhn_check_digit(std::string_view(digits.data(), nd - 1));
    mapped[nd - 1] = static_cast<char>('0' + (check - '0' + (digits[nd - 1] - want) + 10) % 10);
  } else {
    if (nd == 0) return false;
    shape_token(
        std::string_view(digits.data(), nd), kTagPhone, {}, [](size_t) { return kDigit; },
        mapped.data());
  }
  size_t k = 0;
  for (char c : value) out += is_digit(c) ? mapped[k++] : c;
  return true;
}

// Country kept, BBAN tokenized in compact form under the country (spaces do not change it), check
// digits recomputed, spaces back where they were.
bool Transformer::Impl::iban_token(std::string_view value, std::string& out) const {
  std::array<char, 34> compact{};
  size_t n = 0;
  for (char c : value) {
    if (c == ' ') continue;
    if (n == compact.size()) return false;
    compact[n++] = c;
  }
  // The IBAN's form; its check digits need not be right (they are recomputed anyway).
  if (n < 5 || !is_alpha(compact[0]) || !is_alpha(compact[1]) || !is_digit(compact[2]) ||
      !is_digit(compact[3]) ||
      !std::all_of(compact.begin() + 4, compact.begin() + static_cast<ptrdiff_t>(n), is_alnum)) {
    return false;
  }
  const std::string_view bban(compact.data() + 4, n - 4);
  const char country[2] = {static_cast<char>(compact[0] & ~0x20),
                           static_cast<char>(compact[1] & ~0x20)};
  std::array<char, 34> mapped{};
  std::copy(compact.begin(), compact.begin() + 2, mapped.begin());
  shape_token(
      bban, kTagIban, std::string_view(country, 2),
      [&](size_t i) { return classify_char(bban[i], false); }, mapped.data() + 4);
  int r = mod97(0, std::string_view(mapped.data() + 4, n - 4));
  r = mod97(r, std::string_view(mapped.data(), 2));
  r = mod97(r, "00");
  const int check = 98 - r;
  mapped[2] = static_cast<char>('0' + check / 10);
  mapped[3] = static_cast<char>('0' + check % 10);
  size_t k = 0;
  for (char c : value) out += c == ' ' ? c : mapped[k++];
  return true;
}

// 8-4-4-4-12 (or 32 bare) hex digits: the version nibble and the variant nibble kept, the other
// 30 nibbles hex to hex (case kept), dashes in place.
bool Transformer::Impl::uuid_token(std::string_view value, std::string& out) const {
  const bool dashed = value.size() == 36;
  if (!dashed && value.size() != 32) return false;
  bool upper = false;
  bool lower = false;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (c != '-') return false;
      continue;
    }
    if (!is_hex(c)) return false;
    upper |= is_upper(c);
    lower |= is_lower(c);
  }
  const size_t version = dashed ? 14 : 12;
  const size_t variant = dashed ? 19 : 16;
  // Tokenized in lower case, so that the case of the text does not change the UUID it becomes.
  std::array<char, 36> lowered{};
  // (The bound on lowered.size() is implied by the length check above; GCC 12 at -O3 cannot see
  // that and warns of an overflow without it.)
  for (size_t i = 0; i < value.size() && i < lowered.size(); ++i) {
    lowered[i] = is_upper(value[i]) ? static_cast<char>(value[i] | 0x20) : value[i];
  }
  const std::string_view in(lowered.data(), value.size());
  const size_t pos = out.size();
  out.resize(pos + value.size());
  char* o = out.data() + pos;
  if (scheme >= 2) {
    uuid_stream_token(in, version, variant, o);
  } else {
    shape_token(
        in, kTagUuid, {},
        [&](size_t i) { return (i == version || i == variant || in[i] == '-') ? kOther : kHex16; },
        o);
  }
  if (upper && !lower) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (is_lower(o[i])) o[i] = static_cast<char>(o[i] & ~0x20);
    }
    o[version] = value[version];
    o[variant] = value[variant];
  }
  return true;
}

// shape_token()'s wide path (scheme 2) for a lower-case UUID, written out: 30 hex positions
// are past 64 bits, so the token is a keystream seeded by SipHash-2-4-128 of the tag, the
// lengths, the shape and the digits, 16 bits of it a position. The same bytes in the same order
// as shape_token() hashes them, in one buffer and one call, without its three passes through the
// classifier (a UUID token cost about 5,000 instructions that way; tests/scrubber/transform_test.cc
// checks this against the construction written from its description).
void Transformer::Impl::uuid_stream_token(std::string_view in, size_t version, size_t variant,
                                          char* out) const {
  const size_t n = in.size();  // 36 or 32
  std::array<uint8_t, 1 + 8 + 8 + 36 + 32> msg{};
  msg[0] = static_cast<uint8_t>(kTagUuid | 0x80);
  for (size_t b = 0; b < 8; ++b) msg[1 + b] = static_cast<uint8_t>(uint64_t{n} >> (8 * b));
  // msg[9, 17): `extra`'s length, 0
  uint8_t* shape = msg.data() + 17;
  uint8_t* digits = shape + n;
  size_t m = 0;
  std::array<uint8_t, 36> classed{};
  for (size_t i = 0; i < n; ++i) {
    const bool keep = i == version || i == variant || in[i] == '-';
    classed[i] = !keep;
    shape[i] = keep ? static_cast<uint8_t>(in[i]) : kShapeChar[kHex16];
    if (!keep) digits[m++] = kTables.index[1][static_cast<uint8_t>(in[i])];
  }
  SipHasher seed(stream_key, true);
  seed.update(msg.data(), 17 + n + m);
  SipKey stream;
  seed.finish128(&stream.k0, &stream.k1);
  uint64_t counter = 0;
  uint64_t bits = 0;
  int available = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!classed[i]) {
      out[i] = in[i];
      continue;
    }
    if (available == 0) {
      bits = siphash13_u64_byte(stream, counter++, 0);
      available = 4;
    }
    out[i] = kAlphabet[kHex16][(bits & 0xffff) >> 12];  // (chunk * 16) >> 16
    bits >>= 16;
    --available;
  }
}

// header.payload.signature: the header (algorithm and type, not personal) kept, the rest
// tokenized segment by segment.
bool Transformer::Impl::jwt_token(std::string_view value, std::string& out) const {
  const size_t first = value.find('.');
  if (first == std::string_view::npos) return false;
  if (scheme >= 3) {
    // The header is kept, so it must be one: base64url of a JSON object ("eyJ" is '{"').
    const std::string_view header = value.substr(0, first);
    if (header.substr(0, 3) != "eyJ" || !std::all_of(header.begin(), header.end(), [](char c) {
          return is_alnum(c) || c == '-' || c == '_' || c == '=';
        })) {
      return false;
    }
  }
  const size_t pos = out.size();
  out.resize(pos + value.size());
  char* o = out.data() + pos;
  std::memcpy(o, value.data(), first + 1);
  size_t seg = first + 1;
  while (seg <= value.size()) {
    size_t dot = value.find('.', seg);
    if (dot == std::string_view::npos) dot = value.size();
    class_token(value.substr(seg, dot - seg), kTagPlain, {}, o + seg);
    if (dot < value.size()) o[dot] = '.';
    seg = dot + 1;
  }
  return true;
}

// Crypto-PAn (Xu, Fan, Ammar, Moon): output bit i = input bit i xor the first bit of
// AES(first i input bits || pad bits i..127). All the blocks depend only on the input, so they go
// through AES in one call.
void Transformer::Impl::anonymize_address(uint8_t* addr, size_t len) const {
  const std::array<uint8_t, 16>& pad = len == 4 ? ip_pad4 : ip_pad6;
  const size_t nbits = len * 8;
  // The address and the pad as two big-endian 64-bit halves: block i keeps the address's first i
  // bits and the pad's others, two masks and four logic operations a block (a byte-wise copy and
  // patch cost about 40 instructions a block).
  uint8_t a16[16] = {};
  std::memcpy(a16, addr, len);
  const uint64_t a_hi = load_be64(a16), a_lo = load_be64(a16 + 8);
  const uint64_t p_hi = load_be64(pad.data()), p_lo = load_be64(pad.data() + 8);
  std::array<uint8_t, 128 * 16> blocks;
  for (size_t i = 0; i < nbits; ++i) {
    const uint64_t m_hi = i == 0 ? 0 : i >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - i);
    const uint64_t m_lo = i <= 64 ? 0 : ~uint64_t{0} << (128 - i);
    store_be64(blocks.data() + 16 * i, (a_hi & m_hi) | (p_hi & ~m_hi));
    store_be64(blocks.data() + 16 * i + 8, (a_lo & m_lo) | (p_lo & ~m_lo));
  }
  // A set-up context does not fail; if it ever did, the blocks would stay plaintext-derived, so
  // scramble with the pad rather than leak.
  if (!ip_aes.encrypt(blocks.data(), blocks.data(), nbits)) blocks.fill(0xa5);
  for (size_t byte = 0; byte < len; ++byte) {
    const uint8_t* b = blocks.data() + 16 * 8 * byte;
    addr[byte] ^= static_cast<uint8_t>(
        (b[0] & 0x80) | (b[16] & 0x80) >> 1 | (b[32] & 0x80) >> 2 | (b[48] & 0x80) >> 3 |
        (b[64] & 0x80) >> 4 | (b[80] & 0x80) >> 5 | (b[96] & 0x80) >> 6 | (b[112] & 0x80) >> 7);
  }
}

bool Transformer::Impl::ip_token(std::string_view value, std::string& out) const {
  const size_t percent = value.find('%');  // an IPv6 zone ("fe80::1%eth0") is kept
  const std::string_view addr = value.substr(0, percent);
  char text[64];
  if (addr.size() >= sizeof(text)) return false;
  std::memcpy(text, addr.data(), addr.size());
  text[addr.size()] = '\0';
  uint8_t bytes[16];
  if (percent == std::string_view::npos && inet_pton(AF_INET, text, bytes) == 1) {
    anonymize_address(bytes, 4);
    format_ipv4(bytes, out);
    return true;
  }
  if (inet_pton(AF_INET6, text, bytes) == 1) {
    anonymize_address(bytes, 16);
    format_ipv6(bytes, out);
    if (percent != std::string_view::npos) out.append(value.substr(percent));
    return true;
  }
  return false;
}

// FF1 over the alphanumerics. The radix (and the letters' case) is read from the value, so
// decryption must find the same one in the ciphertext: cycle walking keeps the ciphertext in the
// same class (radix 36: at least one letter; radix 62: both cases).
Result<std::string> Transformer::Impl::ff1(std::string_view value, std::string_view tweak,
                                           bool encrypt) const {
  bool has_upper = false;
  bool has_lower = false;
  for (char c : value) {
    has_upper |= is_upper(c);
    has_lower |= is_lower(c);
  }
  const uint32_t radix = !has_upper && !has_lower ? 10 : (has_upper && has_lower ? 62 : 36);
  const Ff1& cipher = radix == 10 ? ff1_10 : (radix == 36 ? ff1_36 : ff1_62);
  std::vector<uint16_t> numerals;
  numerals.reserve(value.size());
  for (char c : value) {
    if (is_digit(c)) {
      numerals.push_back(static_cast<uint16_t>(c - '0'));
    } else if (is_alpha(c)) {
      if (radix == 36) {
        numerals.push_back(static_cast<uint16_t>(10 + ((c | 0x20) - 'a')));
      } else {
        numerals.push_back(static_cast<uint16_t>(is_upper(c) ? 10 + (c - 'A') : 36 + (c - 'a')));
      }
    }
  }
  if (numerals.size() < cipher.min_length()) {
    return fail("ff1: " + std::to_string(numerals.size()) +
                " alphanumerics are too few for FF1 (at least " +
                std::to_string(cipher.min_length()) + " for radix " + std::to_string(radix) + ")");
  }
  auto in_class = [radix](const std::vector<uint16_t>& v) {
    if (radix == 10) return true;
    if (radix == 36) return std::any_of(v.begin(), v.end(), [](uint16_t d) { return d >= 10; });
    return std::any_of(v.begin(), v.end(), [](uint16_t d) { return d >= 10 && d < 36; }) &&
           std::any_of(v.begin(), v.end(), [](uint16_t d) { return d >= 36; });
  };
  const auto tweak_bytes = std::span(reinterpret_cast<const uint8_t*>(tweak.data()), tweak.size());
  do {
    auto next =
        encrypt ? cipher.encrypt(numerals, tweak_bytes) : cipher.decrypt(numerals, tweak_bytes);
    if (!next) return fail(next.error().message);
    numerals = std::move(*next);
  } while (!in_class(numerals));

  static constexpr char kRadix36Lower[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  static constexpr char kRadix36Upper[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr char kRadix62[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const char* alphabet = radix == 62 ? kRadix62 : (has_upper ? kRadix36Upper : kRadix36Lower);
  std::string result(value);
  size_t k = 0;
  for (char& c : result) {
    if (is_alnum(c)) c = alphabet[numerals[k++]];
  }
  return result;
}

int Transformer::Impl::shift_days(std::string_view entity, int max_days) const {
  const uint64_t max = max_days < 1 ? 1 : static_cast<uint64_t>(max_days);
  SipHasher h(shift_key);
  h.update(entity);
  const uint64_t pick = h.finish64() % (2 * max);  // bias below 2^-32 for any int max
  return pick < max ? -static_cast<int>(pick + 1) : static_cast<int>(pick - max + 1);
}

// x * (1 + u * r), u in [-1, 1) keyed by the value's text; r is kept below 1 so the sign never
// flips, and a non-zero value never rounds to zero.
Outcome Transformer::Impl::noise(std::string_view value, Kind kind, const ActionParams& params,
                                 std::string& out) {
  NumberText nt;
  if (!parse_number(value, &nt)) {
    token(value, kind, out);
    return Outcome::kFallback;
  }
  if (nt.mantissa == 0) {
    out.append(value);
    return Outcome::kDone;
  }
  double r = params.noise_relative;
  if (!(r > 0)) r = 0;
  r = std::min(r, 0.999);
  SipHasher h(noise_key);
  h.update(value);
  const double u = static_cast<double>(h.finish64() >> 11) * 0x1.0p-52 - 1.0;
  double m = nt.mantissa * (1 + u * r);
  const double unit = std::pow(10.0, -static_cast<double>(nt.decimals));
  if (std::fabs(m) < unit / 2) m = std::copysign(unit, nt.mantissa);
  const size_t pos = out.size();
  if (!format_number(m, nt, out)) {
    out.resize(pos);
    token(value, kind, out);
    return Outcome::kFallback;
  }
  return Outcome::kDone;
}

Outcome Transformer::Impl::bucket(std::string_view value, Kind kind, const ActionParams& params,
                                  std::string& out) {
  NumberText nt;
  const double w = params.bucket_width;
  if (!parse_number(value, &nt) || !(w > 0) || !std::isfinite(w)) {
    token(value, kind, out);
    return Outcome::kFallback;
  }
  const size_t pos = out.size();
  if (!nt.point && nt.exponent.empty() && nt.int_digits <= 18 && w == std::floor(w) && w < 1e18) {
    // Whole numbers by whole widths: exact in integers, and written as integers (a double would
    // round past 2^53).
    const auto width = static_cast<int64_t>(w);
    int64_t x = 0;
    std::from_chars(value.data() + (nt.negative || nt.plus ? 1 : 0), value.data() + value.size(),
                    x);
    if (nt.negative) x = -x;
    int64_t q = x / width;
    if (x % width != 0 && x < 0) --q;
    const int64_t floored = q * width;
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof(buf), floored < 0 ? -floored : floored);
    const auto len = static_cast<size_t>(r.ptr - buf);
    if (floored < 0) {
      out += '-';
    } else if (nt.plus) {
      out += '+';
    }
    if (nt.zero_padded && len < nt.int_digits) out.append(nt.int_digits - len, '0');
    out.append(buf, len);
    return Outcome::kDone;
  }
  const double scale = std::pow(10.0, nt.exponent_value);
  double m = robust_floor(nt.mantissa * scale / w) * w / scale;
  if (m == 0) m = 0;  // no "-0"
  if (!format_number(m, nt, out)) {
    out.resize(pos);
    token(value, kind, out);
    return Outcome::kFallback;
  }
  return Outcome::kDone;
}

namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};

// A date with its month named in English ("Feb 29, 1984", "29 February 1984", "29-Feb-1984",
// "February 29th, 1984", "Sept 3 2024"): a month name (whole, or its first three letters, or
// "Sept"), a day of one or two digits (an ordinal suffix allowed) and a four-digit year, in any
// order with the month and day next to each other, separated by spaces, commas, '-', '/' or
// '.', and nothing else. Where each part sits is kept, so that the shifted date is written
// back in the same places, the month name in the same length and case.
struct NamedDate {
  int year = 0, month = 0, day = 0;
  size_t month_at = 0, month_len = 0;
  size_t day_at = 0, day_len = 0;  // digits only
  size_t suffix_len = 0;           // "th", "st", …
  size_t year_at = 0;
  bool full_name = false;
  enum class Case : uint8_t { kTitle, kUpper, kLower } name_case = Case::kTitle;
  bool day_padded = false;
};

bool parse_named_date(std::string_view v, NamedDate* out) {
  if (v.size() < 8 || v.size() > 40) return false;
  NamedDate d;
  bool have_month = false, have_day = false, have_year = false;
  size_t i = 0;
  while (i < v.size()) {
    const char c = v[i];
    if (c == ' ' || c == ',' || c == '-' || c == '/' || c == '.') {
      ++i;
      continue;
    }
    size_t j = i;
    if (is_alpha(c)) {
      while (j < v.size() && is_alpha(v[j])) ++j;
      if (have_month) return false;
      const std::string_view word = v.substr(i, j - i);
      std::string lower(word);
      for (char& ch : lower) ch = static_cast<char>(ch | 0x20);
      int found = -1;
      bool full = false;
      for (size_t m = 0; m < kMonthNames.size(); ++m) {
        if (lower == kMonthNames[m]) {
          found = static_cast<int>(m);
          full = true;
        } else if (lower.size() == 3 && kMonthNames[m].substr(0, 3) == lower) {
          found = static_cast<int>(m);
        } else if (m == 8 && lower == "sept") {
          found = 8;
        }
      }
      if (found < 0) return false;
      d.month = found + 1;
      d.month_at = i;
      d.month_len = word.size();
      d.full_name = full;
      const bool upper = std::all_of(word.begin(), word.end(), is_upper);
      const bool lower_case = std::all_of(word.begin(), word.end(), is_lower);
      d.name_case = upper && word.size() > 1 ? NamedDate::Case::kUpper
                    : lower_case             ? NamedDate::Case::kLower
                                             : NamedDate::Case::kTitle;
      if (d.name_case == NamedDate::Case::kTitle &&
          !(is_upper(word[0]) && std::all_of(word.begin() + 1, word.end(), is_lower))) {
        return false;
      }
      have_month = true;
    } else if (is_digit(c)) {
      while (j < v.size() && is_digit(v[j])) ++j;
      const size_t n = j - i;
      if (n > 4) return false;  // no day or year (and no int overflow for a run of digits)
      int num = 0;
      for (size_t k = i; k < j; ++k) num = num * 10 + (v[k] - '0');
      if (n == 4 && !have_year) {
        d.year = num;
        d.year_at = i;
        have_year = true;
      } else if (n <= 2 && !have_day) {
        d.day = num;
        d.day_at = i;
        d.day_len = n;
        d.day_padded = n == 2 && v[i] == '0';
        have_day = true;
        // An ordinal suffix, lower case, right after the digits.
        const std::string_view rest = v.substr(j);
        for (std::string_view suf : {"st", "nd", "rd", "th"}) {
          if (rest.starts_with(suf) && (rest.size() == 2 || !is_alpha(rest[2]))) {
            d.suffix_len = 2;
            j += 2;
            break;
          }
        }
      } else {
        return false;
      }
    } else {
      return false;
    }
    i = j;
  }
  if (!have_month || !have_day || !have_year || d.day < 1) return false;
  // The month and the day side by side ("Feb 29, 1984", "29 Feb 1984"), the year first or last.
  const bool month_first = d.month_at < d.day_at;
  const bool adjacent = month_first ? d.day_at > d.month_at && d.year_at > d.day_at
                                    : d.month_at > d.day_at && d.year_at > d.month_at;
  if (!adjacent && !(d.year_at < d.month_at && d.year_at < d.day_at)) return false;
  const int64_t days =
      days_from_civil(d.year, static_cast<unsigned>(d.month), static_cast<unsigned>(d.day));
  int64_t y = 0;
  unsigned m = 0, dd = 0;
  civil_from_days(days, &y, &m, &dd);
  if (y != d.year || static_cast<int>(m) != d.month || static_cast<int>(dd) != d.day) {
    return false;  // Feb 30, Apr 31
  }
  *out = d;
  return true;
}

std::string_view ordinal_suffix(unsigned day) {
  if (day % 100 >= 11 && day % 100 <= 13) return "th";
  switch (day % 10) {
    case 1:
      return "st";
    case 2:
      return "nd";
    case 3:
      return "rd";
    default:
      return "th";
  }
}

}  // namespace

Outcome Transformer::Impl::shift_date(std::string_view value, Kind kind, const ActionParams& params,
                                      std::string_view entity, std::string& out) {
  DateText dt;
  if (parse_date(value, &dt)) {
    const int64_t days =
        days_from_civil(dt.year, static_cast<unsigned>(dt.month), static_cast<unsigned>(dt.day)) +
        shift_days(entity, params.shift_max_days);
    int64_t y = 0;
    unsigned m = 0;
    unsigned d = 0;
    civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) {
      const int year = static_cast<int>(y);
      const int month = static_cast<int>(m);
      const int day = static_cast<int>(d);
      auto sep = [&] {
        if (dt.sep != 0) out += dt.sep;
      };
      switch (dt.order) {
        case DateOrder::kYmd:
          append_number(out, year, true, 4);
          sep();
          append_number(out, month, dt.pad_month, 2);
          sep();
          append_number(out, day, dt.pad_day, 2);
          break;
        case DateOrder::kMdy:
          append_number(out, month, dt.pad_month, 2);
          sep();
          append_number(out, day, dt.pad_day, 2);
          sep();
          append_number(out, year, true, 4);
          break;
        case DateOrder::kDmy:
          append_number(out, day, dt.pad_day, 2);
          sep();
          append_number(out, month, dt.pad_month, 2);
          sep();
          append_number(out, year, true, 4);
          break;
      }
      out.append(value.substr(dt.length));
      return Outcome::kDone;
    }
  } else if (NamedDate nd; parse_named_date(value, &nd)) {
    const int64_t days =
        days_from_civil(nd.year, static_cast<unsigned>(nd.month), static_cast<unsigned>(nd.day)) +
        shift_days(entity, params.shift_max_days);
    int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(days, &y, &m, &d);
    if (y >= 1000 && y <= 9999) {
      // The parts written back where they were, in the order they came.
      struct Part {
        size_t at, len;
        std::string text;
      };
      // The name as long as it was: whole, three letters, or "Sept" (September's only).
      std::string month_name(kMonthNames[m - 1]);
      if (!nd.full_name) month_name.resize(nd.month_len == 4 && m == 9 ? 4 : 3);
      if (nd.name_case != NamedDate::Case::kLower)
        month_name[0] = static_cast<char>(month_name[0] & ~0x20);
      if (nd.name_case == NamedDate::Case::kUpper) {
        for (char& c : month_name) c = static_cast<char>(c & ~0x20);
      }
      std::string day_text;
      append_number(day_text, static_cast<int>(d), nd.day_padded, 2);
      if (nd.suffix_len) day_text += ordinal_suffix(d);
      std::string year_text;
      append_number(year_text, static_cast<int>(y), true, 4);
      std::array<Part, 3> parts = {Part{nd.month_at, nd.month_len, month_name},
                                   Part{nd.day_at, nd.day_len + nd.suffix_len, day_text},
                                   Part{nd.year_at, 4, year_text}};
      std::sort(parts.begin(), parts.end(),
                [](const Part& a, const Part& b) { return a.at < b.at; });
      size_t at = 0;
      for (const Part& p : parts) {
        out.append(value.substr(at, p.at - at));
        out += p.text;
        at = p.at + p.len;
      }
      out.append(value.substr(at));
      return Outcome::kDone;
    }
  }
  token(value, kind, out);
  return Outcome::kFallback;
}

// Characters are UTF-8 code points (a continuation byte never starts one), one mask character
// each. When the kept ends would cover the whole value, nothing is kept.
void Transformer::Impl::mask(std::string_view value, const ActionParams& params, std::string& out) {
  auto continuation = [](char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; };
  size_t chars = 0;
  for (char c : value) chars += continuation(c) ? 0 : 1;
  size_t first = params.mask_keep_first;
  size_t last = params.mask_keep_last;
  if (first >= chars || last >= chars || first + last >= chars) first = last = 0;
  size_t index = 0;
  for (size_t i = 0; i < value.size();) {
    size_t end = i + 1;
    while (end < value.size() && continuation(value[end])) ++end;
    if (index < first || index >= chars - last) {
      out.append(value.substr(i, end - i));
    } else {
      out += params.mask_char;
    }
    ++index;
    i = end;
  }
}

Outcome Transformer::Impl::apply(std::string_view value, Kind kind, const ActionParams& params,
                                 std::string_view entity, std::string& out) {
  switch (params.action) {
    case Action::kKeep:
      out.append(value);
      return Outcome::kDone;
    case Action::kDrop:
      return Outcome::kDone;
    case Action::kToken:
      token(value, kind, out);
      return Outcome::kDone;
    case Action::kFf1: {
      if (scheme >= 3 && has_non_ascii(value)) {
        // FF1 here runs over ASCII alphabets and would leave letters past ASCII as they are:
        // such a value gets a token instead (not reversible; counted as a fallback).
        token(value, kind, out);
        return Outcome::kFallback;
      }
      auto r = ff1(value, params.ff1_tweak, true);
      if (r) {
        out.append(*r);
        return Outcome::kDone;
      }
      token(value, kind, out);
      return Outcome::kFallback;
    }
    case Action::kNoise:
      return noise(value, kind, params, out);
    case Action::kBucket:
      return bucket(value, kind, params, out);
    case Action::kShiftDate:
      return shift_date(value, kind, params, entity, out);
    case Action::kMask:
      mask(value, params, out);
      return Outcome::kDone;
    case Action::kRedact:
      out.append(params.redact_text);
      return Outcome::kDone;
  }
  token(value, kind, out);
  return Outcome::kFallback;
}

Transformer::Transformer(const Key& key, int token_scheme)
    : impl_(std::make_unique<Impl>(key, token_scheme)) {}
Transformer::~Transformer() = default;
Transformer::Transformer(Transformer&&) noexcept = default;
Transformer& Transformer::operator=(Transformer&&) noexcept = default;

Outcome Transformer::apply(std::string_view value, Kind kind, const ActionParams& params,
                           std::string_view entity, std::string& out) {
  return impl_->apply(value, kind, params, entity, out);
}

void Transformer::token(std::string_view value, Kind kind, std::string& out) {
  impl_->token(value, kind, out);
}

Result<std::string> Transformer::ff1_encrypt(std::string_view value, std::string_view tweak) {
  return impl_->ff1(value, tweak, true);
}

Result<std::string> Transformer::ff1_decrypt(std::string_view value, std::string_view tweak) {
  return impl_->ff1(value, tweak, false);
}

int Transformer::date_shift_days(std::string_view entity, int max_days) {
  return impl_->shift_days(entity, max_days);
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::kKeep:
      return "keep";
    case Action::kToken:
      return "token";
    case Action::kFf1:
      return "ff1";
    case Action::kNoise:
      return "noise";
    case Action::kBucket:
      return "bucket";
    case Action::kShiftDate:
      return "shift-date";
    case Action::kMask:
      return "mask";
    case Action::kRedact:
      return "redact";
    case Action::kDrop:
      return "drop";
  }
  return "token";
}

std::optional<Action> parse_action(std::string_view name) {
  for (auto a : {Action::kKeep, Action::kToken, Action::kFf1, Action::kNoise, Action::kBucket,
                 Action::kShiftDate, Action::kMask, Action::kRedact, Action::kDrop}) {
    if (to_string(a) == name) return a;
  }
  return std::nullopt;
}

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  for (char c : digits) {
    if (!is_digit(c)) return false;
  }
  return luhn_sum(digits, false) % 10 == 0;
}

char luhn_check_digit(std::string_view digits) {
  return static_cast<char>('0' + (10 - luhn_sum(digits, true) % 10) % 10);
}

bool iban_valid(std::string_view iban) {
  if (iban.size() < 5 || iban.size() > 34) return false;
  if (!is_alpha(iban[0]) || !is_alpha(iban[1]) || !is_digit(iban[2]) || !is_digit(iban[3])) {
    return false;
  }
  for (char c : iban.substr(4)) {
    if (!is_alnum(c)) return false;
  }
  // Rearranged: the BBAN, then country and check digits.
  return mod97(mod97(0, iban.substr(4)), iban.substr(0, 4)) == 1;
}

}  // namespace twin::scrubber
