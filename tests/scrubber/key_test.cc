#include "twin/scrubber/key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "files.h"

namespace twin::scrubber {
namespace {

using testing::HasSubstr;
using testing::Not;

constexpr const char* kHexSecret =
    "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

TEST(KeyTest, FromFileHashesTrimmedContent) {
  test::TempDir dir;
  const std::string path = dir.file("twin.key");
  test::spit(path, std::string(kHexSecret) + "\n");
  auto key = Key::from_file(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, Key::from_material(kHexSecret));
  // Trailing whitespace of any kind does not change the key; leading whitespace does.
  test::spit(path, std::string(kHexSecret) + " \t\r\n\n");
  auto same = Key::from_file(path);
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *key);
  test::spit(path, std::string(" ") + kHexSecret);
  auto other = Key::from_file(path);
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *key);
}

TEST(KeyTest, FromFileAcceptsLongBinarySecrets) {
  test::TempDir dir;
  const std::string path = dir.file("binary.key");
  std::string secret;
  for (int i = 0; i < 5000; ++i) secret += static_cast<char>(i * 37 % 256);
  secret += 'x';  // not whitespace at the end
  test::spit(path, secret);
  auto key = Key::from_file(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, Key::from_material(secret));
}

TEST(KeyTest, ShortFileIsRejectedWithoutShowingContent) {
  test::TempDir dir;
  const std::string path = dir.file("short.key");
  const std::string secret = "hunter2-is-not-a-key";  // 20 bytes
  test::spit(path, secret + "            \n");        // padding is trimmed, still short
  auto key = Key::from_file(path);
  ASSERT_FALSE(key);
  EXPECT_THAT(key.error().message, HasSubstr(path));
  EXPECT_THAT(key.error().message, HasSubstr("too short"));
  EXPECT_THAT(key.error().message, Not(HasSubstr("hunter2")));
  EXPECT_THAT(key.error().message, Not(HasSubstr(secret)));

  // Exactly 31 bytes fails, 32 passes.
  test::spit(path, std::string(31, 'k'));
  EXPECT_FALSE(Key::from_file(path));
  test::spit(path, std::string(32, 'k'));
  EXPECT_TRUE(Key::from_file(path));
  test::spit(path, "");
  EXPECT_FALSE(Key::from_file(path));
}

TEST(KeyTest, MissingFileIsNamed) {
  test::TempDir dir;
  const std::string path = dir.file("absent.key");
  auto key = Key::from_file(path);
  ASSERT_FALSE(key);
  EXPECT_THAT(key.error().message, HasSubstr(path));
  EXPECT_THAT(key.error().message, HasSubstr("cannot open"));
  // A directory is not a key file either.
  EXPECT_FALSE(Key::from_file(dir.path()));
}

TEST(KeyTest, FromEnvFollowsTheSameRules) {
  const char* name = "TWIN_SCRUBBER_KEY_TEST_VAR";
  unsetenv(name);
  auto unset = Key::from_env(name);
  ASSERT_FALSE(unset);
  EXPECT_THAT(unset.error().message, HasSubstr(name));
  EXPECT_THAT(unset.error().message, HasSubstr("not set"));

  setenv(name, "short-secret-value", 1);
  auto short_key = Key::from_env(name);
  ASSERT_FALSE(short_key);
  EXPECT_THAT(short_key.error().message, HasSubstr(name));
  EXPECT_THAT(short_key.error().message, Not(HasSubstr("short-secret-value")));

  setenv(name, (std::string(kHexSecret) + "\n").c_str(), 1);
  auto key = Key::from_env(name);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, Key::from_material(kHexSecret));
  unsetenv(name);
}

TEST(KeyTest, FromMaterialIsSha256) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  const Key key = Key::from_material("abc");
  const std::array<uint8_t, 32> expected = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                            0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                            0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                            0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  EXPECT_EQ(key.bytes(), expected);
}

TEST(KeyTest, DeriveIsDeterministicAndIndependent) {
  // Deterministic, and separated by purpose and by key.
  const Key key = Key::from_material(kHexSecret);
  const Key token = key.derive("token");
  EXPECT_EQ(token, key.derive("token"));
  std::set<std::array<uint8_t, 32>> seen = {key.bytes()};
  for (const char* purpose : {"token", "ff1", "shift", "noise", "ip", ""}) {
    EXPECT_TRUE(seen.insert(key.derive(purpose).bytes()).second) << purpose;
  }
  EXPECT_NE(Key::from_material("another secret, also long enough").derive("token"), token);
  // Deriving twice is not the same as deriving once.
  EXPECT_NE(token.derive("token"), token);
}

TEST(KeyTest, DeriveAndFingerprintMatchKnownHmac) {
  // Key = SHA-256("abc"); expected values from Python's hmac module: HMAC-SHA256(key, "token")
  // and the first four bytes of HMAC-SHA256(key, "twin key fingerprint").
  const Key key = Key::from_material("abc");
  const std::array<uint8_t, 32> expected = {0x3f, 0x95, 0x5d, 0xd2, 0x54, 0xdb, 0xd5, 0x21,
                                            0x2c, 0x22, 0x96, 0x31, 0x35, 0x36, 0x9c, 0x56,
                                            0x0a, 0x95, 0x94, 0x46, 0x64, 0x32, 0x85, 0xc2,
                                            0xbc, 0xcf, 0x03, 0xf7, 0xe7, 0x2f, 0x11, 0x9d};
  EXPECT_EQ(key.derive("token").bytes(), expected);
  EXPECT_EQ(key.fingerprint(), "7216a690");
}

TEST(KeyTest, FingerprintIsStableEightHexDigits) {
  const Key key = Key::from_material(kHexSecret);
  const std::string fp = key.fingerprint();
  ASSERT_EQ(fp.size(), 8u);
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(fp, Key::from_material(kHexSecret).fingerprint());
  EXPECT_NE(fp, Key::from_material("some other secret of enough length").fingerprint());
  // It shows nothing of the key's own bytes.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string prefix;
  for (int i = 0; i < 4; ++i) {
    prefix += kHex[key.bytes()[static_cast<size_t>(i)] >> 4];
    prefix += kHex[key.bytes()[static_cast<size_t>(i)] & 15];
  }
  EXPECT_NE(fp, prefix);
}

TEST(KeyTest, EphemeralKeysDiffer) {
  const Key a = Key::ephemeral();
  const Key b = Key::ephemeral();
  EXPECT_NE(a, b);
  EXPECT_NE(a, Key{});
}

}  // namespace
}  // namespace twin::scrubber
