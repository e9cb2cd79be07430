#pragma once
// Content-Encoding: gzip, deflate (zlib, and raw deflate as some servers send) and br, decoded
// so that the scrubber can see the body and encoded again afterwards. zlib and Brotli from
// Debian's packages.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/result.h"

namespace twin::scrubber {

enum class Coding : uint8_t { kIdentity = 0, kGzip, kDeflate, kBrotli };

/// The codings of a Content-Encoding value in the order they were applied ("gzip", "x-gzip",
/// "deflate", "br", "identity"; case-insensitive, comma separated). Fails on an unknown one,
/// naming it.
Result<std::vector<Coding>> parse_content_encoding(std::string_view value);

/// Decodes `in` (one coding) appending to `out`. Fails when the data is corrupt or truncated, or
/// when the output would exceed `max_out` bytes (a decompression bomb): the message says which.
Result<void> decode(Coding coding, std::string_view in, size_t max_out, std::string& out);

/// Encodes `in` appending to `out` (gzip and deflate at level 6, br at quality 5).
Result<void> encode(Coding coding, std::string_view in, std::string& out);

}  // namespace twin::scrubber
