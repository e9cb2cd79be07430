#pragma once
// --record FILE: every exchange the shop answered, written to a .twin archive as it is served.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "twin/traffic/archive.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::shop {

/// Serialises appends from all connections into one archive writer. Thread-safe.
class Recorder {
 public:
  /// Opens (truncates) `path`; the error message names the file.
  static Result<std::unique_ptr<Recorder>> open(const std::string& path,
                                                const nlohmann::json& metadata);

  /// Assigns the exchange its id (1, 2, 3, ... in append order) and appends it. A failure is
  /// counted and reported once on stderr; serving goes on.
  void append(traffic::Exchange& exchange);
  /// Writes `counters` as a metadata block, then the index and footer.
  Result<void> close(const nlohmann::json& counters);

  uint64_t recorded() const { return recorded_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  explicit Recorder(traffic::WriterPtr writer) : writer_(std::move(writer)) {}

  std::mutex mutex_;
  traffic::WriterPtr writer_;  // guarded by mutex_
  uint64_t next_id_ = 1;       // guarded by mutex_
  std::atomic<uint64_t> recorded_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace twin::shop
