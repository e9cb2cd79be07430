#include "recorder.h"

#include <cstdio>

namespace twin::shop {

Result<std::unique_ptr<Recorder>> Recorder::open(const std::string& path,
                                                 const nlohmann::json& metadata) {
  traffic::WriterOptions options;
  options.metadata = metadata;
  // Small blocks: a killed shop still leaves most of what it served readable.
  options.block_size = 256 << 10;
  auto writer = traffic::Writer::open(path, std::move(options));
  if (!writer.has_value()) return fail(writer.error().message);
  return std::unique_ptr<Recorder>(new Recorder(std::move(*writer)));
}

void Recorder::append(traffic::Exchange& exchange) {
  std::lock_guard lock(mutex_);
  exchange.id = next_id_++;
  auto r = writer_->append(exchange);
  if (r.has_value()) {
    recorded_.fetch_add(1, std::memory_order_relaxed);
  } else if (failed_.fetch_add(1, std::memory_order_relaxed) == 0) {
    std::fprintf(stderr, "shop: recording failed (further failures only counted): %s\n",
                 r.error().message.c_str());
  }
}

Result<void> Recorder::close(const nlohmann::json& counters) {
  std::lock_guard lock(mutex_);
  if (auto r = writer_->put_metadata(counters); !r.has_value()) return r;
  return writer_->close();
}

}  // namespace twin::shop
