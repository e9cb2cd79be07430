#include "twin/traffic/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "twin/traffic/exchange.h"
#include "twin/traffic/small_copy.h"

namespace twin::traffic {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------------------------
// UTF-8

const std::vector<std::string> kGoodUtf8 = {
    ""s,
    "hello"s,
    "\0"s,                // NUL is a character
    "\x7f"s,              // DEL
    "\xc2\x80"s,          // U+0080, smallest 2-byte
    "\xc3\xa9"s,          // é
    "\xdf\xbf"s,          // U+07FF
    "\xe0\xa0\x80"s,      // U+0800, smallest 3-byte
    "\xe2\x82\xac"s,      // €
    "\xed\x9f\xbf"s,      // U+D7FF, just below the surrogates
    "\xee\x80\x80"s,      // U+E000, just above them
    "\xef\xbf\xbf"s,      // U+FFFF
    "\xf0\x90\x80\x80"s,  // U+10000, smallest 4-byte
    "\xf0\x9f\x98\x80"s,  // 😀
    "\xf4\x8f\xbf\xbf"s,  // U+10FFFF, the last code point
    "caf\xc3\xa9 \xe2\x82\xac 1"s,
};

const std::vector<std::string> kBadUtf8 = {
    "\x80"s,                      // lone continuation
    "\xbf"s,                      // lone continuation
    "\xc0\x80"s,                  // overlong NUL
    "\xc1\xbf"s,                  // overlong
    "\xe0\x80\xaf"s,              // overlong '/'
    "\xe0\x9f\xbf"s,              // overlong U+07FF
    "\xf0\x8f\xbf\xbf"s,          // overlong U+FFFF
    "\xed\xa0\x80"s,              // U+D800 surrogate
    "\xed\xbf\xbf"s,              // U+DFFF surrogate
    "\xed\xa0\x80\xed\xb0\x80"s,  // surrogate pair as CESU-8
    "\xf4\x90\x80\x80"s,          // U+110000
    "\xf5\x80\x80\x80"s,          // lead byte past F4
    "\xf8\x88\x80\x80\x80"s,      // 5-byte form
    "\xfc\x84\x80\x80\x80\x80"s,  // 6-byte form
    "\xfe"s,
    "\xff"s,
    "\xc3"s,          // truncated 2-byte
    "\xe2\x82"s,      // truncated 3-byte
    "\xf0\x9f\x98"s,  // truncated 4-byte
    "\xe2\x82z"s,     // continuation missing before ASCII
    "\xc3\xa9\xa9"s,  // one continuation too many
};

TEST(TextUtf8, KnownGoodSequences) {
  for (const auto& s : kGoodUtf8) EXPECT_TRUE(is_valid_utf8(s)) << testing::PrintToString(s);
}

TEST(TextUtf8, KnownBadSequences) {
  for (const auto& s : kBadUtf8) EXPECT_FALSE(is_valid_utf8(s)) << testing::PrintToString(s);
}

// The ASCII fast path reads 8 bytes at a time: put each case at every offset around it.
TEST(TextUtf8, EveryOffsetAroundTheFastPath) {
  for (size_t offset = 0; offset <= 20; ++offset) {
    for (size_t tail = 0; tail <= 9; tail += 3) {
      const std::string before(offset, 'a');
      const std::string after(tail, 'b');
      for (const auto& s : kGoodUtf8) {
        EXPECT_TRUE(is_valid_utf8(before + s + after))
            << offset << " " << testing::PrintToString(s);
      }
      for (const auto& s : kBadUtf8) {
        EXPECT_FALSE(is_valid_utf8(before + s + after))
            << offset << " " << testing::PrintToString(s);
      }
    }
  }
}

// nlohmann's parser validates UTF-8 strictly: an independent oracle on random strings.
TEST(TextUtf8, AgreesWithJsonParserOnRandomStrings) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> pieces = {
      "a",        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xc3", "\xed\xa0",
      "\xf4\x90", "\xe0\x9f", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc0", "\xff"};
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const size_t n = rng() % 12;
    for (size_t i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    if (rng() % 4 == 0) s += static_cast<char>(0x80 | (rng() & 0x7f));
    ASSERT_EQ(is_valid_utf8(s), nlohmann::json::accept("\"" + s + "\""))
        << testing::PrintToString(s);
  }
}

TEST(TextUtf8, ToValidUtf8ReplacesMaximalSubparts) {
  EXPECT_EQ(to_valid_utf8("plain \xc3\xa9"), "plain \xc3\xa9");
  EXPECT_EQ(to_valid_utf8("a\xff"
                          "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(to_valid_utf8("\xe2\x82"), "\xef\xbf\xbd");  // one truncated sequence, one U+FFFD
  EXPECT_EQ(to_valid_utf8("\xe2\x82z"), "\xef\xbf\xbdz");
  EXPECT_EQ(to_valid_utf8("\xf0\x9f\x98"), "\xef\xbf\xbd");
  // A surrogate is three bad bytes (ED is only valid with 80..9F next).
  EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(to_valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
  for (const auto& s : kBadUtf8) EXPECT_TRUE(is_valid_utf8(to_valid_utf8(s)));
}

// ---------------------------------------------------------------------------------------------
// base64

TEST(TextBase64, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
}

TEST(TextBase64, AllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string encoded = base64_encode(all);
  EXPECT_EQ(encoded.substr(0, 8), "AAECAwQF");
  EXPECT_EQ(encoded.substr(encoded.size() - 8), "/P3+/w==");
  EXPECT_EQ(base64_decode(encoded), all);
}

TEST(TextBase64, RoundTripsRandomBytesOfEveryLength) {
  std::mt19937_64 rng(7);
  for (size_t n = 0; n <= 300; ++n) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const std::string encoded = base64_encode(bytes);
    ASSERT_EQ(encoded.size(), (n + 2) / 3 * 4);
    ASSERT_EQ(base64_decode(encoded), bytes) << n;
  }
}

TEST(TextBase64, DecodeToleratesMissingPaddingAndWhitespace) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy"), "foobar");
  EXPECT_EQ(base64_decode(" Zm 9v\t"), "foo");
  EXPECT_EQ(base64_decode("Zg=\n="), "f");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("  \n"), "");
}

TEST(TextBase64, DecodeRejectsEverythingElse) {
  for (const char* bad : {"Z", "Zm9vY", "Zg=", "Zm9v=", "Zg===", "Zm8==", "====", "Zg==Zg==",
                          "Zm9v!", "Zg-_", "Zm9v\x80", "Z\0g="}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(base64_decode(std::string("Zm\0v", 4)).has_value());
}

// ---------------------------------------------------------------------------------------------
// RFC 3339

constexpr int64_t kSecond = 1'000'000'000;

TEST(TextRfc3339, FormatsKnownInstants) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(0, 3), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1), "1970-01-01T00:00:00.000000001Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(format_rfc3339(-1, 3), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(1709208000 * kSecond + 123456789), "2024-02-29T12:00:00.123456789Z");
  EXPECT_EQ(format_rfc3339(1709208000 * kSecond + 123456789, 6), "2024-02-29T12:00:00.123456Z");
  EXPECT_EQ(format_rfc3339(1709208000 * kSecond + 999999999, 3), "2024-02-29T12:00:00.999Z");
  EXPECT_EQ(format_rfc3339(951782400 * kSecond, 0), "2000-02-29T00:00:00Z");
  EXPECT_EQ(format_rfc3339(4107542400 * kSecond, 0), "2100-03-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(2147483648 * kSecond, 0), "2038-01-19T03:14:08Z");
  EXPECT_EQ(format_rfc3339(-14182940 * kSecond, 0), "1969-07-20T20:17:40Z");
  EXPECT_EQ(format_rfc3339(std::numeric_limits<int64_t>::max()), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(format_rfc3339(std::numeric_limits<int64_t>::min() + 1),
            "1677-09-21T00:12:43.145224193Z");
  EXPECT_EQ(format_rfc3339(kNoTime), "1677-09-21T00:12:43.145224192Z");  // no UB, just a date
}

TEST(TextRfc3339, OddDigitCountsRoundUpToAnAllowedPrecision) {
  EXPECT_EQ(format_rfc3339(5, -3), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(123456789, 2), "1970-01-01T00:00:00.123Z");
  EXPECT_EQ(format_rfc3339(123456789, 12), "1970-01-01T00:00:00.123456789Z");
}

TEST(TextRfc3339, ParsesKnownInstants) {
  const int64_t t = 1709633472 * kSecond;  // 2024-03-05T10:11:12Z
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00.000000000Z"), 0);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12Z"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.345Z"), t + 345'000'000);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.5Z"), t + 500'000'000);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.123456789Z"), t + 123456789);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.1234567891234Z"), t + 123456789);  // truncated
  EXPECT_EQ(parse_rfc3339("2024-03-05t10:11:12z"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05 10:11:12Z"), t);
  EXPECT_EQ(parse_rfc3339("2024-02-29T12:00:00Z"), 1709208000 * kSecond);
  EXPECT_EQ(parse_rfc3339("2038-01-19T03:14:08Z"), 2147483648 * kSecond);
  EXPECT_EQ(parse_rfc3339("1969-07-20T20:17:40Z"), -14182940 * kSecond);
  EXPECT_EQ(parse_rfc3339("2262-04-11T23:47:16.854775807Z"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parse_rfc3339("1677-09-21T00:12:43.145224193Z"),
            std::numeric_limits<int64_t>::min() + 1);
  // A leap second lands on the next minute.
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z"), 1483228800 * kSecond);
}

TEST(TextRfc3339, ParsesOffsets) {
  const int64_t t = 1709633472 * kSecond + 345'000'000;  // 2024-03-05T10:11:12.345Z
  EXPECT_EQ(parse_rfc3339("2024-03-05T11:11:12.345+01:00"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T11:11:12.345+0100"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T11:11:12.345+01"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T05:11:12.345-0500"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T05:11:12.345-05:00"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.345+00:00"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T10:11:12.345-00:00"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-05T15:41:12.345+05:30"), t);
  EXPECT_EQ(parse_rfc3339("2024-03-04T23:11:12.345-11:00"), t);  // the day before
}

TEST(TextRfc3339, RejectsGarbage) {
  for (const char* bad :
       {"",
        "2024",
        "2024-03-05",
        "2024-03-05T10:11Z",
        "2024-03-05T10:11:12",
        "24-03-05T10:11:12Z",
        "2024-3-05T10:11:12Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:61Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00Z ",
        " 2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00+25:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00+1",
        "2024-01-01T00:00:00+01:0",
        "2024-01-01X00:00:00Z",
        "2024-01-01T00:00:00.12a3Z",
        "\xff\xfe",
        "9999-12-31T23:59:59Z",  // past int64
        "1600-01-01T00:00:00Z",
        "2262-04-11T23:47:16.854775808Z",
        "1677-09-21T00:12:43.145224192Z"}) {  // INT64_MIN is reserved for "unknown"
    EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
  }
}

TEST(TextRfc3339, RoundTripsRandomInstants) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 100000; ++i) {
    auto t = static_cast<int64_t>(rng());
    if (t == kNoTime) continue;
    ASSERT_EQ(parse_rfc3339(format_rfc3339(t)), t) << format_rfc3339(t);
    // Milliseconds truncate toward the past.
    const int64_t ms = parse_rfc3339(format_rfc3339(t, 3)).value_or(0);
    ASSERT_LE(ms, t);
    ASSERT_GT(ms, t - 1'000'000);
  }
}

// ---------------------------------------------------------------------------------------------
// small_copy.h

// copy_small and equal_small against memcpy and ==, at every length up to past their memcpy and
// memcmp cut-offs, with a one-bit difference at every position (the word compares overlap at
// the end, so the last bytes are where a wrong bound would hide a difference).
TEST(SmallCopy, CopiesAndComparesLikeMemcpyAndEquals) {
  std::mt19937_64 rng(11);
  for (size_t n = 0; n <= 80; ++n) {
    std::string a(n, '\0');
    for (char& c : a) c = static_cast<char>(rng());
    std::string copy(n + 2, '#');
    copy_small(copy.data() + 1, a.data(), n);
    ASSERT_EQ(copy.substr(1, n), a) << n;
    ASSERT_EQ(copy.front(), '#') << n;
    ASSERT_EQ(copy.back(), '#') << n;
    ASSERT_TRUE(equal_small(a, a.substr())) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = static_cast<char>(b[i] ^ (1 << (rng() % 8)));
      ASSERT_FALSE(equal_small(a, b)) << n << " " << i;
    }
    ASSERT_FALSE(equal_small(a, a + "x")) << n;
  }
}

}  // namespace
}  // namespace twin::traffic
