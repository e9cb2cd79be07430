#include <spdlog/spdlog.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "codec.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/text.h"

namespace twin::traffic {

using namespace codec;

std::string_view version() { return TWIN_VERSION; }

namespace {

uint32_t hash32(const void* data, size_t size) {
  return static_cast<uint32_t>(XXH3_64bits(data, size));
}

}  // namespace

Result<WriterPtr> Writer::open(const std::string& path, WriterOptions options) {
  WriterPtr w(new Writer());
  w->path_ = path;
  w->options_ = std::move(options);
  if (w->options_.block_size == 0) w->options_.block_size = 1;
  if (w->options_.block_size > (64u << 20)) w->options_.block_size = 64u << 20;
  if (path == "-") {
    w->file_ = stdout;
  } else {
    w->file_ = std::fopen(path.c_str(), "wb");
    if (w->file_ == nullptr) {
      return fail(path + ": cannot create: " + std::strerror(errno));
    }
    w->owns_file_ = true;
  }
  auto* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return fail(path + ": out of memory for the compressor");
  w->cctx_ = cctx;
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, w->options_.level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);  // the block carries its own checksum
  w->block_capacity_ = w->options_.block_size + (w->options_.block_size >> 3) + 64;
  w->block_.reset(new char[w->block_capacity_]);

  nlohmann::json& meta = w->options_.metadata;
  if (!meta.is_object()) meta = nlohmann::json::object();
  if (!meta.contains("producer")) meta["producer"] = {{"name", "twin"}, {"version", version()}};
  if (!meta.contains("created")) {
    meta["created"] = format_rfc3339(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count(),
                                     3);
  }
  meta["format"] = "twin/" + std::to_string(kFormatMajor) + "." + std::to_string(kFormatMinor);
  const std::string json = meta.dump();
  if (json.size() > kMaxMetadataSize) return fail(path + ": header metadata too large");

  std::string header(kFileMagic, sizeof(kFileMagic));
  put_u16(header, kFormatMajor);
  put_u16(header, kFormatMinor);
  put_u32(header, static_cast<uint32_t>(json.size()));
  header += json;
  put_u32(header, hash32(header.data(), header.size()));
  if (auto r = w->write_bytes(header.data(), header.size()); !r) return tl::unexpected(r.error());
  return w;
}

Writer::~Writer() {
  // A writer whose file could not be created has nothing to close.
  if (!closed_ && file_ != nullptr) {
    if (auto r = close(); !r && !write_failed_) spdlog::error("{}", r.error().message);
  }
  if (cctx_ != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
}

Result<void> Writer::write_bytes(const void* data, size_t size) {
  if (size != 0 && std::fwrite(data, 1, size, file_) != size) {
    write_failed_ = true;
    return fail(path_ + ": write failed at offset " + std::to_string(offset_) + ": " +
                std::strerror(errno));
  }
  offset_ += size;
  return {};
}

Result<void> Writer::append(const Exchange& exchange) {
  if (closed_) return fail(path_ + ": append after close");
  // The record goes in after its length, whose varint is at most as long as its bound's.
  const size_t bound = record_bound(exchange);
  size_t prefix = 1;
  while (bound >> (7 * prefix) != 0) ++prefix;
  if (block_size_ + prefix + bound > block_capacity_) {
    const size_t capacity = std::max(2 * block_capacity_, block_size_ + prefix + bound);
    std::unique_ptr<char[]> grown(new char[capacity]);
    std::memcpy(grown.get(), block_.get(), block_size_);
    block_ = std::move(grown);
    block_capacity_ = capacity;
  }
  char* const at = block_.get() + block_size_;
  const size_t size =
      static_cast<size_t>(encode_record(exchange, prev_start_, at + prefix) - (at + prefix));
  size_t used = 1;
  while (size >> (7 * used) != 0) ++used;
  if (used < prefix) std::memmove(at + used, at + prefix, size);
  uint64_t v = size;
  for (size_t i = 0; i + 1 < used; ++i, v >>= 7) at[i] = static_cast<char>(v | 0x80);
  at[used - 1] = static_cast<char>(v);
  block_size_ += used + size;
  ++block_records_;
  ++count_;
  const int64_t t = exchange.time.request_start;
  if (t != kNoTime) {
    if (block_first_ == kNoTime || t < block_first_) block_first_ = t;
    if (block_last_ == kNoTime || t > block_last_) block_last_ = t;
  }
  if (block_size_ >= options_.block_size) return flush();
  return {};
}

Result<void> Writer::write_block(uint8_t kind, const void* raw, size_t raw_size, uint32_t records,
                                 int64_t first_time, int64_t last_time, bool compress) {
  if (raw_size > 0xffffffffu) return fail(path_ + ": block too large");
  const char* payload = static_cast<const char*>(raw);
  size_t payload_size = raw_size;
  uint8_t codec = kStored;
  if (compress) {
    compressed_.resize(ZSTD_compressBound(raw_size));
    const size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(),
                                    compressed_.size(), raw, raw_size);
    if (ZSTD_isError(n)) {
      return fail(path_ + ": compression failed: " + ZSTD_getErrorName(n));
    }
    payload = compressed_.data();
    payload_size = n;
    codec = kZstd;
  }
  std::string header(kBlockMagic, sizeof(kBlockMagic));
  header.push_back(static_cast<char>(kind));
  header.push_back(static_cast<char>(codec));
  put_u16(header, 0);
  put_u32(header, static_cast<uint32_t>(payload_size));
  put_u32(header, static_cast<uint32_t>(raw_size));
  put_u32(header, records);
  put_u64(header, static_cast<uint64_t>(first_time));
  put_u64(header, static_cast<uint64_t>(last_time));
  put_u64(header, XXH3_64bits(payload, payload_size));
  put_u32(header, hash32(header.data(), header.size()));
  if (auto r = write_bytes(header.data(), header.size()); !r) return r;
  return write_bytes(payload, payload_size);
}

Result<void> Writer::flush() {
  if (closed_) return {};
  if (block_records_ > 0) {
    index_.push_back({offset_, block_records_, block_first_, block_last_, count_ - block_records_});
    if (auto r = write_block(kRecords, block_.get(), block_size_, block_records_, block_first_,
                             block_last_, true);
        !r) {
      return r;
    }
    block_size_ = 0;
    block_records_ = 0;
    block_first_ = block_last_ = kNoTime;
    prev_start_ = 0;
  }
  if (std::fflush(file_) != 0) {
    write_failed_ = true;
    return fail(path_ + ": write failed at offset " + std::to_string(offset_) + ": " +
                std::strerror(errno));
  }
  return {};
}

Result<void> Writer::put_metadata(const nlohmann::json& object) {
  if (closed_) return fail(path_ + ": metadata after close");
  if (!object.is_object()) return fail(path_ + ": metadata must be a JSON object");
  if (auto r = flush(); !r) return r;
  const std::string json = object.dump();
  if (json.size() > kMaxMetadataSize) return fail(path_ + ": metadata block too large");
  if (auto r = write_block(kMetadata, json.data(), json.size(), 0, kNoTime, kNoTime, true); !r) {
    return r;
  }
  if (std::fflush(file_) != 0) {
    write_failed_ = true;
    return fail(path_ + ": write failed: " + std::strerror(errno));
  }
  return {};
}

Result<void> Writer::close() {
  if (closed_) return {};
  auto result = [&]() -> Result<void> {
    if (auto r = flush(); !r) return r;
    std::string index;
    index.reserve(index_.size() * kIndexEntrySize);
    for (const auto& e : index_) {
      put_u64(index, e.offset);
      put_u32(index, e.records);
      put_u32(index, 0);
      put_u64(index, static_cast<uint64_t>(e.first_time));
      put_u64(index, static_cast<uint64_t>(e.last_time));
      put_u64(index, e.first_ordinal);
    }
    const uint64_t index_offset = offset_;
    if (index_.size() > 0xffffffffu / kIndexEntrySize) return fail(path_ + ": too many blocks");
    if (auto r = write_block(kIndex, index.data(), index.size(),
                             static_cast<uint32_t>(index_.size()), kNoTime, kNoTime, false);
        !r) {
      return r;
    }
    std::string footer;
    put_u64(footer, index_offset);
    put_u64(footer, count_);
    put_u32(footer, static_cast<uint32_t>(index_.size()));
    put_u32(footer, hash32(footer.data(), footer.size()));
    footer.append(kFooterMagic, sizeof(kFooterMagic));
    return write_bytes(footer.data(), footer.size());
  }();
  closed_ = true;
  int rc = owns_file_ ? std::fclose(file_) : std::fflush(file_);
  file_ = nullptr;
  if (result && rc != 0) {
    return fail(path_ + ": write failed at close: " + std::strerror(errno));
  }
  return result;
}

}  // namespace twin::traffic
