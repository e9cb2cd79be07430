#include "twin/traffic/text.h"

#include <array>
#include <cstring>

#include "twin/traffic/exchange.h"

namespace twin::traffic {

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}
namespace {

// The length of the well-formed UTF-8 sequence that starts at p[0] (1 to 4), or 0 when it is
// ill-formed; then `*subpart` is the length of its maximal ill-formed subpart (at least 1), the
// unit that one U+FFFD replaces. Byte ranges from the Unicode Standard, table 3-7.
size_t sequence_length(const unsigned char* p, size_t n, size_t* subpart) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    *subpart = 1;  // a continuation byte, C0, C1 or F5..FF
    return 0;
  }
  size_t i = 1;
  for (; i < len && i < n; ++i) {
    const unsigned char b = p[i];
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  if (i == len) return len;
  *subpart = i;
  return 0;
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr uint8_t kInvalid = 0xFF;
constexpr uint8_t kPad = 0xFE;
constexpr uint8_t kSpace = 0xFD;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kBase64Alphabet[i])] = i;
  t['='] = kPad;
  for (unsigned char c : {' ', '\t', '\n', '\r', '\f', '\v'}) t[c] = kSpace;
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = make_decode_table();

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar), exact for
// every date an int64 of nanoseconds can reach and far beyond.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

void put_digits(std::string& out, uint64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

// A cursor over the text being parsed; every read checks the bounds.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool peek_digit() const { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; }
  char get() { return i_ < s_.size() ? s_[i_++] : '\0'; }
  bool eat(char c) {
    if (!peek(c)) return false;
    ++i_;
    return true;
  }
  // Exactly `width` decimal digits.
  bool digits(int width, unsigned& out) {
    out = 0;
    for (int k = 0; k < width; ++k) {
      if (!peek_digit()) return false;
      out = out * 10 + static_cast<unsigned>(s_[i_++] - '0');
    }
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path: eight bytes at a time while none has its high bit set.
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t subpart = 0;
    const size_t len = sequence_length(p + i, n - i, &subpart);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  std::string out;
  out.reserve(n + n / 2);
  size_t i = 0;
  while (i < n) {
    size_t subpart = 0;
    const size_t len = sequence_length(p + i, n - i, &subpart);
    if (len == 0) {
      out += kReplacement;
      i += subpart;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  std::string out((n + 2) / 3 * 4, '=');
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    *o++ = kBase64Alphabet[(v >> 18) & 63];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
    *o++ = kBase64Alphabet[(v >> 6) & 63];
    *o++ = kBase64Alphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{p[i]} << 16;
    *o++ = kBase64Alphabet[(v >> 18) & 63];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    *o++ = kBase64Alphabet[(v >> 18) & 63];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
    *o++ = kBase64Alphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  size_t symbols = 0;  // data symbols seen
  size_t padding = 0;
  for (const char ch : text) {
    const uint8_t v = kDecode[static_cast<unsigned char>(ch)];
    if (v == kSpace) continue;
    if (v == kPad) {
      ++padding;
      continue;
    }
    if (v == kInvalid || padding > 0) return std::nullopt;  // data after '=' is wrong too
    acc = (acc << 6) | v;
    if (++symbols % 4 == 0) {
      out.push_back(static_cast<char>((acc >> 16) & 0xFF));
      out.push_back(static_cast<char>((acc >> 8) & 0xFF));
      out.push_back(static_cast<char>(acc & 0xFF));
      acc = 0;
    }
  }
  switch (symbols % 4) {
    case 0:
      if (padding != 0) return std::nullopt;
      break;
    case 1:
      return std::nullopt;  // six bits cannot make a byte
    case 2:
      if (padding != 0 && padding != 2) return std::nullopt;
      out.push_back(static_cast<char>((acc >> 4) & 0xFF));
      break;
    case 3:
      if (padding > 1) return std::nullopt;
      out.push_back(static_cast<char>((acc >> 10) & 0xFF));
      out.push_back(static_cast<char>((acc >> 2) & 0xFF));
      break;
  }
  return out;
}

std::string format_rfc3339(int64_t unix_nanos, int digits) {
  // Floor division, so that instants before 1970 get a positive fraction. Neither division
  // can overflow: the divisors are positive constants.
  int64_t seconds = unix_nanos / kNanosPerSecond;
  int64_t nanos = unix_nanos % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  int64_t days = seconds / kSecondsPerDay;
  int64_t in_day = seconds % kSecondsPerDay;
  if (in_day < 0) {
    in_day += kSecondsPerDay;
    --days;
  }
  const Civil date = civil_from_days(days);
  std::string out;
  out.reserve(32);
  // An int64 of nanoseconds spans the years 1677 to 2262: always four positive digits.
  put_digits(out, static_cast<uint64_t>(date.year), 4);
  out += '-';
  put_digits(out, date.month, 2);
  out += '-';
  put_digits(out, date.day, 2);
  out += 'T';
  put_digits(out, static_cast<uint64_t>(in_day / 3600), 2);
  out += ':';
  put_digits(out, static_cast<uint64_t>(in_day / 60 % 60), 2);
  out += ':';
  put_digits(out, static_cast<uint64_t>(in_day % 60), 2);
  // Truncated, not rounded, so that no carry can reach the seconds.
  const int width = digits <= 0 ? 0 : digits <= 3 ? 3 : digits <= 6 ? 6 : 9;
  if (width > 0) {
    out += '.';
    uint64_t fraction = static_cast<uint64_t>(nanos);
    for (int k = width; k < 9; ++k) fraction /= 10;
    put_digits(out, fraction, width);
  }
  out += 'Z';
  return out;
}

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  Scanner s(text);
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!s.digits(4, year) || !s.eat('-') || !s.digits(2, month) || !s.eat('-') ||
      !s.digits(2, day)) {
    return std::nullopt;
  }
  const char sep = s.get();
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  if (!s.digits(2, hour) || !s.eat(':') || !s.digits(2, minute) || !s.eat(':') ||
      !s.digits(2, second)) {
    return std::nullopt;
  }
  // A leap second (:60) is accepted and lands on the first instant of the next minute.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  if (s.eat('.')) {
    if (!s.peek_digit()) return std::nullopt;
    int used = 0;
    while (s.peek_digit()) {
      const char c = s.get();
      if (used < 9) {  // digits past nanoseconds are read and dropped
        nanos = nanos * 10 + (c - '0');
        ++used;
      }
    }
    for (; used < 9; ++used) nanos *= 10;
  }
  int64_t offset = 0;  // seconds east of UTC
  const char zone = s.get();
  if (zone == '+' || zone == '-') {
    unsigned oh = 0, om = 0;
    if (!s.digits(2, oh)) return std::nullopt;
    if (!s.done()) {
      s.eat(':');
      if (!s.digits(2, om)) return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset = (zone == '+' ? 1 : -1) * static_cast<int64_t>(oh * 3600 + om * 60);
  } else if (zone != 'Z' && zone != 'z') {
    return std::nullopt;
  }
  if (!s.done()) return std::nullopt;
  // Years 0000..9999 keep these sums far from overflow; only the nanosecond product can.
  const int64_t seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 +
                          minute * 60 + second - offset;
  int64_t whole = seconds;
  if (whole < 0 && nanos > 0) {  // keep the product in range near the lowest instant
    whole += 1;
    nanos -= kNanosPerSecond;
  }
  int64_t result = 0;
  if (__builtin_mul_overflow(whole, kNanosPerSecond, &result) ||
      __builtin_add_overflow(result, nanos, &result)) {
    return std::nullopt;
  }
  // The one instant an int64 can hold that means "unknown" elsewhere.
  if (result == kNoTime) return std::nullopt;
  return result;
}

}  // namespace twin::traffic
