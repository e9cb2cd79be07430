#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "codec.h"
#include "twin/traffic/archive.h"

namespace twin::traffic {

using namespace codec;

namespace {

uint32_t hash32(const void* data, size_t size) {
  return static_cast<uint32_t>(XXH3_64bits(data, size));
}

/// A block header as stored; `valid` says whether its magic and checksum hold.
struct BlockHeader {
  uint8_t kind = 0;
  uint8_t codec = 0;
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
  uint32_t records = 0;
  int64_t first_time = kNoTime;
  int64_t last_time = kNoTime;
  uint64_t payload_hash = 0;
};

bool parse_block_header(const char* p, BlockHeader& h) {
  if (std::memcmp(p, kBlockMagic, sizeof(kBlockMagic)) != 0) return false;
  if (get_u32(p + 44) != hash32(p, 44)) return false;
  h.kind = static_cast<uint8_t>(p[4]);
  h.codec = static_cast<uint8_t>(p[5]);
  h.stored_size = get_u32(p + 8);
  h.raw_size = get_u32(p + 12);
  h.records = get_u32(p + 16);
  h.first_time = static_cast<int64_t>(get_u64(p + 20));
  h.last_time = static_cast<int64_t>(get_u64(p + 28));
  h.payload_hash = get_u64(p + 36);
  return true;
}

bool pread_all(int fd, void* buf, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

/// Decompresses (or copies) a payload into `out`; false when it is not what the header says.
bool unpack(ZSTD_DCtx* dctx, const BlockHeader& h, const char* payload, std::string& out) {
  out.resize(h.raw_size);
  if (h.codec == kStored) {
    if (h.stored_size != h.raw_size) return false;
    std::memcpy(out.data(), payload, h.raw_size);
    return true;
  }
  if (h.codec != kZstd) return false;
  const size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), payload, h.stored_size);
  return !ZSTD_isError(n) && n == h.raw_size;
}

constexpr size_t kReadChunk = 1 << 20;

}  // namespace

std::string_view to_string(Damage::Kind kind) {
  switch (kind) {
    case Damage::Kind::kTornTail:
      return "torn-tail";
    case Damage::Kind::kBadBlockHeader:
      return "bad-block-header";
    case Damage::Kind::kBadChecksum:
      return "bad-checksum";
    case Damage::Kind::kBadPayload:
      return "bad-payload";
    case Damage::Kind::kBadRecord:
      return "bad-record";
    case Damage::Kind::kBadIndex:
      return "bad-index";
  }
  return "unknown";
}

std::string Damage::describe(const std::string& path) const {
  return path + ": offset " + std::to_string(offset) + ": " + std::string(to_string(kind)) + ": " +
         detail;
}

Result<ReaderPtr> Reader::open(const std::string& path, ReaderOptions options) {
  ReaderPtr r(new Reader());
  r->path_ = path;
  r->options_ = std::move(options);
  if (path == "-") {
    r->fd_ = STDIN_FILENO;
  } else {
    r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->fd_ < 0) return fail(path + ": cannot open: " + std::strerror(errno));
    r->owns_fd_ = true;
  }
  struct stat st {};
  if (::fstat(r->fd_, &st) == 0 && S_ISREG(st.st_mode)) {
    r->seekable_ = true;
    r->file_size_ = static_cast<uint64_t>(st.st_size);
  }
  auto dctx = ZSTD_createDCtx();
  if (dctx == nullptr) return fail(path + ": out of memory for the decompressor");
  r->dctx_ = dctx;

  auto got = r->ensure(kFileHeaderFixed);
  if (!got) return tl::unexpected(got.error());
  const char* p = r->buf_.data() + r->head_;
  if (*got < sizeof(kFileMagic) || std::memcmp(p, kFileMagic, sizeof(kFileMagic)) != 0) {
    return fail(path + ": offset 0: not a twin archive (no .twin magic)");
  }
  if (*got < kFileHeaderFixed) return fail(path + ": offset 8: file ends inside its header");
  r->major_ = get_u16(p + 8);
  r->minor_ = get_u16(p + 10);
  const uint32_t meta_size = get_u32(p + 12);
  if (r->major_ != kFormatMajor) {
    return fail(path + ": offset 8: format version " + std::to_string(r->major_) + "." +
                std::to_string(r->minor_) + " is not one this twin reads (" +
                std::to_string(kFormatMajor) + ".x)");
  }
  if (meta_size > kMaxMetadataSize) {
    return fail(path + ": offset 12: header metadata of " + std::to_string(meta_size) +
                " bytes is over the limit");
  }
  const size_t header_size = kFileHeaderFixed + meta_size + 4;
  got = r->ensure(header_size);
  if (!got) return tl::unexpected(got.error());
  if (*got < header_size) {
    return fail(path + ": offset " + std::to_string(*got) + ": file ends inside its header");
  }
  p = r->buf_.data() + r->head_;
  if (get_u32(p + header_size - 4) != hash32(p, header_size - 4)) {
    return fail(path + ": offset " + std::to_string(header_size - 4) +
                ": header checksum mismatch");
  }
  r->metadata_ =
      nlohmann::json::parse(p + kFileHeaderFixed, p + kFileHeaderFixed + meta_size, nullptr, false);
  if (!r->metadata_.is_object()) {
    return fail(path + ": offset 16: header metadata is not a JSON object");
  }
  r->consume(header_size);
  r->data_start_ = header_size;
  if (r->seekable_) r->read_footer_and_index();
  return r;
}

Reader::~Reader() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  if (dctx_ != nullptr) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
}

void Reader::report(Damage::Kind kind, uint64_t offset, std::string detail) {
  damage_.push_back(Damage{kind, offset, std::move(detail)});
  if (options_.on_damage) options_.on_damage(damage_.back());
}

void Reader::torn(uint64_t offset, const std::string& detail) {
  if (reported_torn_) return;
  reported_torn_ = true;
  report(Damage::Kind::kTornTail, offset, detail);
}

// The footer and the index are read with pread, leaving the streaming position alone. A file
// without them is torn (its writer did not close it); that is reported when the scan gets there.
void Reader::read_footer_and_index() {
  if (file_size_ < data_start_ + kFooterSize) return;
  char f[kFooterSize];
  const uint64_t footer_at = file_size_ - kFooterSize;
  if (!pread_all(fd_, f, kFooterSize, footer_at)) return;
  if (std::memcmp(f + 24, kFooterMagic, sizeof(kFooterMagic)) != 0) return;
  if (get_u32(f + 20) != hash32(f, 20)) {
    report(Damage::Kind::kBadIndex, footer_at, "footer checksum mismatch; reading without index");
    return;
  }
  const uint64_t index_at = get_u64(f);
  const uint64_t total = get_u64(f + 8);
  const uint32_t blocks = get_u32(f + 16);
  char hb[kBlockHeaderSize];
  BlockHeader h;
  if (index_at < data_start_ || index_at + kBlockHeaderSize > footer_at ||
      !pread_all(fd_, hb, kBlockHeaderSize, index_at) || !parse_block_header(hb, h) ||
      h.kind != kIndex || h.codec != kStored || h.records != blocks ||
      static_cast<uint64_t>(h.stored_size) != uint64_t{blocks} * kIndexEntrySize ||
      index_at + kBlockHeaderSize + h.stored_size != footer_at) {
    report(Damage::Kind::kBadIndex, index_at, "index block does not match the footer");
    return;
  }
  std::string entries(h.stored_size, '\0');
  if (!pread_all(fd_, entries.data(), entries.size(), index_at + kBlockHeaderSize) ||
      XXH3_64bits(entries.data(), entries.size()) != h.payload_hash) {
    report(Damage::Kind::kBadIndex, index_at, "index checksum mismatch; reading without index");
    return;
  }
  index_.resize(blocks);
  for (uint32_t i = 0; i < blocks; ++i) {
    const char* e = entries.data() + size_t{i} * kIndexEntrySize;
    index_[i].offset = get_u64(e);
    index_[i].records = get_u32(e + 8);
    index_[i].first_time = static_cast<int64_t>(get_u64(e + 16));
    index_[i].last_time = static_cast<int64_t>(get_u64(e + 24));
    index_[i].first_ordinal = get_u64(e + 32);
  }
  has_footer_ = true;
  indexed_count_ = total;
  data_end_ = index_at;
}

Result<size_t> Reader::ensure(size_t n) {
  size_t have = buf_.size() - head_;
  if (have >= n || eof_) return std::min(have, n);
  if (head_ > 0) {
    buf_.erase(0, head_);
    head_ = 0;
  }
  while (have < n && !eof_) {
    size_t want = std::max(n - have, kReadChunk);
    if (seekable_) {
      // Small files and the tail of large ones: no bigger buffer than the bytes left (+1 to
      // see the end of the file in the same call).
      const uint64_t left = file_size_ > offset_ + have ? file_size_ - offset_ - have : 0;
      want = std::max(n - have, static_cast<size_t>(std::min<uint64_t>(want, left + 1)));
    }
    buf_.resize(have + want);
    ssize_t r = ::read(fd_, buf_.data() + have, want);
    if (r < 0 && errno == EINTR) {
      buf_.resize(have);
      continue;
    }
    if (r < 0) {
      buf_.resize(have);
      return fail(path_ + ": offset " + std::to_string(offset_ + have) +
                  ": read failed: " + std::strerror(errno));
    }
    if (r == 0) eof_ = true;
    have += static_cast<size_t>(r);
    buf_.resize(have);
  }
  return std::min(have, n);
}

void Reader::consume(size_t n) {
  head_ += n;
  offset_ += n;
  if (head_ == buf_.size()) {
    buf_.clear();
    head_ = 0;
  }
}

Result<bool> Reader::skip(uint64_t n) {
  if (seekable_) {
    const size_t buffered = buf_.size() - head_;
    if (n <= buffered) {
      consume(static_cast<size_t>(n));
      return true;
    }
    if (offset_ + n > file_size_) return false;
    if (auto r = seek_to(offset_ + n); !r) return tl::unexpected(r.error());
    return true;
  }
  while (n > 0) {
    auto got = ensure(static_cast<size_t>(std::min<uint64_t>(n, kReadChunk)));
    if (!got) return tl::unexpected(got.error());
    if (*got == 0) return false;
    consume(*got);
    n -= *got;
  }
  return true;
}

Result<void> Reader::seek_to(uint64_t offset) {
  if (!seekable_) return fail(path_ + ": cannot seek: not a regular file");
  if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
    return fail(path_ + ": offset " + std::to_string(offset) +
                ": seek failed: " + std::strerror(errno));
  }
  buf_.clear();
  head_ = 0;
  eof_ = false;
  offset_ = offset;
  return {};
}

Result<bool> Reader::load_block() {
  auto* dctx = static_cast<ZSTD_DCtx*>(dctx_);
  while (!done_) {
    if (has_footer_ && offset_ >= data_end_) {
      done_ = true;
      break;
    }
    const uint64_t at = offset_;
    auto got = ensure(kBlockHeaderSize);
    if (!got) return tl::unexpected(got.error());
    if (*got == 0) {
      torn(at, "file ends without index and footer after " + std::to_string(blocks_read_) +
                   " blocks (was the writer stopped?)");
      done_ = true;
      break;
    }
    const char* p = buf_.data() + head_;
    BlockHeader h;
    if (*got < kBlockHeaderSize) {
      // A closed file ends with the footer: accept it here when the index was met on a pipe.
      if (*got == kFooterSize && std::memcmp(p + 24, kFooterMagic, sizeof(kFooterMagic)) == 0 &&
          get_u32(p + 20) == hash32(p, 20)) {
        has_footer_ = true;
        indexed_count_ = get_u64(p + 8);
        done_ = true;
        break;
      }
      torn(at, "file ends inside a block header");
      done_ = true;
      break;
    }
    if (!parse_block_header(p, h)) {
      // Resynchronise: look for the next block magic whose header checksum holds.
      report(Damage::Kind::kBadBlockHeader, at, "block header damaged; looking for the next block");
      consume(1);
      bool found = false;
      while (!found) {
        auto more = ensure(kBlockHeaderSize);
        if (!more) return tl::unexpected(more.error());
        if (*more < kBlockHeaderSize) break;
        const char* q = buf_.data() + head_;
        const size_t avail = buf_.size() - head_;
        const char* hit =
            static_cast<const char*>(memmem(q, avail, kBlockMagic, sizeof(kBlockMagic)));
        if (hit == nullptr) {
          consume(avail - (sizeof(kBlockMagic) - 1));
          continue;
        }
        consume(static_cast<size_t>(hit - q));
        auto full = ensure(kBlockHeaderSize);
        if (!full) return tl::unexpected(full.error());
        if (*full < kBlockHeaderSize) break;
        BlockHeader probe;
        if (parse_block_header(buf_.data() + head_, probe)) {
          found = true;
        } else {
          consume(1);
        }
      }
      if (!found) {
        torn(offset_, "no intact block after the damage at offset " + std::to_string(at));
        done_ = true;
        break;
      }
      continue;
    }
    if (h.stored_size > options_.max_block_size || h.raw_size > options_.max_block_size) {
      report(Damage::Kind::kBadPayload, at,
             "block of " + std::to_string(std::max(h.stored_size, h.raw_size)) +
                 " bytes is over the reader's limit; skipped");
      consume(kBlockHeaderSize);
      auto ok = skip(h.stored_size);
      if (!ok) return tl::unexpected(ok.error());
      if (!*ok) {
        torn(at, "file ends inside a block");
        done_ = true;
      }
      continue;
    }
    if (metadata_only_ && h.kind == kRecords) {
      consume(kBlockHeaderSize);
      auto ok = skip(h.stored_size);
      if (!ok) return tl::unexpected(ok.error());
      if (!*ok) done_ = true;
      continue;
    }
    got = ensure(kBlockHeaderSize + h.stored_size);
    if (!got) return tl::unexpected(got.error());
    if (*got < kBlockHeaderSize + h.stored_size) {
      torn(at, "file ends inside a block (" + std::to_string(*got) + " of " +
                   std::to_string(kBlockHeaderSize + h.stored_size) + " bytes)");
      consume(*got);
      done_ = true;
      break;
    }
    const char* payload = buf_.data() + head_ + kBlockHeaderSize;
    if (XXH3_64bits(payload, h.stored_size) != h.payload_hash) {
      report(Damage::Kind::kBadChecksum, at,
             "block checksum mismatch; " + std::to_string(h.records) + " records skipped");
      consume(kBlockHeaderSize + h.stored_size);
      continue;
    }
    if (h.kind == kRecords) {
      if (!unpack(dctx, h, payload, block_)) {
        report(Damage::Kind::kBadPayload, at,
               "block does not decompress; " + std::to_string(h.records) + " records skipped");
        consume(kBlockHeaderSize + h.stored_size);
        continue;
      }
      consume(kBlockHeaderSize + h.stored_size);
      ++blocks_read_;
      block_offset_ = at;
      pos_ = 0;
      remaining_ = h.records;
      record_no_ = 0;
      prev_start_ = 0;
      return true;
    }
    if (h.kind == kMetadata) {
      std::string json;
      nlohmann::json patch;
      if (unpack(dctx, h, payload, json)) {
        patch = nlohmann::json::parse(json, nullptr, false);
      }
      if (patch.is_object()) {
        metadata_.merge_patch(patch);
      } else {
        report(Damage::Kind::kBadPayload, at, "metadata block is not a JSON object; skipped");
      }
    }
    // An index block met on a stream is followed by the footer, recognised on the next turn.
    // Unknown kinds are skipped: later minor versions may add some.
    consume(kBlockHeaderSize + h.stored_size);
  }
  return false;
}

Result<bool> Reader::next(Exchange& out) {
  while (true) {
    if (remaining_ > 0) {
      Input in(block_.data() + pos_, block_.size() - pos_);
      uint64_t size;
      const size_t before = in.left();
      if (in.varint(size) && size <= in.left()) {
        const size_t prefix = before - in.left();
        const char* rec = block_.data() + pos_ + prefix;
        if (codec::decode_record(rec, static_cast<size_t>(size), prev_start_, out,
                                 options_.request_only)) {
          pos_ += prefix + static_cast<size_t>(size);
          --remaining_;
          ++record_no_;
          return true;
        }
      }
      report(Damage::Kind::kBadRecord, block_offset_,
             "record " + std::to_string(record_no_) + " of the block does not decode; " +
                 std::to_string(remaining_) + " records skipped");
      remaining_ = 0;
    }
    auto loaded = load_block();
    if (!loaded) return tl::unexpected(loaded.error());
    if (!*loaded) return false;
  }
}

Result<void> Reader::seek_time(int64_t time) {
  if (!seekable_) return fail(path_ + ": cannot seek by time: not a regular file");
  remaining_ = 0;
  done_ = false;
  auto may_hold = [time](int64_t last) { return last == kNoTime || last >= time; };
  if (has_footer_) {
    for (const auto& b : index_) {
      if (may_hold(b.last_time)) return seek_to(b.offset);
    }
    return seek_to(data_end_);
  }
  // No index: walk the block headers, skipping payloads.
  uint64_t at = data_start_;
  char hb[kBlockHeaderSize];
  while (at + kBlockHeaderSize <= file_size_ && pread_all(fd_, hb, kBlockHeaderSize, at)) {
    BlockHeader h;
    if (!parse_block_header(hb, h)) break;  // damage: let the streaming scan handle it
    if (h.kind == kRecords && may_hold(h.last_time)) break;
    at += kBlockHeaderSize + h.stored_size;
  }
  return seek_to(at);
}

nlohmann::json Reader::final_metadata() {
  if (!seekable_) return metadata_;
  // A second reader over the same file, skipping records blocks unread: the same resynchronising
  // scan, so that counters written after a damaged block are still found; this one stays put.
  ReaderOptions quiet;
  quiet.max_block_size = options_.max_block_size;
  auto other = Reader::open(path_, quiet);
  if (!other) return metadata_;
  (*other)->metadata_only_ = true;
  while (true) {
    auto more = (*other)->load_block();
    if (!more || !*more) break;
  }
  return (*other)->metadata_;
}

}  // namespace twin::traffic
