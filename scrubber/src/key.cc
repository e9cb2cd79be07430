#include "twin/scrubber/key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace twin::scrubber {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\f\v";

// Wipes a buffer that held secret material before it is released.
struct Wipe {
  std::string& s;
  ~Wipe() {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  }
};

std::string_view trim_trailing(std::string_view s) {
  const size_t end = s.find_last_not_of(kWhitespace);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

// The shared rule for a file or a variable: trimmed content of at least 32 bytes. `where` names
// the source for the error; the content never appears in it.
Result<Key> from_secret(std::string_view content, const std::string& where) {
  const std::string_view trimmed = trim_trailing(content);
  if (trimmed.size() < Key::kSize) {
    return fail(where + ": key is too short (" + std::to_string(trimmed.size()) +
                " bytes after trimming trailing whitespace, at least " +
                std::to_string(Key::kSize) + " needed; `openssl rand -hex 32` writes a good one)");
  }
  return Key::from_material(trimmed);
}

struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

}  // namespace

Result<Key> Key::from_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileClose> file(std::fopen(path.c_str(), "rb"));
  if (!file) return fail(path + ": cannot open key file: " + std::strerror(errno));
  std::string content;
  content.reserve(4096);  // a key file fits: no reallocation leaves copies behind
  Wipe wipe{content};
  char buffer[4096];
  for (;;) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), file.get());
    content.append(buffer, n);
    if (n < sizeof(buffer)) break;
    if (content.size() > (1u << 20)) {
      OPENSSL_cleanse(buffer, sizeof(buffer));
      return fail(path + ": key file is larger than 1 MiB");
    }
  }
  const bool read_error = std::ferror(file.get()) != 0;
  OPENSSL_cleanse(buffer, sizeof(buffer));
  if (read_error) return fail(path + ": cannot read key file");
  return from_secret(content, path);
}

Result<Key> Key::from_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return fail("environment variable " + name + " is not set");
  return from_secret(value, "environment variable " + name);
}

Key Key::ephemeral() {
  Key key;
  // Start-up only: a machine without a working random source cannot scrub safely.
  if (RAND_bytes(key.bytes_.data(), static_cast<int>(key.bytes_.size())) != 1) {
    throw std::runtime_error("cannot draw a random key: OpenSSL RAND_bytes failed");
  }
  return key;
}

Key Key::from_material(std::string_view material) {
  Key key;
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(),
         key.bytes_.data());
  return key;
}

Key Key::derive(std::string_view purpose) const {
  Key key;
  unsigned int length = 0;
  HMAC(EVP_sha256(), bytes_.data(), static_cast<int>(bytes_.size()),
       reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(), key.bytes_.data(),
       &length);
  return key;
}

std::string Key::fingerprint() const {
  const Key mac = derive("twin key fingerprint");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(8, '0');
  for (size_t i = 0; i < 4; ++i) {
    out[2 * i] = kHex[mac.bytes_[i] >> 4];
    out[2 * i + 1] = kHex[mac.bytes_[i] & 0xf];
  }
  return out;
}

}  // namespace twin::scrubber
