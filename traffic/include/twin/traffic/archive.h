#pragma once
// The .twin archive: a file header with producer metadata, then append-only blocks (records,
// metadata, index), each compressed and checksummed, then a footer that points at the index.
// docs/FORMAT.md describes it byte by byte.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::traffic {

inline constexpr uint16_t kFormatMajor = 1;
inline constexpr uint16_t kFormatMinor = 0;

/// twin's version, as written into the producer metadata.
std::string_view version();

/// What the index (or a scan) says about one records block.
struct BlockInfo {
  uint64_t offset = 0;
  uint32_t records = 0;
  int64_t first_time = kNoTime;  // least request_start in the block, kNoTime if none known
  int64_t last_time = kNoTime;   // greatest request_start in the block
  uint64_t first_ordinal = 0;    // how many records come before this block
};

struct WriterOptions {
  /// A records block is closed once its encoded records reach this many bytes (a single larger
  /// record makes a block of its own). Bounds the writer's memory.
  size_t block_size = 1 << 20;
  /// zstd level; 1 is fast and, on HTTP traffic, already smaller than gzip -6 of the JSONL.
  int level = 1;
  /// Producer metadata stored in the file header: a JSON object. The writer adds "producer",
  /// "format" and "created" when they are missing.
  nlohmann::json metadata = nlohmann::json::object();
};

class Writer;
using WriterPtr = std::unique_ptr<Writer>;

/// Streams exchanges into a .twin file. Not thread-safe: one writer per thread.
/// Memory: one block of encoded records plus its compressed copy.
class Writer {
 public:
  /// Creates (truncates) `path`; "-" writes to standard output (no seeking is needed).
  static Result<WriterPtr> open(const std::string& path, WriterOptions options = {});
  ~Writer();  // closes if close() was not called; an error then goes to the log
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Result<void> append(const Exchange& exchange);
  /// Writes a metadata block: a JSON object merged (RFC 7386 merge patch) into the header
  /// metadata by readers, in file order. Use it for counters, so that even a killed process
  /// leaves its latest counters behind. Flushes the current records block first.
  Result<void> put_metadata(const nlohmann::json& object);
  /// Ends the current records block so that everything appended so far is on disk (fflush).
  Result<void> flush();
  /// Flushes, writes the index block and the footer, and closes the file. Idempotent.
  Result<void> close();

  uint64_t count() const { return count_; }
  uint64_t bytes_written() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  Writer() = default;
  Result<void> write_block(uint8_t kind, const void* raw, size_t raw_size, uint32_t records,
                           int64_t first_time, int64_t last_time, bool compress);
  Result<void> write_bytes(const void* data, size_t size);

  std::string path_;
  WriterOptions options_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  bool closed_ = false;
  bool write_failed_ = false;  // a write or flush failed and the caller was told: the
                               // destructor's close does not log it again
  uint64_t offset_ = 0;
  uint64_t count_ = 0;
  // The open records block: bytes written in place, never zero-filled first (a std::string's
  // resize to a record's upper bound was a memset per record, and encoding into a string of
  // its own then a copy into the block).
  std::unique_ptr<char[]> block_;
  size_t block_size_ = 0;
  size_t block_capacity_ = 0;
  std::string compressed_;
  uint32_t block_records_ = 0;
  int64_t block_first_ = kNoTime;
  int64_t block_last_ = kNoTime;
  int64_t prev_start_ = 0;
  std::vector<BlockInfo> index_;
  void* cctx_ = nullptr;  // ZSTD_CCtx*
};

/// Something wrong found while reading; reading goes on past it where it can.
struct Damage {
  enum class Kind {
    kTornTail,        // the file ends inside a block, or without its footer
    kBadBlockHeader,  // a block header failed its checksum; the reader resynchronised
    kBadChecksum,     // a block's payload failed its checksum; the block was skipped
    kBadPayload,      // a block's payload would not decompress; the block was skipped
    kBadRecord,       // a record would not decode; the rest of its block was skipped
    kBadIndex,        // the index or footer disagrees with the blocks
  };
  Kind kind;
  uint64_t offset;  // byte offset in the file where the damage starts
  std::string detail;
  /// "FILE: offset N: DETAIL", one line.
  std::string describe(const std::string& path) const;
};
std::string_view to_string(Damage::Kind kind);

struct ReaderOptions {
  /// A block that says it decompresses to more than this is treated as damage, so that a
  /// hostile file cannot make the reader allocate without bound.
  size_t max_block_size = 256u << 20;
  /// Called for each damage as it is found (besides being kept in damage()).
  std::function<void(const Damage&)> on_damage;
  /// Decodes each record up to its request: a record's captured response is then an empty
  /// Response (engaged, so that whether there was one is still known). For readers that never
  /// look at it, such as the replayer's planner: captured response bodies are not copied.
  /// The response section is then not decoded either, so damage inside it (but not in the
  /// block's framing or checksum, which are still checked) goes unnoticed: `twin info` and
  /// the full reader still report it.
  bool request_only = false;
};

class Reader;
using ReaderPtr = std::unique_ptr<Reader>;

/// Streams exchanges out of a .twin file, block by block: memory is bounded by the block size.
/// Not thread-safe. Damage is not an error: it is reported and reading goes on.
class Reader {
 public:
  /// Opens `path` ("-" for standard input) and reads its header. Fails with a one-line message
  /// naming the file for anything that is not a readable .twin file of a supported version.
  static Result<ReaderPtr> open(const std::string& path, ReaderOptions options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  /// Fills `out` (reusing its capacity) with the next exchange. Returns false at the end of the
  /// file; an error only when the file cannot be read at all (an I/O error).
  Result<bool> next(Exchange& out);

  /// Positions the reader at the first block that may hold an exchange whose request_start is
  /// >= `time` (blocks are not sorted, so later blocks may still hold earlier exchanges; the
  /// caller filters). Needs a seekable file; uses the index, or scans block headers without one.
  Result<void> seek_time(int64_t time);

  /// The header metadata merged with every metadata block read so far.
  const nlohmann::json& metadata() const { return metadata_; }
  /// The metadata of the whole file: the header merged with all metadata blocks. A regular
  /// file is scanned by a second reader that skips records blocks unread (this one does not
  /// move); on a pipe it is what metadata() holds so far, so read to the end first.
  nlohmann::json final_metadata();
  uint16_t format_major() const { return major_; }
  uint16_t format_minor() const { return minor_; }
  const std::vector<Damage>& damage() const { return damage_; }
  /// The records blocks listed in the file's index; empty when the file has none (torn).
  const std::vector<BlockInfo>& index() const { return index_; }
  bool has_footer() const { return has_footer_; }
  /// Total records according to the footer; 0 when there is no footer.
  uint64_t indexed_count() const { return indexed_count_; }
  const std::string& path() const { return path_; }
  uint64_t offset() const { return offset_; }
  uint64_t blocks_read() const { return blocks_read_; }

 private:
  Reader() = default;
  Result<bool> load_block();  // reads the next records block into block_; false at the end
  /// Makes at least `n` bytes available at buf_[head_..]; returns how many are (fewer at EOF).
  Result<size_t> ensure(size_t n);
  void consume(size_t n);
  Result<bool> skip(uint64_t n);  // false when the file ends first
  Result<void> seek_to(uint64_t offset);
  void report(Damage::Kind kind, uint64_t offset, std::string detail);
  void read_footer_and_index();
  void torn(uint64_t offset, const std::string& detail);

  std::string path_;
  ReaderOptions options_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool seekable_ = false;
  uint64_t file_size_ = 0;
  // buffered input: buf_[head_, buf_.size()) holds the bytes at offset_ onwards
  std::string buf_;
  size_t head_ = 0;
  bool eof_ = false;
  uint64_t offset_ = 0;      // file offset of the next unconsumed byte
  uint64_t data_start_ = 0;  // offset of the first block
  uint64_t data_end_ = 0;    // offset of the index block when the footer is good, else 0
  uint16_t major_ = 0;
  uint16_t minor_ = 0;
  nlohmann::json metadata_;
  std::vector<Damage> damage_;
  std::vector<BlockInfo> index_;
  bool has_footer_ = false;
  bool reported_torn_ = false;
  bool done_ = false;
  bool metadata_only_ = false;  // final_metadata()'s scan: records blocks are skipped unread
  uint64_t indexed_count_ = 0;
  uint64_t blocks_read_ = 0;
  // the current records block
  std::string block_;
  size_t pos_ = 0;
  uint32_t remaining_ = 0;
  uint32_t record_no_ = 0;
  uint64_t block_offset_ = 0;
  int64_t prev_start_ = 0;
  void* dctx_ = nullptr;  // ZSTD_DCtx*
};

}  // namespace twin::traffic
