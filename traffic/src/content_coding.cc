#include "twin/traffic/content_coding.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <memory>

namespace twin::traffic {
namespace {

constexpr size_t kChunk = 64u << 10;

std::string offset_text(size_t n) { return std::to_string(n); }

Error exceeds(const char* name, size_t max_out) {
  return Error{std::string(name) + ": output exceeds " + offset_text(max_out) + " bytes"};
}

// How much room to give the decoder next: a chunk, but never more than one byte past the cap,
// so that a bomb is caught after at most max_out + 1 bytes of output.
size_t next_room(size_t produced, size_t max_out) {
  const size_t left = max_out - produced;  // produced <= max_out here
  return left < kChunk ? left + 1 : kChunk;
}

// RAII owners of the zlib streams.
class Inflater {
 public:
  explicit Inflater(int window_bits) { ok_ = inflateInit2(&z_, window_bits) == Z_OK; }
  ~Inflater() {
    if (ok_) inflateEnd(&z_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool ok() const { return ok_; }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

class Deflater {
 public:
  explicit Deflater(int window_bits) {
    ok_ = deflateInit2(&z_, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return ok_; }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

struct BrotliDecoderDeleter {
  void operator()(BrotliDecoderState* s) const { BrotliDecoderDestroyInstance(s); }
};
struct BrotliEncoderDeleter {
  void operator()(BrotliEncoderState* s) const { BrotliEncoderDestroyInstance(s); }
};

// How an inflate attempt ended, so that deflate can retry without the zlib wrapper.
struct InflateOutcome {
  bool header_rejected = false;  // failed on the first bytes, before any output
};

// Inflates all of `in` (appending to `out`, which is put back as it was on failure). With
// `members`, a gzip member that ends is followed by the next one, as gzip(1) reads
// concatenated files; zero bytes after the last member are padding.
Result<void> inflate_all(std::string_view in, int window_bits, bool members, const char* name,
                         size_t max_out, std::string& out, InflateOutcome& outcome) {
  const size_t base = out.size();
  auto failed = [&](std::string message) {
    out.resize(base);
    return fail(std::string(name) + ": " + std::move(message));
  };
  Inflater inflater(window_bits);
  if (!inflater.ok()) return failed("cannot initialise zlib");
  z_stream& z = inflater.z();
  const auto* data = reinterpret_cast<const Bytef*>(in.data());
  z.next_in = const_cast<Bytef*>(data);  // zlib's API is not const-correct; it only reads
  z.avail_in = 0;
  size_t fed = 0;  // bytes handed to zlib so far
  size_t produced = 0;
  for (;;) {
    if (z.avail_in == 0 && fed < in.size()) {
      const size_t step = std::min<size_t>(in.size() - fed, UINT_MAX);
      z.next_in = const_cast<Bytef*>(data + fed);
      z.avail_in = static_cast<uInt>(step);
      fed += step;
    }
    const size_t room = next_room(produced, max_out);
    out.resize(base + produced + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + base + produced);
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_NO_FLUSH);
    produced += room - z.avail_out;
    out.resize(base + produced);
    const size_t consumed = static_cast<size_t>(z.next_in - data);
    if (produced > max_out) {
      out.resize(base);
      return tl::unexpected(exceeds(name, max_out));
    }
    switch (rc) {
      case Z_OK:
        continue;
      case Z_STREAM_END: {
        if (consumed == in.size()) return {};
        const std::string_view rest = in.substr(consumed);
        if (members && rest.size() >= 2 && static_cast<unsigned char>(rest[0]) == 0x1f &&
            static_cast<unsigned char>(rest[1]) == 0x8b) {
          if (inflateReset(&z) != Z_OK) return failed("cannot reset zlib");
          continue;
        }
        if (members && rest.find_first_not_of('\0') == std::string_view::npos) return {};
        return failed("trailing data at input offset " + offset_text(consumed));
      }
      case Z_BUF_ERROR:
        // No progress was possible: with room to write, that means the input ran out.
        if (consumed == in.size())
          return failed("truncated at input offset " + offset_text(consumed));
        continue;
      case Z_NEED_DICT:
        return failed("needs a preset dictionary at input offset " + offset_text(consumed));
      case Z_DATA_ERROR:
        if (produced == 0 && consumed <= 2) outcome.header_rejected = true;
        return failed("corrupt data at input offset " + offset_text(consumed) + " (" +
                      (z.msg != nullptr ? z.msg : "invalid data") + ")");
      case Z_MEM_ERROR:
        return failed("out of memory");
      default:
        return failed("zlib error " + std::to_string(rc) + " at input offset " +
                      offset_text(consumed));
    }
  }
}

// RFC 1950: CM = 8, CINFO <= 7, and the header is a multiple of 31.
bool has_zlib_header(std::string_view in) {
  if (in.size() < 2) return false;
  const auto cmf = static_cast<unsigned char>(in[0]);
  const auto flg = static_cast<unsigned char>(in[1]);
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && (cmf * 256u + flg) % 31 == 0;
}

Result<void> decode_brotli(std::string_view in, size_t max_out, std::string& out) {
  const size_t base = out.size();
  std::unique_ptr<BrotliDecoderState, BrotliDecoderDeleter> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr));
  if (!state) return fail("br: cannot create a decoder");
  size_t avail_in = in.size();
  const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
  size_t produced = 0;
  for (;;) {
    const size_t room = next_room(produced, max_out);
    out.resize(base + produced + room);
    auto* next_out = reinterpret_cast<uint8_t*>(out.data() + base + produced);
    size_t avail_out = room;
    const BrotliDecoderResult rc = BrotliDecoderDecompressStream(state.get(), &avail_in, &next_in,
                                                                 &avail_out, &next_out, nullptr);
    produced += room - avail_out;
    out.resize(base + produced);
    const size_t consumed = in.size() - avail_in;
    if (produced > max_out) {
      out.resize(base);
      return tl::unexpected(exceeds("br", max_out));
    }
    switch (rc) {
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        continue;
      case BROTLI_DECODER_RESULT_SUCCESS:
        if (avail_in == 0) return {};
        out.resize(base);
        return fail("br: trailing data at input offset " + offset_text(consumed));
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        out.resize(base);
        return fail("br: truncated at input offset " + offset_text(consumed));
      case BROTLI_DECODER_RESULT_ERROR:
      default: {
        const char* why = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state.get()));
        out.resize(base);
        return fail("br: corrupt data at input offset " + offset_text(consumed) + " (" +
                    (why != nullptr ? why : "error") + ")");
      }
    }
  }
}

struct ZstdDecoderDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct ZstdEncoderDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// RFC 8878 §3.1.1.1.2: an encoder of the "zstd" content coding keeps its window within 8 MiB.
// A decoder may be asked for more by a frame whose content is larger than that and held in one
// segment (its window is its size): one is allowed up to the output cap, and never past
// 128 MiB (libzstd's own default limit), so that a frame cannot make twin hold more memory
// than the body it may decode to.
constexpr int kZstdWindowLog = 23;
int zstd_window_log_max(size_t max_out) {
  int log = kZstdWindowLog;
  while (log < 27 && (size_t{1} << log) < max_out) ++log;
  return log;
}

// Decodes every frame of `in` (frames one after another, skippable frames among them).
Result<void> decode_zstd(std::string_view in, size_t max_out, std::string& out) {
  const size_t base = out.size();
  auto failed = [&](std::string message) {
    out.resize(base);
    return fail("zstd: " + std::move(message));
  };
  std::unique_ptr<ZSTD_DCtx, ZstdDecoderDeleter> d(ZSTD_createDCtx());
  if (!d) return failed("cannot create a decoder");
  if (ZSTD_isError(
          ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, zstd_window_log_max(max_out)))) {
    return failed("cannot limit the window");
  }
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  size_t produced = 0;
  for (;;) {
    const size_t room = next_room(produced, max_out);
    out.resize(base + produced + room);
    ZSTD_outBuffer output{out.data() + base + produced, room, 0};
    const size_t rc = ZSTD_decompressStream(d.get(), &output, &input);
    produced += output.pos;
    out.resize(base + produced);
    if (ZSTD_isError(rc)) {
      return failed("corrupt data at input offset " + offset_text(input.pos) + " (" +
                    ZSTD_getErrorName(rc) + ")");
    }
    if (produced > max_out) {
      out.resize(base);
      return tl::unexpected(exceeds("zstd", max_out));
    }
    if (rc == 0) {  // a frame ended where the input ends, or the next one follows
      if (input.pos == input.size) return {};
      continue;
    }
    // Room left unused: the decoder flushed what it had and needs input that is not there.
    if (input.pos == input.size && output.pos < output.size) {
      return failed("truncated at input offset " + offset_text(input.pos));
    }
  }
}

Result<void> encode_zstd(std::string_view in, std::string& out) {
  std::unique_ptr<ZSTD_CCtx, ZstdEncoderDeleter> c(ZSTD_createCCtx());
  if (!c || ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, 3)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_windowLog, kZstdWindowLog)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1))) {
    return fail("zstd: cannot create an encoder");
  }
  const size_t base = out.size();
  out.resize(base + ZSTD_compressBound(in.size()));
  const size_t n =
      ZSTD_compress2(c.get(), out.data() + base, out.size() - base, in.data(), in.size());
  if (ZSTD_isError(n)) {
    out.resize(base);
    return fail(std::string("zstd: cannot compress (") + ZSTD_getErrorName(n) + ")");
  }
  out.resize(base + n);
  return {};
}

Result<void> deflate_all(std::string_view in, int window_bits, const char* name, std::string& out) {
  const size_t base = out.size();
  Deflater deflater(window_bits);
  if (!deflater.ok()) return fail(std::string(name) + ": cannot initialise zlib");
  z_stream& z = deflater.z();
  const auto* data = reinterpret_cast<const Bytef*>(in.data());
  size_t fed = 0;
  size_t produced = 0;
  if (in.size() <= UINT_MAX) {
    out.reserve(base + deflateBound(&z, static_cast<uLong>(in.size())));
  }
  for (;;) {
    if (z.avail_in == 0 && fed < in.size()) {
      const size_t step = std::min<size_t>(in.size() - fed, UINT_MAX);
      z.next_in = const_cast<Bytef*>(data + fed);
      z.avail_in = static_cast<uInt>(step);
      fed += step;
    }
    const int flush = fed == in.size() ? Z_FINISH : Z_NO_FLUSH;
    const size_t room = std::max(kChunk, out.capacity() - base - produced);
    out.resize(base + produced + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + base + produced);
    z.avail_out = static_cast<uInt>(std::min<size_t>(room, UINT_MAX));
    const size_t given = z.avail_out;
    const int rc = deflate(&z, flush);
    produced += given - z.avail_out;
    out.resize(base + produced);
    if (rc == Z_STREAM_END) return {};
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      out.resize(base);
      return fail(std::string(name) + ": zlib error " + std::to_string(rc));
    }
  }
}

std::string printable(std::string_view v) {
  std::string out;
  for (const char c : v.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (v.size() > 40) out += "...";
  return out;
}

}  // namespace

std::string_view coding_name(Coding coding) {
  switch (coding) {
    case Coding::kGzip:
      return "gzip";
    case Coding::kDeflate:
      return "deflate";
    case Coding::kBrotli:
      return "br";
    case Coding::kZstd:
      return "zstd";
    case Coding::kIdentity:
      break;
  }
  return "identity";
}

Result<std::vector<Coding>> parse_content_encoding(std::string_view value) {
  std::vector<Coding> codings;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = value.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) {  // the HTTP list syntax allows empty elements
      std::string lower(item);
      std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      });
      if (lower == "gzip" || lower == "x-gzip") {
        codings.push_back(Coding::kGzip);
      } else if (lower == "deflate") {
        codings.push_back(Coding::kDeflate);
      } else if (lower == "br") {
        codings.push_back(Coding::kBrotli);
      } else if (lower == "zstd") {
        codings.push_back(Coding::kZstd);
      } else if (lower == "identity") {
        codings.push_back(Coding::kIdentity);
      } else {
        return fail("Content-Encoding: unknown coding '" + printable(item) + "'");
      }
    }
    pos = comma + 1;
  }
  return codings;
}

Result<void> decode(Coding coding, std::string_view in, size_t max_out, std::string& out) {
  InflateOutcome outcome;
  switch (coding) {
    case Coding::kIdentity:
      if (in.size() > max_out) return tl::unexpected(exceeds("identity", max_out));
      out.append(in);
      return {};
    case Coding::kGzip:
      return inflate_all(in, 15 + 16, true, "gzip", max_out, out, outcome);
    case Coding::kDeflate: {
      // "deflate" is meant to be zlib-wrapped (RFC 9110), but some servers send raw deflate:
      // try the wrapper when the first two bytes look like one, else (or when it is rejected
      // at once) read raw deflate.
      if (has_zlib_header(in)) {
        auto wrapped = inflate_all(in, 15, false, "deflate", max_out, out, outcome);
        if (wrapped || !outcome.header_rejected) return wrapped;
      }
      return inflate_all(in, -15, false, "deflate", max_out, out, outcome);
    }
    case Coding::kBrotli:
      return decode_brotli(in, max_out, out);
    case Coding::kZstd:
      return decode_zstd(in, max_out, out);
  }
  return fail("unknown coding " + std::string(coding_name(coding)));
}

Result<void> decode_all(const std::vector<Coding>& codings, std::string_view in, size_t max_out,
                        std::string& out) {
  if (codings.empty()) {
    if (in.size() > max_out) return tl::unexpected(exceeds("identity", max_out));
    out.append(in);
    return {};
  }
  if (codings.size() == 1) return decode(codings.front(), in, max_out, out);
  std::string plain(in), next;
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    next.clear();
    if (auto r = decode(*it, plain, max_out, next); !r) return r;
    plain.swap(next);
  }
  out.append(plain);
  return {};
}

Result<void> encode(Coding coding, std::string_view in, std::string& out) {
  switch (coding) {
    case Coding::kIdentity:
      out.append(in);
      return {};
    case Coding::kGzip:
      return deflate_all(in, 15 + 16, "gzip", out);
    case Coding::kDeflate:
      return deflate_all(in, 15, "deflate", out);
    case Coding::kBrotli: {
      const size_t bound = BrotliEncoderMaxCompressedSize(in.size());
      if (bound != 0) {
        const size_t base = out.size();
        out.resize(base + bound);
        size_t size = bound;
        if (BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in.size(),
                                  reinterpret_cast<const uint8_t*>(in.data()), &size,
                                  reinterpret_cast<uint8_t*>(out.data() + base)) == BROTLI_TRUE) {
          out.resize(base + size);
          return {};
        }
        out.resize(base);
        return fail("br: cannot compress");
      }
      // Too large for the one-shot bound: stream it.
      std::unique_ptr<BrotliEncoderState, BrotliEncoderDeleter> state(
          BrotliEncoderCreateInstance(nullptr, nullptr, nullptr));
      if (!state || !BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_QUALITY, 5)) {
        return fail("br: cannot create an encoder");
      }
      const size_t base = out.size();
      size_t avail_in = in.size();
      const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
      size_t produced = 0;
      while (!BrotliEncoderIsFinished(state.get())) {
        out.resize(base + produced + kChunk);
        auto* next_out = reinterpret_cast<uint8_t*>(out.data() + base + produced);
        size_t avail_out = kChunk;
        if (!BrotliEncoderCompressStream(state.get(), BROTLI_OPERATION_FINISH, &avail_in, &next_in,
                                         &avail_out, &next_out, nullptr)) {
          out.resize(base);
          return fail("br: cannot compress");
        }
        produced += kChunk - avail_out;
        out.resize(base + produced);
      }
      return {};
    }
    case Coding::kZstd:
      return encode_zstd(in, out);
  }
  return fail("unknown coding " + std::string(coding_name(coding)));
}

}  // namespace twin::traffic
