#pragma once
// A labelled corpus of personal data in its real-world text forms, and of look-alikes that are
// not personal data, for the detector tests and for the engine's tests (which embed the values
// in headers, query strings, paths, cookies, JSON and form bodies). Header-only and
// deterministic by seed: std::mt19937_64, reduced with modulo so every standard library gives
// the same corpus.
//
//   for (const auto& v : pii_values(seed, 20)) { … v.text, v.kind, v.format, v.value() … }
//   for (const auto& v : lookalikes(seed, 20)) { … v.kind == Kind::kNone … }
//
// Every value is valid for its kind (Luhn, mod-97, NANP, SSN area rules, JWT segments that
// decode to JSON, …). `format` names the shape ("card/amex-spaced", "lookalike/version"), so a
// failing test can say which shape failed without printing the value.

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "twin/scrubber/kind.h"

namespace twin::scrubber::corpus {

/// One value and where a detector should find it: [begin, end) of `text` (the whole text but
/// for credentials after an auth scheme, where `text` is "Bearer <token>" and the span is the
/// token).
struct LabelledValue {
  std::string text;
  Kind kind = Kind::kNone;
  std::string format;
  size_t begin = 0;
  size_t end = 0;

  std::string_view value() const { return std::string_view(text).substr(begin, end - begin); }
};

namespace detail {

class Rng {
 public:
  explicit Rng(uint64_t seed) : rng_(seed) {}
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(uint64_t one_in) { return below(one_in) == 0; }
  template <typename T, size_t N>
  const T& pick(const std::array<T, N>& a) {
    return a[below(N)];
  }
  std::string from(std::string_view alphabet, size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = alphabet[below(alphabet.size())];
    return s;
  }
  std::string digits(size_t n) { return from("0123456789", n); }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng_() & 0xFF);
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kUpperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::string_view kHexLower = "0123456789abcdef";

inline std::string base64(std::string_view in, bool url, bool pad) {
  const char* a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 3 <= in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
    i += 3;
  }
  if (in.size() - i == 1) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (in.size() - i == 2) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

inline char luhn_digit(std::string_view body) {
  int sum = 0;
  bool dbl = true;  // the check digit will be appended, so the last body digit is doubled
  for (size_t i = body.size(); i-- > 0;) {
    int d = body[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

inline std::string group(std::string_view s, std::initializer_list<size_t> sizes, char sep) {
  std::string out;
  size_t at = 0;
  for (size_t n : sizes) {
    if (!out.empty()) out += sep;
    out += s.substr(at, n);
    at += n;
  }
  return out;
}

inline bool has_digit_and_letter(std::string_view s) {
  bool d = false;
  bool l = false;
  for (char c : s) {
    d = d || (c >= '0' && c <= '9');
    l = l || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return d && l;
}

inline bool alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr std::array<std::string_view, 16> kFirst = {
    "john",   "jane",   "maria", "li",    "ahmed", "olga", "pierre", "yuki",
    "carlos", "fatima", "sven",  "priya", "noah",  "emma", "kwame",  "ines"};
constexpr std::array<std::string_view, 12> kLast = {"doe",     "smith",  "garcia",  "wang",
                                                    "mueller", "dubois", "tanaka",  "okafor",
                                                    "silva",   "novak",  "ivanova", "kim"};
constexpr std::array<std::string_view, 10> kDomains = {
    "example.com",      "mail.example.org", "corp.example.co.uk", "example.io",
    "dept.example.net", "shop-example.de",  "example.fr",         "uni.example.edu",
    "example.com.au",   "post.example.ch"};

// Card numbers: prefix, length, grouping.
inline std::string card(Rng& r, std::string_view prefix, size_t len) {
  while (true) {
    std::string body(prefix);
    body += r.digits(len - 1 - prefix.size());
    body += luhn_digit(body);
    size_t zeros = 0;
    bool same = true;
    for (char c : body) {
      zeros += c == '0';
      same = same && c == body[0];
    }
    if (!same && zeros * 10 <= body.size() * 6) return body;
  }
}

inline int iban_check(std::string_view country, std::string_view bban) {
  uint32_t rem = 0;
  auto feed = [&rem](char c) {
    if (c >= '0' && c <= '9') {
      rem = (rem * 10 + static_cast<uint32_t>(c - '0')) % 97;
    } else {
      rem = (rem * 100 + static_cast<uint32_t>(c - 'A' + 10)) % 97;
    }
  };
  for (char c : bban) feed(c);
  for (char c : country) feed(c);
  feed('0');
  feed('0');
  return static_cast<int>(98 - rem);
}

inline std::string iban(Rng& r, std::string_view country, std::string_view shape) {
  // shape: 'n' digit, 'a' uppercase letter, 'c' uppercase letter or digit
  std::string bban;
  for (char s : shape) {
    if (s == 'n') bban += r.digits(1);
    if (s == 'a') bban += r.from(kUpper, 1);
    if (s == 'c') bban += r.from(kUpperDigits, 1);
  }
  const int check = iban_check(country, bban);
  std::string out(country);
  out += static_cast<char>('0' + check / 10);
  out += static_cast<char>('0' + check % 10);
  out += bban;
  return out;
}

inline std::string spaced4(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += ' ';
    out += s[i];
  }
  return out;
}

inline std::string ipv6_text(const std::array<uint16_t, 8>& g) {
  in6_addr a;
  for (int i = 0; i < 8; ++i) {
    a.s6_addr[2 * i] = static_cast<uint8_t>(g[i] >> 8);
    a.s6_addr[2 * i + 1] = static_cast<uint8_t>(g[i] & 0xFF);
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, buf, sizeof(buf));
  return buf;
}

inline std::string ipv4_random(Rng& r) {
  return std::to_string(r.range(1, 223)) + "." + std::to_string(r.below(256)) + "." +
         std::to_string(r.below(256)) + "." + std::to_string(r.range(1, 254));
}

inline std::string nanp(Rng& r) {
  return std::to_string(r.range(2, 9)) + r.digits(2) + std::to_string(r.range(2, 9)) + r.digits(2) +
         r.digits(4);
}

inline std::string token_chars(Rng& r, std::string_view alphabet, size_t n) {
  while (true) {
    std::string s = r.from(alphabet, n);
    if (has_digit_and_letter(s) && alnum(s.front()) && alnum(s.back()) && s.substr(0, 3) != "eyJ") {
      return s;
    }
  }
}

inline void add(std::vector<LabelledValue>& out, std::string text, Kind kind,
                std::string_view format, size_t begin = 0, size_t end = std::string::npos) {
  LabelledValue v;
  v.end = end == std::string::npos ? text.size() : end;
  v.begin = begin;
  v.text = std::move(text);
  v.kind = kind;
  v.format = format;
  out.push_back(std::move(v));
}

inline std::vector<LabelledValue> make_pii_values(uint64_t seed, size_t per_format) {
  Rng r(seed);
  std::vector<LabelledValue> out;
  auto each = [&](std::string_view format, Kind kind, auto make) {
    for (size_t i = 0; i < per_format; ++i) add(out, make(), kind, format);
  };
  const std::string_view kTags[] = {"shop", "news", "2024", "a1"};

  // emails
  each("email/first.last", Kind::kEmail, [&]() -> std::string {
    return std::string(r.pick(kFirst)) + "." + std::string(r.pick(kLast)) + "@" +
           std::string(r.pick(kDomains));
  });
  each("email/plus-tag", Kind::kEmail, [&]() -> std::string {
    return std::string(r.pick(kFirst)) + "+" + std::string(kTags[r.below(4)]) + "@" +
           std::string(r.pick(kDomains));
  });
  each("email/digits", Kind::kEmail, [&]() -> std::string {
    return std::string(r.pick(kFirst)) + r.digits(r.range(1, 4)) + "@" +
           std::string(r.pick(kDomains));
  });
  each("email/underscore-dash", Kind::kEmail, [&]() -> std::string {
    return std::string(r.pick(kFirst)) + "_" + std::string(r.pick(kLast)) + "-" + r.digits(1) +
           "@sub-" + std::string(r.pick(kDomains));
  });
  each("email/mixed-case", Kind::kEmail, [&]() -> std::string {
    std::string s = std::string(r.pick(kFirst)) + "." + std::string(r.pick(kLast)) + "@Example.COM";
    s[0] = static_cast<char>(s[0] - 32);
    return s;
  });
  each("email/short", Kind::kEmail,
       [&]() -> std::string { return r.from(kLower, 1) + "@" + r.from(kLower, 2) + ".io"; });
  each("email/long-tld", Kind::kEmail,
       [&]() -> std::string { return std::string(r.pick(kFirst)) + "@company.technology"; });
  each("email/punycode", Kind::kEmail,
       [&]() -> std::string { return std::string(r.pick(kLast)) + "@xn--bcher-kva.example"; });
  // internationalized (RFC 6531): letters of any script in the local part and the domain, and
  // an apostrophe (RFC 5322 atext)
  each("email/apostrophe", Kind::kEmail, [&]() -> std::string {
    return "o'" + std::string(r.pick(kLast)) + "@" + std::string(r.pick(kDomains));
  });
  constexpr std::string_view kUnicodeLocal[] = {"zoë",    "müller", "josé",   "françois",
                                                "łukasz", "иван",   "αλέξης", "李雷"};
  constexpr std::string_view kUnicodeDomain[] = {"münchen.de", "café.fr", "пример.рф", "例子.中国"};
  each("email/unicode-local", Kind::kEmail, [&]() -> std::string {
    return std::string(kUnicodeLocal[r.below(8)]) + r.digits(r.range(0, 2)) + "@" +
           std::string(r.pick(kDomains));
  });
  each("email/unicode-domain", Kind::kEmail, [&]() -> std::string {
    return std::string(r.pick(kFirst)) + "@" + std::string(kUnicodeDomain[r.below(4)]);
  });

  // cards
  auto cards = [&](std::string_view name, auto prefix, size_t len,
                   std::initializer_list<size_t> groups) {
    each(std::string("card/") + std::string(name), Kind::kCard,
         [&] { return card(r, prefix(), len); });
    if (groups.size() > 0) {
      each(std::string("card/") + std::string(name) + "-spaced", Kind::kCard,
           [&] { return group(card(r, prefix(), len), groups, ' '); });
      each(std::string("card/") + std::string(name) + "-dashed", Kind::kCard,
           [&] { return group(card(r, prefix(), len), groups, '-'); });
    }
  };
  cards("visa16", [] { return std::string("4"); }, 16, {4, 4, 4, 4});
  cards("visa13", [] { return std::string("4"); }, 13, {});
  cards("visa19", [] { return std::string("4"); }, 19, {4, 4, 4, 4, 3});
  cards("mastercard", [&] { return std::to_string(r.range(51, 55)); }, 16, {4, 4, 4, 4});
  cards("mastercard-2", [&] { return std::to_string(r.range(2221, 2720)); }, 16, {4, 4, 4, 4});
  cards("amex", [&] { return std::string(r.chance(2) ? "34" : "37"); }, 15, {4, 6, 5});
  cards("discover", [] { return std::string("6011"); }, 16, {4, 4, 4, 4});
  cards("jcb", [&] { return std::to_string(r.range(3528, 3589)); }, 16, {4, 4, 4, 4});
  cards("diners", [] { return std::string("36"); }, 14, {4, 6, 4});
  cards("unionpay", [] { return std::string("62"); }, 19, {});
  each("card/maestro", Kind::kCard,
       [&]() -> std::string { return card(r, std::to_string(r.range(56, 58)), 12 + r.below(8)); });

  // phones
  each("phone/e164-us", Kind::kPhone, [&]() -> std::string { return "+1" + nanp(r); });
  each("phone/e164-uk", Kind::kPhone, [&]() -> std::string { return "+447" + r.digits(9); });
  each("phone/intl-us-dashed", Kind::kPhone, [&]() -> std::string {
    const std::string n = nanp(r);
    return "+1-" + group(n, {3, 3, 4}, '-');
  });
  each("phone/intl-us-paren", Kind::kPhone, [&]() -> std::string {
    const std::string n = nanp(r);
    return "+1 (" + n.substr(0, 3) + ") " + n.substr(3, 3) + "-" + n.substr(6);
  });
  each("phone/intl-uk-london", Kind::kPhone,
       [&]() -> std::string { return "+44 20 " + r.digits(4) + " " + r.digits(4); });
  each("phone/intl-uk-mobile", Kind::kPhone,
       [&]() -> std::string { return "+44 7" + r.digits(3) + " " + r.digits(6); });
  each("phone/intl-de", Kind::kPhone, [&]() -> std::string {
    return r.chance(2) ? "+49 30 " + r.digits(r.range(6, 8)) : "+49 151 " + r.digits(8);
  });
  each("phone/intl-de-trunk", Kind::kPhone,
       [&]() -> std::string { return "+49 (0)30 " + r.digits(7); });
  each("phone/intl-fr", Kind::kPhone, [&]() -> std::string {
    return "+33 " + std::to_string(r.range(1, 7)) + " " + group(r.digits(8), {2, 2, 2, 2}, ' ');
  });
  each("phone/intl-au", Kind::kPhone,
       [&]() -> std::string { return "+61 2 " + r.digits(4) + " " + r.digits(4); });
  each("phone/intl-jp", Kind::kPhone,
       [&]() -> std::string { return "+81 3-" + r.digits(4) + "-" + r.digits(4); });
  each("phone/intl-paren-cc", Kind::kPhone, [&]() -> std::string {
    return r.chance(2) ? "(+44) 20 " + r.digits(4) + " " + r.digits(4)
                       : "(+91) 9" + r.digits(4) + " " + r.digits(5);
  });
  each("phone/intl-00", Kind::kPhone, [&]() -> std::string {
    return r.chance(2) ? "0049 30 " + r.digits(r.range(6, 8))
                       : "0044 20 " + r.digits(4) + " " + r.digits(4);
  });
  each("phone/us-paren", Kind::kPhone, [&]() -> std::string {
    const std::string n = nanp(r);
    return "(" + n.substr(0, 3) + ") " + n.substr(3, 3) + "-" + n.substr(6);
  });
  each("phone/us-dashed", Kind::kPhone, [&]() -> std::string {
    return group(nanp(r), {3, 3, 4}, '-');
  });
  each("phone/us-dotted", Kind::kPhone, [&]() -> std::string {
    return group(nanp(r), {3, 3, 4}, '.');
  });
  each("phone/us-spaced", Kind::kPhone, [&]() -> std::string {
    return group(nanp(r), {3, 3, 4}, ' ');
  });
  each("phone/us-1-dashed", Kind::kPhone, [&]() -> std::string {
    return "1-" + group(nanp(r), {3, 3, 4}, '-');
  });
  each("phone/uk-london", Kind::kPhone,
       [&]() -> std::string { return "020 " + r.digits(4) + " " + r.digits(4); });
  each("phone/uk-mobile", Kind::kPhone,
       [&]() -> std::string { return "07" + r.digits(3) + " " + r.digits(6); });
  each("phone/uk-manchester", Kind::kPhone,
       [&]() -> std::string { return "0161 " + r.digits(3) + " " + r.digits(4); });
  each("phone/de-berlin", Kind::kPhone,
       [&]() -> std::string { return "030 " + r.digits(r.range(6, 8)); });
  each("phone/de-mobile", Kind::kPhone, [&]() -> std::string { return "0151 " + r.digits(8); });
  each("phone/de-slash", Kind::kPhone, [&]() -> std::string { return "030/" + r.digits(7); });
  each("phone/de-paren", Kind::kPhone, [&]() -> std::string { return "(030) " + r.digits(7); });
  each("phone/fr-spaced", Kind::kPhone, [&]() -> std::string {
    return "0" + std::to_string(r.range(1, 7)) + " " + group(r.digits(8), {2, 2, 2, 2}, ' ');
  });
  each("phone/fr-dotted", Kind::kPhone, [&]() -> std::string {
    return "0" + std::to_string(r.range(1, 7)) + "." + group(r.digits(8), {2, 2, 2, 2}, '.');
  });

  // SSNs
  each("ssn/dashed", Kind::kSsn, [&]() -> std::string {
    uint64_t area;
    do {
      area = r.range(1, 899);
    } while (area == 666);
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%03u-%02u-%04u", static_cast<unsigned>(area),
                  static_cast<unsigned>(r.range(1, 99)), static_cast<unsigned>(r.range(1, 9999)));
    return std::string(buf);
  });

  // IBANs, compact and in groups of four
  struct Country {
    std::string_view code;
    std::string_view shape;
  };
  constexpr std::array<Country, 11> kIbans = {{{"DE", "nnnnnnnnnnnnnnnnnn"},
                                               {"GB", "aaaannnnnnnnnnnnnn"},
                                               {"FR", "nnnnnnnnnncccccccccccnn"},
                                               {"NL", "aaaannnnnnnnnn"},
                                               {"ES", "nnnnnnnnnnnnnnnnnnnn"},
                                               {"IT", "annnnnnnnnncccccccccccc"},
                                               {"BE", "nnnnnnnnnnnn"},
                                               {"CH", "nnnnncccccccccccc"},
                                               {"AT", "nnnnnnnnnnnnnnnn"},
                                               {"PL", "nnnnnnnnnnnnnnnnnnnnnnnn"},
                                               {"NO", "nnnnnnnnnnn"}}};
  for (const Country& c : kIbans) {
    each("iban/" + std::string(c.code), Kind::kIban, [&] { return iban(r, c.code, c.shape); });
    each("iban/" + std::string(c.code) + "-spaced", Kind::kIban,
         [&] { return spaced4(iban(r, c.code, c.shape)); });
  }
  // as typed into a form, in lower case
  auto lower = [](std::string v) {
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  each("iban/GB-lower", Kind::kIban, [&] { return lower(iban(r, "GB", kIbans[1].shape)); });
  each("iban/FR-lower-spaced", Kind::kIban,
       [&] { return lower(spaced4(iban(r, "FR", kIbans[2].shape))); });

  // IPv4
  each("ipv4/public", Kind::kIpv4, [&]() -> std::string { return ipv4_random(r); });
  each("ipv4/private-10", Kind::kIpv4, [&]() -> std::string {
    return "10." + std::to_string(r.below(256)) + "." + std::to_string(r.below(256)) + "." +
           std::to_string(r.range(1, 254));
  });
  each("ipv4/private-192", Kind::kIpv4, [&]() -> std::string {
    return "192.168." + std::to_string(r.below(256)) + "." + std::to_string(r.range(1, 254));
  });
  each("ipv4/edge-octets", Kind::kIpv4, [&]() -> std::string {
    return std::to_string(r.range(1, 255)) + ".0.255." + std::to_string(r.below(256));
  });

  // IPv6
  auto groups6 = [&](int zeros) {
    std::array<uint16_t, 8> g{};
    for (auto& x : g) x = static_cast<uint16_t>(r.below(0x10000));
    g[0] = static_cast<uint16_t>(0x2001);
    g[1] = static_cast<uint16_t>(0xdb8);
    const size_t at = 2 + r.below(static_cast<uint64_t>(7 - zeros));
    for (int k = 0; k < zeros; ++k) g[at + static_cast<size_t>(k)] = 0;
    return g;
  };
  each("ipv6/full", Kind::kIpv6, [&]() -> std::string {
    auto g = groups6(0);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04x:%04x:%04x:%04x:%04x:%04x:%04x:%04x", g[0], g[1], g[2],
                  g[3], g[4], g[5], g[6], g[7]);
    return std::string(buf);
  });
  each("ipv6/full-upper", Kind::kIpv6, [&]() -> std::string {
    auto g = groups6(0);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%X:%X:%X:%X:%X:%X:%X:%X", g[0], g[1], g[2], g[3], g[4], g[5],
                  g[6], g[7]);
    return std::string(buf);
  });
  each("ipv6/compressed", Kind::kIpv6,
       [&]() -> std::string { return ipv6_text(groups6(static_cast<int>(r.range(2, 4)))); });
  each("ipv6/link-local", Kind::kIpv6, [&]() -> std::string {
    std::array<uint16_t, 8> g{0xfe80, 0, 0, 0};
    for (size_t k = 4; k < 8; ++k) g[k] = static_cast<uint16_t>(r.range(1, 0xffff));
    return ipv6_text(g);
  });
  each("ipv6/loopback", Kind::kIpv6, []() -> std::string { return std::string("::1"); });
  each("ipv6/embedded-v4", Kind::kIpv6, [&]() -> std::string {
    return std::string(r.chance(2) ? "::ffff:" : "64:ff9b::") + ipv4_random(r);
  });

  // JWTs built from real JSON
  auto jwt = [&](std::string_view alg, size_t sig_bytes) {
    std::string header = "{\"alg\":\"" + std::string(alg) + "\",\"typ\":\"JWT\"";
    if (r.chance(2)) header += ",\"kid\":\"" + r.from(kAlnum, 8) + "\"";
    header += "}";
    std::string payload = "{\"sub\":\"" + r.digits(10) + "\",\"name\":\"" +
                          std::string(r.pick(kFirst)) +
                          "\",\"iat\":" + std::to_string(1700000000 + r.below(1u << 24)) +
                          ",\"exp\":" + std::to_string(1800000000 + r.below(1u << 24)) + "}";
    return base64(header, true, false) + "." + base64(payload, true, false) + "." +
           base64(r.bytes(sig_bytes), true, false);
  };
  each("jwt/hs256", Kind::kJwt, [&]() -> std::string { return jwt("HS256", 32); });
  each("jwt/rs256", Kind::kJwt, [&]() -> std::string { return jwt("RS256", 256); });
  each("jwt/es256", Kind::kJwt, [&]() -> std::string { return jwt("ES256", 64); });
  each("jwt/unsigned", Kind::kJwt, [&]() -> std::string { return jwt("none", 0); });

  // credentials after a scheme: the span is the credential
  auto scheme = [&](std::string_view format, std::string_view prefix, auto make) {
    for (size_t i = 0; i < per_format; ++i) {
      std::string cred = make();
      add(out, std::string(prefix) + cred, Kind::kBearer, format, prefix.size());
    }
  };
  scheme("bearer/scheme-bearer", "Bearer ", [&] {
    return token_chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
                       r.range(24, 64));
  });
  scheme("bearer/scheme-bearer-lower", "bearer ", [&] { return token_chars(r, kAlnum, 32); });
  scheme("bearer/scheme-token", "Token ", [&] { return token_chars(r, kHexLower, 40); });
  scheme("bearer/scheme-apikey", "ApiKey ", [&] { return token_chars(r, kAlnum, 32); });
  scheme("bearer/scheme-basic", "Basic ", [&] {
    const std::string user = std::string(r.pick(kFirst)) + r.digits(2);
    const std::string pass = r.from(kAlnum, r.range(8, 20));
    return base64(user + ":" + pass, false, true);
  });
  each("bearer/aws-access-key", Kind::kBearer, [&]() -> std::string {
    return std::string(r.chance(2) ? "AKIA" : "ASIA") + r.from(kUpperDigits, 16);
  });
  each("bearer/github", Kind::kBearer, [&]() -> std::string {
    constexpr std::array<std::string_view, 5> kPre = {"ghp_", "gho_", "ghs_", "ghu_", "ghr_"};
    return std::string(r.pick(kPre)) + r.from(kAlnum, 36);
  });
  each("bearer/slack", Kind::kBearer, [&]() -> std::string {
    constexpr std::array<std::string_view, 3> kPre = {"xoxb-", "xoxp-", "xoxa-"};
    return std::string(r.pick(kPre)) + r.digits(12) + "-" + r.digits(13) + "-" + r.from(kAlnum, 24);
  });
  each("bearer/stripe", Kind::kBearer, [&]() -> std::string {
    constexpr std::array<std::string_view, 4> kPre = {"sk_live_", "pk_live_", "sk_test_",
                                                      "rk_live_"};
    return std::string(r.pick(kPre)) + r.from(kAlnum, r.range(24, 99));
  });
  each("bearer/google", Kind::kBearer, [&]() -> std::string {
    std::string body = r.from(kAlnum, 35);
    body[r.below(35)] = r.chance(2) ? '_' : '-';
    return "AIza" + body;
  });

  // random secrets
  auto b64_secret = [&](size_t bytes, bool url, bool pad) {
    while (true) {
      std::string s = base64(r.bytes(bytes), url, pad);
      std::string core = s.substr(0, s.find('='));
      if (has_digit_and_letter(core) && alnum(core.front()) && alnum(core.back())) return s;
    }
  };
  each("secret/hex32", Kind::kSecret,
       [&]() -> std::string { return token_chars(r, kHexLower, 32); });
  each("secret/hex40", Kind::kSecret,
       [&]() -> std::string { return token_chars(r, kHexLower, 40); });
  each("secret/hex64-upper", Kind::kSecret,
       [&]() -> std::string { return token_chars(r, "0123456789ABCDEF", 64); });
  each("secret/base64url-32", Kind::kSecret,
       [&]() -> std::string { return b64_secret(32, true, false); });
  each("secret/base64url-24", Kind::kSecret,
       [&]() -> std::string { return b64_secret(24, true, false); });
  each("secret/base64-padded", Kind::kSecret,
       [&]() -> std::string { return b64_secret(r.chance(2) ? 32 : 40, false, true); });
  each("secret/alnum40", Kind::kSecret,
       [&]() -> std::string { return token_chars(r, kAlnum, 40); });

  // UUIDs
  auto uuid = [&](std::string_view hex_alphabet, char version) {
    std::string h = r.from(hex_alphabet, 32);
    h[12] = version;
    h[16] = hex_alphabet[8 + r.below(4)];
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
  };
  each("uuid/v4", Kind::kUuid, [&]() -> std::string { return uuid(kHexLower, '4'); });
  each("uuid/v4-upper", Kind::kUuid,
       [&]() -> std::string { return uuid("0123456789ABCDEF", '4'); });
  each("uuid/v1", Kind::kUuid, [&]() -> std::string { return uuid(kHexLower, '1'); });
  each("uuid/v7", Kind::kUuid, [&]() -> std::string { return uuid(kHexLower, '7'); });
  return out;
}

inline std::vector<LabelledValue> make_lookalikes(uint64_t seed, size_t per_category) {
  Rng r(seed);
  std::vector<LabelledValue> out;
  auto each = [&](std::string_view category, auto make) {
    for (size_t i = 0; i < per_category; ++i) {
      add(out, make(), Kind::kNone, "lookalike/" + std::string(category));
    }
  };
  auto num = [&](uint64_t lo, uint64_t hi) { return std::to_string(r.range(lo, hi)); };
  auto two = [&](uint64_t lo, uint64_t hi) {
    const uint64_t v = r.range(lo, hi);
    return (v < 10 ? "0" : "") + std::to_string(v);
  };
  each("quantity", [&]() -> std::string {
    switch (r.below(8)) {
      case 0:
        return num(0, 9999);
      case 1:
        return num(1, 9) + "," + r.digits(3) + "." + r.digits(2);
      case 2:
        return "$" + num(1, 99) + "," + r.digits(3) + "." + r.digits(2);
      case 3:
        return "0.000" + num(1, 9);
      case 4:
        return "-" + num(1, 500) + "." + r.digits(2);
      case 5:
        return num(1, 9) + "." + r.digits(2) + "e-" + num(1, 12);
      case 6:
        return "EUR " + num(1, 9) + "." + r.digits(3) + "," + r.digits(2);
      default:
        return num(1, 100) + "%";
    }
  });
  each("sku", [&]() -> std::string {
    switch (r.below(4)) {
      case 0:
        return "SKU-" + r.digits(5) + "-" + std::string(r.chance(2) ? "XL" : "M");
      case 1:
        return r.from(kUpper, 2) + "-" + r.digits(4) + "-" + r.digits(3);
      case 2:
        return "PRD-" + num(2015, 2030) + "-" + r.digits(6);
      default:
        return "ITEM-" + r.digits(5) + "-BLU-" + r.from(kUpper, 1);
    }
  });
  each("timestamp", [&]() -> std::string {
    const std::string date = num(2000, 2030) + "-" + two(1, 12) + "-" + two(1, 28);
    const std::string time = two(0, 23) + ":" + two(0, 59) + ":" + two(0, 59);
    switch (r.below(6)) {
      case 0:
        return date + "T" + time + "." + r.digits(3) + "Z";
      case 1:
        return date + "T" + time + "+0" + num(1, 9) + ":00";
      case 2:
        return date + " " + time;
      case 3:
        return "Thu, " + two(1, 28) + " Mar " + num(2000, 2030) + " " + time + " GMT";
      case 4:
        return "17" + r.digits(8);  // epoch seconds
      default:
        return "17" + r.digits(11);  // epoch milliseconds
    }
  });
  each("date", [&]() -> std::string {
    switch (r.below(5)) {
      case 0:
        return num(2000, 2030) + "-" + two(1, 12) + "-" + two(1, 28);
      case 1:
        return two(1, 28) + "/" + two(1, 12) + "/" + num(2000, 2030);
      case 2:
        return two(1, 28) + "." + two(1, 12) + "." + num(2000, 2030);
      case 3:
        return num(2000, 2030) + two(1, 12) + two(1, 28);
      default:
        return "March " + num(1, 28) + ", " + num(2000, 2030);
    }
  });
  each("version", [&]() -> std::string {
    switch (r.below(7)) {
      case 0:
        return num(0, 20) + "." + num(0, 30) + "." + num(0, 99);
      case 1:
        return "v" + num(0, 9) + "." + num(0, 20) + ".0-rc" + num(1, 5);
      case 2:
        return "10.0." + num(10000, 22999) + "." + num(1000, 9999);
      case 3:
        return num(1, 9) + "." + num(0, 9) + "." + num(0, 9) + "." + num(0, 9) + "." + num(0, 9);
      case 4:
        return num(1, 9) + "." + num(0, 20) + "." + num(0, 9) + "+build." + num(1, 999);
      case 5:
        return "Chrome/" + num(100, 130) + ".0.0.0";
      default:
        return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/" +
               num(100, 130) + ".0.0.0 Safari/537.36";
    }
  });
  each("short-hex", [&]() -> std::string { return r.from(kHexLower, r.range(7, 12)); });
  each("order-number", [&]() -> std::string {
    switch (r.below(4)) {
      case 0:
        return "1" + r.digits(6);
      case 1:
        return "ORD-" + r.digits(7);
      case 2:
        return "#" + r.digits(6);
      default:
        return "INV-" + num(2015, 2030) + "-" + r.digits(5);
    }
  });
  each("header-token", [&]() -> std::string {
    constexpr std::array<std::string_view, 12> kTokens = {"gzip",
                                                          "keep-alive",
                                                          "no-cache",
                                                          "max-age=3600",
                                                          "text/html; charset=utf-8",
                                                          "application/json",
                                                          "en-US,en;q=0.9",
                                                          "br, gzip, deflate",
                                                          "Upgrade",
                                                          "h2c",
                                                          "no-store, must-revalidate",
                                                          "bytes=0-1023"};
    return std::string(r.pick(kTokens));
  });
  each("text", [&]() -> std::string {
    constexpr std::array<std::string_view, 10> kText = {
        "The quick brown fox jumps over the lazy dog.",
        "Token expired, please sign in again.",
        "The basic plan includes 12 seats and 3 projects.",
        "Bearer of this card is entitled to a discount.",
        "Your order has shipped and will arrive on Tuesday.",
        "Please contact support if the problem persists.",
        "Basic authentication is required for this resource.",
        "Internationalization and localization are hard.",
        "Page 2 of 10, showing items 11 to 20 of 97.",
        "Call me maybe, or send an email to the team."};
    return std::string(r.pick(kText));
  });
  each("css-colour", [&]() -> std::string {
    switch (r.below(3)) {
      case 0:
        return "#" + r.from(kHexLower, 6);
      case 1:
        return "#" + r.from("0123456789ABCDEF", 3);
      default:
        return "rgb(" + num(0, 255) + ", " + num(0, 255) + ", " + num(0, 255) + ")";
    }
  });
  each("file-path", [&]() -> std::string {
    constexpr std::array<std::string_view, 8> kPaths = {
        "/usr/local/lib/libhs.so.5",
        "C:\\Program Files\\App\\app.exe",
        "./src/main.cc",
        "/var/log/nginx/access.log",
        "/images/products/SKU-12345-XL/front_2024.jpg",
        "/home/user/projects/twin/build/CMakeCache.txt",
        "static/media/logo.8f3a2b1c.svg",
        "/etc/ssl/certs/ca-certificates.crt"};
    if (r.chance(3)) return "static/js/main." + r.from(kHexLower, 8) + ".chunk.js";
    if (r.chance(3)) {
      return "/api/v1/customers/" + r.digits(4) + "/orders/" + r.digits(7);
    }
    return std::string(r.pick(kPaths));
  });
  each("mime-type", [&]() -> std::string {
    constexpr std::array<std::string_view, 6> kTypes = {
        "application/vnd.api+json",
        "application/x-www-form-urlencoded",
        "image/svg+xml",
        "multipart/form-data; boundary=----WebKitFormBoundary",
        "text/plain;charset=UTF-8",
        "application/octet-stream"};
    if (r.chance(2)) {
      return "multipart/form-data; boundary=----WebKitFormBoundary" + r.from(kAlnum, 16);
    }
    return std::string(r.pick(kTypes));
  });
  each("semver-range", [&]() -> std::string {
    switch (r.below(3)) {
      case 0:
        return "^" + num(0, 9) + "." + num(0, 20) + "." + num(0, 9);
      case 1:
        return "~" + num(0, 9) + "." + num(0, 20) + ".0";
      default:
        return ">=" + num(1, 3) + ".0.0 <" + num(4, 6) + ".0.0";
    }
  });
  each("lat-long", [&]() -> std::string {
    const std::string lat = (r.chance(2) ? "-" : "") + num(0, 89) + "." + r.digits(4);
    const std::string lon = (r.chance(2) ? "-" : "") + num(0, 179) + "." + r.digits(4);
    return lat + (r.chance(2) ? "," : ", ") + lon;
  });
  each("zip-code", [&]() -> std::string {
    switch (r.below(4)) {
      case 0:
        return r.digits(5);
      case 1:
        return r.digits(5) + "-" + r.digits(4);
      case 2:
        return "SW1A " + num(1, 9) + "AA";
      default:
        return "75" + r.digits(3);
    }
  });
  each("identifier", [&]() -> std::string {
    constexpr std::array<std::string_view, 14> kIds = {
        "getUserAccountSettings2024",      "shipping_address_line2",
        "ERR_CONNECTION_REFUSED",          "payment_intent.succeeded",
        "customer_profile_2024_settings",  "x86_64-pc-linux-gnu",
        "MyApplicationV2Release2023",      "order-1000234-confirmation",
        "payment_intent_succeeded_v3",     "kubernetes-node-pool-3-abc12",
        "eu-west-1-production-cluster-07", "prod-db-replica-03-us-east-2",
        "userId12345profileView",          "thumbnail_300x200_v2_final"};
    return std::string(r.pick(kIds));
  });
  each("isbn", [&]() -> std::string {
    return "978-" + num(0, 9) + "-" + r.digits(2) + "-" + r.digits(6) + "-" + num(0, 9);
  });
  each("time", [&]() -> std::string {
    return two(0, 23) + ":" + two(0, 59) + (r.chance(2) ? ":" + two(0, 59) : "");
  });
  each("mac-address", [&]() -> std::string {
    std::string s = r.from(kHexLower, 2);
    for (int i = 0; i < 5; ++i) s += ":" + r.from(kHexLower, 2);
    return s;
  });
  each("email-like", [&]() -> std::string {
    constexpr std::array<std::string_view, 6> kLike = {
        "logo@2x.png",    "@media screen and (max-width: 600px)",
        "user@localhost", "@babel/core@7.23.0",
        "icon@3x.webp",   "npm i lodash@4.17.21"};
    return std::string(r.pick(kLike));
  });
  each("phone-like", [&]() -> std::string {
    switch (r.below(4)) {
      case 0:
        return nanp(r);  // bare ten digits: an id, not a phone
      case 1:
        return "0" + num(1, 9) + r.digits(8);
      case 2:
        return "1 2 3 4 5 6 7 8 9 10 11 12";
      default:
        return "123-456-7890";  // area code 1xx does not exist
    }
  });
  each("ip-like", [&]() -> std::string {
    switch (r.below(4)) {
      case 0:
        return "1.2.3.4." + num(5, 9);
      case 1:
        return num(256, 999) + "." + num(0, 255) + "." + num(0, 255) + "." + num(0, 255);
      case 2:
        return "0" + num(1, 9) + ".0" + num(1, 9) + ".0" + num(1, 9) + ".0" + num(1, 9);
      default:
        return "1.3.6.1.4.1." + num(100, 9999) + "." + num(1, 9);  // an OID
    }
  });
  each("card-like", [&]() -> std::string {
    switch (r.below(3)) {
      case 0:
        return "1" + r.digits(15);  // no issuer starts with 1
      case 1:
        return "4444 4444 4444 4444";  // one digit repeated
      default:
        return card(r, "4", 16).substr(0, 15) + std::string(1, "0123456789"[r.below(10)]) +
               r.digits(6);  // part of a longer digit run
    }
  });
  each("secret-like", [&]() -> std::string {
    switch (r.below(3)) {
      case 0:
        return "aaaaaaaaaaaaaaaaaaaaaaaa1";  // long but not random
      case 1:
        return "----WebKitFormBoundary" + r.from(kAlnum, 16);
      default:
        return r.from(kLower, 24);  // random letters, no digit
    }
  });
  return out;
}

}  // namespace detail

/// `per_format` values of every format of every content kind (kEmail … kUuid).
inline std::vector<LabelledValue> pii_values(uint64_t seed, size_t per_format) {
  return detail::make_pii_values(seed, per_format);
}

/// `per_category` look-alikes of every category: values that resemble personal data but are not.
/// Their kind is Kind::kNone and their span the whole text.
inline std::vector<LabelledValue> lookalikes(uint64_t seed, size_t per_category) {
  return detail::make_lookalikes(seed, per_category);
}

/// `s` as the body of a JSON string (without the quotes).
inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// `s` percent-encoded as in a query string: unreserved bytes kept, everything else %XX.
inline std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (detail::alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
      out += kHex[static_cast<unsigned char>(c) & 0xF];
    }
  }
  return out;
}

}  // namespace twin::scrubber::corpus
