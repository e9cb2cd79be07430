#pragma once
// HTTP content codings (RFC 9110 §8.4; zstd: RFC 8878): gzip, deflate (zlib, and raw deflate as
// some servers send), br and zstd, decoded so that a body can be read — scrubbed, compared — and
// encoded again. zlib, Brotli and zstd from Debian's packages; this file only drives their
// streaming APIs with a cap on the output (a small body that inflates to gigabytes is refused
// after at most cap + 1 bytes) and one-line errors that name the coding and the input offset.
// One library for the scrubber (decode, scrub, encode) and the comparator (decode both sides).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/result.h"

namespace twin::traffic {

enum class Coding : uint8_t { kIdentity = 0, kGzip, kDeflate, kBrotli, kZstd };

/// "identity", "gzip", "deflate", "br", "zstd".
std::string_view coding_name(Coding coding);

/// The codings of a Content-Encoding value in the order they were applied ("gzip", "x-gzip",
/// "deflate", "br", "zstd", "identity"; case-insensitive, comma separated, empty elements
/// allowed). Fails on an unknown one, naming it.
Result<std::vector<Coding>> parse_content_encoding(std::string_view value);

/// Decodes `in` (one coding) appending to `out`, which is left as it was on failure. Fails when
/// the data is corrupt or truncated, or when the output would exceed `max_out` bytes (a
/// decompression bomb): the message says which, and where. zstd: several frames one after
/// another and skippable frames are read; a frame that asks for a window larger than both
/// 8 MiB (RFC 8878's limit for the content coding) and `max_out` is refused.
Result<void> decode(Coding coding, std::string_view in, size_t max_out, std::string& out);

/// Undoes `codings` (as parse_content_encoding gives them, in the order they were applied):
/// the last first. Appends the result to `out`, which is left as it was on failure. Every step
/// is held to `max_out`.
Result<void> decode_all(const std::vector<Coding>& codings, std::string_view in, size_t max_out,
                        std::string& out);

/// Encodes `in` appending to `out` (gzip and deflate at level 6, br at quality 5, zstd at level
/// 3 with a checksum and a window within the 8 MiB a decoder of the content coding must
/// support).
Result<void> encode(Coding coding, std::string_view in, std::string& out);

}  // namespace twin::traffic
