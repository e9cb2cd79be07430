#include "twin/traffic/content_coding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "files.h"

namespace twin::traffic {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string text_bytes(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"email\":\"user" + std::to_string(i * 7919 % 1000) +
         "@example.com\",\"active\":true},\n";
  }
  s.resize(n);
  return s;
}

std::string encoded(Coding c, std::string_view in) {
  std::string out;
  const Result<void> r = encode(c, in, out);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return out;
}

Result<std::string> decoded(Coding c, std::string_view in, size_t max_out = 64u << 20) {
  std::string out;
  const Result<void> r = decode(c, in, max_out, out);
  if (!r) return tl::unexpected(r.error());
  return out;
}

std::string name_of(Coding c) { return std::string(coding_name(c)); }

constexpr Coding kAll[] = {Coding::kIdentity, Coding::kGzip, Coding::kDeflate, Coding::kBrotli,
                           Coding::kZstd};
constexpr Coding kCompressing[] = {Coding::kGzip, Coding::kDeflate, Coding::kBrotli, Coding::kZstd};

bool has_tool(const char* name) {
  return std::system(("command -v " + std::string(name) + " >/dev/null 2>&1").c_str()) == 0;
}

TEST(ContentEncoding, Parses) {
  auto r = parse_content_encoding("gzip");
  ASSERT_TRUE(r);
  EXPECT_THAT(*r, ElementsAre(Coding::kGzip));
  r = parse_content_encoding(" X-GZip ,\tbr,deflate , identity");
  ASSERT_TRUE(r);
  EXPECT_THAT(*r, ElementsAre(Coding::kGzip, Coding::kBrotli, Coding::kDeflate, Coding::kIdentity));
  r = parse_content_encoding("");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  r = parse_content_encoding("gzip,, ,BR");
  ASSERT_TRUE(r);
  EXPECT_THAT(*r, ElementsAre(Coding::kGzip, Coding::kBrotli));
  r = parse_content_encoding("gzip, compress");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("'compress'"));
  r = parse_content_encoding("ZStd, gzip");
  ASSERT_TRUE(r);
  EXPECT_THAT(*r, ElementsAre(Coding::kZstd, Coding::kGzip));
  r = parse_content_encoding("dcz");  // a dictionary-compressed stream: needs its dictionary
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("'dcz'"));
  for (const Coding c : kAll) {
    r = parse_content_encoding(coding_name(c));
    ASSERT_TRUE(r) << name_of(c);
    EXPECT_THAT(*r, ElementsAre(c));
  }
}

TEST(Codec, RoundTrips) {
  const std::vector<std::string> inputs = {"",
                                           "a",
                                           "hello, world",
                                           text_bytes(100000),
                                           random_bytes(200000, 1),
                                           std::string(1u << 20, 'z')};
  for (const Coding c : kAll) {
    for (const std::string& in : inputs) {
      SCOPED_TRACE(std::string(name_of(c)) + " " + std::to_string(in.size()));
      const std::string enc = encoded(c, in);
      if (c != Coding::kIdentity && in.size() > 1000 && in[0] == 'z') {
        EXPECT_LT(enc.size(), in.size() / 100);
      }
      const auto dec = decoded(c, enc);
      ASSERT_TRUE(dec) << dec.error().message;
      EXPECT_EQ(*dec, in);
    }
  }
}

TEST(Codec, AppendsAndKeepsOutOnFailure) {
  std::string out = "prefix:";
  ASSERT_TRUE(decode(Coding::kGzip, encoded(Coding::kGzip, "body"), 100, out));
  EXPECT_EQ(out, "prefix:body");
  ASSERT_FALSE(decode(Coding::kGzip, "not gzip at all", 100, out));
  EXPECT_EQ(out, "prefix:body");
  out = "p";
  ASSERT_TRUE(encode(Coding::kBrotli, "x", out));
  EXPECT_EQ(out.substr(0, 1), "p");
  EXPECT_EQ(*decoded(Coding::kBrotli, out.substr(1)), "x");
}

TEST(Codec, GzipInteropWithTheCommandLineTool) {
  if (!has_tool("gzip")) GTEST_SKIP() << "gzip is not installed";
  test::TempDir dir;
  const std::string plain = text_bytes(300000);
  test::spit(dir.file("a.txt"), plain);
  test::spit(dir.file("b.txt"), "second member\n");
  // gzip(1) output, single and concatenated members, decoded by us.
  ASSERT_EQ(std::system(("gzip -c -9 " + dir.file("a.txt") + " > " + dir.file("a.gz")).c_str()), 0);
  ASSERT_EQ(std::system(("gzip -c -1 " + dir.file("b.txt") + " > " + dir.file("b.gz")).c_str()), 0);
  ASSERT_EQ(
      std::system(
          ("cat " + dir.file("a.gz") + " " + dir.file("b.gz") + " > " + dir.file("ab.gz")).c_str()),
      0);
  auto dec = decoded(Coding::kGzip, test::slurp(dir.file("a.gz")));
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, plain);
  dec = decoded(Coding::kGzip, test::slurp(dir.file("ab.gz")));
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, plain + "second member\n");
  // Ours, decoded by gzip(1).
  test::spit(dir.file("ours.gz"), encoded(Coding::kGzip, plain));
  ASSERT_EQ(std::system(("gzip -dc " + dir.file("ours.gz") + " > " + dir.file("ours.txt")).c_str()),
            0);
  EXPECT_EQ(test::slurp(dir.file("ours.txt")), plain);
}

TEST(Codec, BrotliInteropWithTheCommandLineTool) {
  if (!has_tool("brotli")) GTEST_SKIP() << "the brotli command-line tool is not installed";
  test::TempDir dir;
  const std::string plain = text_bytes(300000);
  test::spit(dir.file("a.txt"), plain);
  ASSERT_EQ(std::system(("brotli -c " + dir.file("a.txt") + " > " + dir.file("a.br")).c_str()), 0);
  const auto dec = decoded(Coding::kBrotli, test::slurp(dir.file("a.br")));
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, plain);
  test::spit(dir.file("ours.br"), encoded(Coding::kBrotli, plain));
  ASSERT_EQ(
      std::system(("brotli -dc " + dir.file("ours.br") + " > " + dir.file("ours.txt")).c_str()), 0);
  EXPECT_EQ(test::slurp(dir.file("ours.txt")), plain);
}

TEST(Codec, DeflateZlibWrappedAndRaw) {
  for (const std::string& plain : {std::string("x"), text_bytes(50000), random_bytes(5000, 3)}) {
    const std::string wrapped = encoded(Coding::kDeflate, plain);
    ASSERT_GE(wrapped.size(), 6u);
    EXPECT_EQ(
        (static_cast<unsigned char>(wrapped[0]) * 256 + static_cast<unsigned char>(wrapped[1])) %
            31,
        0);
    // Raw deflate is the zlib stream without its 2-byte header and 4-byte Adler-32 trailer.
    const std::string raw = wrapped.substr(2, wrapped.size() - 6);
    auto dec = decoded(Coding::kDeflate, wrapped);
    ASSERT_TRUE(dec) << dec.error().message;
    EXPECT_EQ(*dec, plain);
    dec = decoded(Coding::kDeflate, raw);
    ASSERT_TRUE(dec) << dec.error().message;
    EXPECT_EQ(*dec, plain);
  }
  // A gzip stream is not deflate.
  const auto bad = decoded(Coding::kDeflate, encoded(Coding::kGzip, "hello"));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, StartsWith("deflate: "));
}

TEST(Codec, ConcatenatedGzipMembersAndPadding) {
  const std::string a = text_bytes(70000);
  const std::string b = "b";
  const std::string c = random_bytes(1000, 9);
  const std::string gz = encoded(Coding::kGzip, a) + encoded(Coding::kGzip, b) +
                         encoded(Coding::kGzip, "") + encoded(Coding::kGzip, c);
  auto dec = decoded(Coding::kGzip, gz);
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, a + b + c);
  dec = decoded(Coding::kGzip, gz + std::string(100, '\0'));
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, a + b + c);
  dec = decoded(Coding::kGzip, gz + "junk");
  ASSERT_FALSE(dec);
  EXPECT_EQ(dec.error().message,
            "gzip: trailing data at input offset " + std::to_string(gz.size()));
  // A second member cut short is truncation.
  dec = decoded(Coding::kGzip, gz + encoded(Coding::kGzip, "more").substr(0, 12));
  ASSERT_FALSE(dec);
  EXPECT_THAT(dec.error().message, StartsWith("gzip: truncated"));
  // Trailing bytes after deflate and br streams are errors too.
  EXPECT_FALSE(decoded(Coding::kDeflate, encoded(Coding::kDeflate, a) + "x"));
  const auto br = decoded(Coding::kBrotli, encoded(Coding::kBrotli, a) + "x");
  ASSERT_FALSE(br);
  EXPECT_THAT(br.error().message, StartsWith("br: trailing data at input offset"));
}

TEST(Codec, TruncationAtEveryOffsetIsACleanError) {
  const std::string plain = text_bytes(20000) + random_bytes(3000, 5);
  for (const Coding c : kCompressing) {
    const std::string enc = encoded(c, plain);
    for (size_t len = 0; len < enc.size(); ++len) {
      const auto dec = decoded(c, std::string_view(enc).substr(0, len));
      ASSERT_FALSE(dec) << name_of(c) << " cut at " << len;
      ASSERT_THAT(dec.error().message, StartsWith(std::string(name_of(c)) + ": ")) << len;
      if (c != Coding::kDeflate) {  // a cut deflate stream may also read as a raw one
        ASSERT_THAT(dec.error().message, HasSubstr("truncated")) << name_of(c) << " " << len;
      }
    }
  }
  const auto br = decoded(Coding::kBrotli, "");
  ASSERT_FALSE(br);
  EXPECT_EQ(br.error().message, "br: truncated at input offset 0");
  const auto gz = decoded(Coding::kGzip, "");
  ASSERT_FALSE(gz);
  EXPECT_EQ(gz.error().message, "gzip: truncated at input offset 0");
  const auto zst = decoded(Coding::kZstd, "");
  ASSERT_FALSE(zst);
  EXPECT_EQ(zst.error().message, "zstd: truncated at input offset 0");
}

TEST(Codec, CorruptionAtManyOffsetsNeverCrashes) {
  const std::string plain = text_bytes(20000);
  std::mt19937 rng(11);
  for (const Coding c : kCompressing) {
    const std::string enc = encoded(c, plain);
    size_t failures = 0;
    for (size_t at = 0; at < enc.size(); ++at) {
      std::string bad = enc;
      bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
      const auto dec = decoded(c, bad, 1u << 20);
      if (dec) continue;  // e.g. the gzip header's time stamp or OS byte
      ++failures;
      ASSERT_THAT(dec.error().message, StartsWith(std::string(name_of(c)) + ": "));
      ASSERT_LT(dec.error().message.size(), 200u);
    }
    EXPECT_GT(failures, enc.size() * 9 / 10) << name_of(c);
  }
  // The message names the place.
  std::string bad = encoded(Coding::kGzip, plain);
  bad[bad.size() - 6] = static_cast<char>(bad[bad.size() - 6] ^ 0x55);  // the CRC-32
  const auto dec = decoded(Coding::kGzip, bad);
  ASSERT_FALSE(dec);
  EXPECT_THAT(dec.error().message, StartsWith("gzip: corrupt data at input offset "));
  EXPECT_THAT(dec.error().message, HasSubstr("incorrect data check"));
}

TEST(Codec, ZstdInteropWithTheCommandLineTool) {
  if (!has_tool("zstd")) GTEST_SKIP() << "the zstd command-line tool is not installed";
  test::TempDir dir;
  const std::string plain = text_bytes(300000);
  test::spit(dir.file("a.txt"), plain);
  test::spit(dir.file("b.txt"), "second frame\n");
  // zstd(1) output (with and without a checksum, and streamed from a pipe, which leaves the
  // content size out of the frame header), single and concatenated frames, decoded by us.
  const std::string a = dir.file("a.txt");
  ASSERT_EQ(std::system(("zstd -q -19 -c " + a + " > " + dir.file("a1.zst")).c_str()), 0);
  ASSERT_EQ(std::system(("zstd -q -1 --no-check -c " + a + " > " + dir.file("a2.zst")).c_str()), 0);
  ASSERT_EQ(std::system(("cat " + a + " | zstd -q -c > " + dir.file("a3.zst")).c_str()), 0);
  ASSERT_EQ(std::system(("zstd -q -c " + dir.file("b.txt") + " > " + dir.file("b.zst")).c_str()),
            0);
  for (const char* name : {"a1.zst", "a2.zst", "a3.zst"}) {
    const auto dec = decoded(Coding::kZstd, test::slurp(dir.file(name)));
    ASSERT_TRUE(dec) << name << ": " << dec.error().message;
    EXPECT_EQ(*dec, plain) << name;
  }
  const auto two =
      decoded(Coding::kZstd, test::slurp(dir.file("a1.zst")) + test::slurp(dir.file("b.zst")));
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(*two, plain + "second frame\n");
  // Ours, decoded by zstd(1), which checks the checksum ours carries.
  test::spit(dir.file("ours.zst"), encoded(Coding::kZstd, plain));
  ASSERT_EQ(
      std::system(("zstd -q -d -c " + dir.file("ours.zst") + " > " + dir.file("ours.txt")).c_str()),
      0);
  EXPECT_EQ(test::slurp(dir.file("ours.txt")), plain);
  ASSERT_EQ(
      std::system(("zstd -lv " + dir.file("ours.zst") + " 2>&1 | grep -q 'Check: XXH64'").c_str()),
      0);
}

TEST(Codec, ZstdFramesSkippableFramesAndTrailingBytes) {
  const std::string a = text_bytes(50000);
  const std::string b = random_bytes(3000, 4);
  // A skippable frame (magic 0x184D2A50..5F, little-endian, then a 4-byte length) carries
  // metadata a decoder steps over.
  std::string skippable = {'\x50', '\x2a', '\x4d', '\x18', '\x05', '\0', '\0', '\0'};
  skippable += "meta!";
  const std::string zst = encoded(Coding::kZstd, a) + skippable + encoded(Coding::kZstd, b) +
                          encoded(Coding::kZstd, "");
  auto dec = decoded(Coding::kZstd, zst);
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, a + b);
  dec = decoded(Coding::kZstd, skippable + encoded(Coding::kZstd, a));
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, a);
  // Bytes after the last frame are not a frame.
  dec = decoded(Coding::kZstd, zst + "junk");
  ASSERT_FALSE(dec);
  EXPECT_THAT(dec.error().message, StartsWith("zstd: "));
  // A second frame cut short is truncation.
  const std::string more = encoded(Coding::kZstd, text_bytes(1000));
  dec = decoded(Coding::kZstd, zst + more.substr(0, more.size() / 2));
  ASSERT_FALSE(dec);
  EXPECT_THAT(dec.error().message, StartsWith("zstd: truncated at input offset "));
}

TEST(Codec, ZstdWindowIsBoundedByTheOutputCap) {
  if (!has_tool("zstd")) GTEST_SKIP() << "the zstd command-line tool is not installed";
  // Streamed from a pipe with a 64 MiB window (--long=26): the frame asks for that window
  // although it decodes to a few MiB. Within a cap of 64 MiB it is read; under a cap of
  // 4 MiB — memory the frame may not make twin hold — it is refused, before any output.
  test::TempDir dir;
  const std::string plain = random_bytes(1u << 20, 8) + random_bytes(1u << 20, 8);
  test::spit(dir.file("p"), plain);
  ASSERT_EQ(
      std::system(
          ("cat " + dir.file("p") + " | zstd -q --long=26 -c > " + dir.file("w.zst")).c_str()),
      0);
  const std::string wide = test::slurp(dir.file("w.zst"));
  auto dec = decoded(Coding::kZstd, wide, 64u << 20);
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(*dec, plain);
  std::string out = "kept";
  const Result<void> r = decode(Coding::kZstd, wide, 4u << 20, out);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, StartsWith("zstd: corrupt data at input offset "));
  EXPECT_THAT(r.error().message, HasSubstr("too much memory"));
  EXPECT_EQ(out, "kept");
  // Ours keeps its window within 8 MiB whatever the size (RFC 8878 §3.1.1.1.2): the frame
  // header (RFC 8878 §3.1.1.1) of 20 MiB is not one segment, and its window descriptor says
  // at most 8 MiB.
  const std::string big = random_bytes(20u << 20, 9);
  const std::string ours = encoded(Coding::kZstd, big);
  ASSERT_GT(ours.size(), 6u);
  const auto descriptor = static_cast<unsigned char>(ours[4]);
  EXPECT_EQ(descriptor & 0x20, 0) << "single segment";
  const auto window = static_cast<unsigned char>(ours[5]);
  const uint64_t base = uint64_t{1} << (10 + (window >> 3));
  EXPECT_LE(base + base / 8 * (window & 7), uint64_t{8} << 20);
  dec = decoded(Coding::kZstd, ours, big.size());
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_TRUE(*dec == big);
}

TEST(Codec, DecodeAllUndoesAStackInReverse) {
  const std::string plain = text_bytes(40000);
  // "gzip, br": gzip applied first, then br; undone br first.
  std::string gz = encoded(Coding::kGzip, plain);
  std::string stacked = encoded(Coding::kBrotli, gz);
  std::string out = "p:";
  ASSERT_TRUE(decode_all({Coding::kGzip, Coding::kBrotli}, stacked, 1u << 20, out));
  EXPECT_EQ(out, "p:" + plain);
  // In the wrong order it fails, and `out` is as it was.
  const Result<void> r = decode_all({Coding::kBrotli, Coding::kGzip}, stacked, 1u << 20, out);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, StartsWith("gzip: "));
  EXPECT_EQ(out, "p:" + plain);
  // Each step is held to the cap; identity and no coding at all copy.
  out.clear();
  EXPECT_FALSE(decode_all({Coding::kGzip, Coding::kBrotli}, stacked, gz.size() - 1, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(decode_all({Coding::kIdentity, Coding::kZstd}, encoded(Coding::kZstd, plain),
                         plain.size(), out));
  EXPECT_EQ(out, plain);
  out.clear();
  ASSERT_TRUE(decode_all({}, plain, plain.size(), out));
  EXPECT_EQ(out, plain);
  EXPECT_FALSE(decode_all({}, plain, plain.size() - 1, out));
}

TEST(Codec, DecompressionBombIsCapped) {
  const std::string zeros(32u << 20, '\0');
  for (const Coding c : kCompressing) {
    const std::string bomb = encoded(c, zeros);
    EXPECT_LT(bomb.size(), 64u << 10);  // a ratio over 500:1
    std::string out = "kept";
    const Result<void> r = decode(c, bomb, 1u << 20, out);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, std::string(name_of(c)) + ": output exceeds 1048576 bytes");
    EXPECT_EQ(out, "kept");
  }
  // The cap is exact: max_out bytes pass, one fewer does not.
  const std::string plain = text_bytes(123457);
  for (const Coding c : kAll) {
    const std::string enc = encoded(c, plain);
    EXPECT_TRUE(decoded(c, enc, plain.size())) << name_of(c);
    const auto r = decoded(c, enc, plain.size() - 1);
    ASSERT_FALSE(r) << name_of(c);
    EXPECT_THAT(r.error().message, HasSubstr("output exceeds 123456 bytes"));
    EXPECT_FALSE(decoded(c, enc, 0));
  }
}

}  // namespace
}  // namespace twin::traffic
