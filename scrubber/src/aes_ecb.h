#pragma once
// AES in ECB mode over whole blocks, the raw block cipher that FF1 (its CIPH and its CBC-MAC PRF)
// and the prefix-preserving address transform are built on. One OpenSSL context, expanded once,
// owned here and freed with the object.

#include <openssl/evp.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "twin/traffic/result.h"

namespace twin::scrubber {

class AesEcb {
 public:
  static constexpr size_t kBlock = 16;

  /// `key` must be 16, 24 or 32 bytes (AES-128, -192, -256).
  static Result<AesEcb> create(std::span<const uint8_t> key) {
    const EVP_CIPHER* cipher = nullptr;
    switch (key.size()) {
      case 16:
        cipher = EVP_aes_128_ecb();
        break;
      case 24:
        cipher = EVP_aes_192_ecb();
        break;
      case 32:
        cipher = EVP_aes_256_ecb();
        break;
      default:
        return fail("AES key must be 16, 24 or 32 bytes, not " + std::to_string(key.size()));
    }
    AesEcb aes;
    aes.ctx_.reset(EVP_CIPHER_CTX_new());
    if (!aes.ctx_ ||
        EVP_EncryptInit_ex(aes.ctx_.get(), cipher, nullptr, key.data(), nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(aes.ctx_.get(), 0) != 1) {
      return fail("cannot set up an OpenSSL AES context");
    }
    return aes;
  }

  /// Encrypts `blocks` whole blocks from `in` to `out` (which may be the same buffer). False only
  /// when OpenSSL fails, which it does not for a set-up context.
  bool encrypt(const uint8_t* in, uint8_t* out, size_t blocks) const {
    if (blocks == 0) return true;
    if (blocks > static_cast<size_t>(INT_MAX) / kBlock) return false;
    int written = 0;
    return EVP_EncryptUpdate(ctx_.get(), out, &written, in, static_cast<int>(blocks * kBlock)) ==
               1 &&
           static_cast<size_t>(written) == blocks * kBlock;
  }

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx_;
};

}  // namespace twin::scrubber
