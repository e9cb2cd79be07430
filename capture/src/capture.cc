#include "twin/capture/capture.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>
#include <vector>

#include "engine.h"
#include "packet.h"
#include "source.h"

namespace twin::capture {

namespace {

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t seconds_ns(double s) { return static_cast<int64_t>(std::llround(s * 1e9)); }

std::string effective_filter(const CaptureOptions& o, int linktype) {
  std::string ports;
  for (uint16_t p : o.ports) {
    if (!ports.empty()) ports += " or ";
    ports += "tcp port " + std::to_string(p);
  }
  if (!ports.empty() && linktype == 1) {
    // On Ethernet, "tcp port N" does not see inside 802.1Q/802.1ad tags: match one and two
    // tags too ("vlan" moves the offsets of what follows it).
    const std::string p = "(" + ports + ")";
    ports = p + " or (vlan and " + p + ") or (vlan and vlan and " + p + ")";
  }
  if (o.filter.empty()) return ports;
  if (ports.empty()) return o.filter;
  return "(" + o.filter + ") and (" + ports + ")";
}

}  // namespace

std::string supported_linktypes() {
  std::string out;
  for (int lt : {1, 113, 276, 0, 108, 101, 228, 229}) {
    if (!out.empty()) out += ", ";
    out += std::string(PacketDecoder::linktype_name(lt));
  }
  return out;
}

struct Capture::Impl {
  CaptureOptions options;
  std::string filter;
  PcapSourcePtr source;
};

Capture::Capture() : impl_(std::make_unique<Impl>()) {}
Capture::~Capture() = default;

Result<CapturePtr> Capture::open(const CaptureOptions& options) {
  if (options.interface.empty() == options.file.empty()) {
    return fail("capture: give exactly one source: -i INTERFACE or -r FILE");
  }
  if (!(options.sample_rate > 0.0 && options.sample_rate <= 1.0)) {
    return fail("capture: --sample must be in (0, 1]");
  }
  CapturePtr c(new Capture());
  c->impl_->options = options;
  Result<PcapSourcePtr> source =
      options.file.empty() ? PcapSource::open_live(options.interface,
                                                   LiveOptions{options.snaplen, options.buffer_size,
                                                               100, options.immediate})
                           : PcapSource::open_file(options.file);
  if (!source) return tl::unexpected(source.error());
  const int lt = (*source)->linktype();
  if (!PacketDecoder::supports(lt)) {
    const char* name = pcap_datalink_val_to_name(lt);
    return fail(((*source)->live() ? "interface " + (*source)->name()
                                   : ((*source)->name() == "-" ? "(stdin)" : (*source)->name())) +
                ": link type " + std::to_string(lt) + " (" + (name ? name : "unknown") +
                ") is not supported; supported: " + supported_linktypes());
  }
  c->impl_->filter = effective_filter(options, lt);
  if (auto r = (*source)->set_filter(c->impl_->filter); !r) return tl::unexpected(r.error());
  c->impl_->source = std::move(*source);
  return c;
}

nlohmann::json Capture::description() const {
  const auto& o = impl_->options;
  nlohmann::json j;
  if (impl_->source->live()) {
    j["interface"] = o.interface;
  } else {
    j["file"] = o.file;
  }
  j["linktype"] = std::string(PacketDecoder::linktype_name(impl_->source->linktype()));
  j["filter"] = impl_->filter;
  j["ports"] = o.ports;
  j["max_body"] = o.max_body;
  j["sample_rate"] = o.sample_rate;
  j["snaplen"] = o.snaplen;
  j["idle_timeout"] = o.idle_timeout;
  j["max_flows"] = o.max_flows;
  j["max_memory"] = o.max_memory;
  if (o.duration > 0) j["duration"] = o.duration;
  if (o.max_exchanges > 0) j["max_exchanges"] = o.max_exchanges;
  return j;
}

Result<void> Capture::run(traffic::Writer& writer,
                          const std::function<void(const Counters&)>& on_stats) {
  const CaptureOptions& o = impl_->options;
  PcapSource& source = *impl_->source;
  const bool live = source.live();

  EngineOptions eo;
  eo.analyzer.max_body = o.max_body;
  eo.server_ports = o.ports;
  eo.idle_timeout = seconds_ns(o.idle_timeout);
  eo.max_flows = o.max_flows;
  eo.max_memory = o.max_memory;
  eo.sample_rate = o.sample_rate;
  eo.sample_key = o.sample_key;

  uint64_t next_id = 0;
  bool limit_reached = false;
  std::string write_error;
  auto write = [&](const traffic::Exchange& e) {
    if (!write_error.empty()) {
      ++counters_.exchanges_unwritten;
      return;
    }
    if (auto r = writer.append(e); !r) {
      write_error = r.error().message;
      ++counters_.exchanges_unwritten;
      return;
    }
    ++counters_.exchanges;
    if (!e.response) ++counters_.exchanges_no_response;
    if (e.has(traffic::kFlagGap)) ++counters_.exchanges_gap;
  };
  // With before_write_batch: exchanges wait here (ids given, counted against the limit) until
  // the batch is full, counters are published, or the run ends.
  const bool batched = static_cast<bool>(o.before_write_batch);
  const size_t batch_size = std::max<size_t>(o.write_batch, 1);
  std::vector<traffic::Exchange> batch;
  size_t batch_bytes = 0;  // of targets and bodies
  auto flush = [&]() {
    if (batch.empty()) return;
    if (write_error.empty()) o.before_write_batch(std::span<traffic::Exchange>(batch));
    for (const auto& e : batch) write(e);
    batch.clear();
    batch_bytes = 0;
  };
  auto sink = [&](traffic::Exchange&& e) {
    if (limit_reached || !write_error.empty()) {
      if (limit_reached) {
        ++counters_.exchanges_over_limit;
      } else {
        ++counters_.exchanges_unwritten;
      }
      return;
    }
    e.id = ++next_id;
    if (batched) {
      batch_bytes += e.request.target.size() + e.request.body.size() +
                     (e.response ? e.response->body.size() : 0);
      batch.push_back(std::move(e));
      if (o.max_exchanges > 0 && next_id >= o.max_exchanges) limit_reached = true;
      if (batch.size() >= batch_size || batch_bytes >= o.write_batch_bytes || limit_reached) {
        flush();
      }
      return;
    }
    if (o.before_write) o.before_write(e);
    write(e);
    if (o.max_exchanges > 0 && counters_.exchanges >= o.max_exchanges) limit_reached = true;
  };
  Engine engine(eo, counters_, sink);
  PacketDecoder decoder(source.linktype(), counters_);

  auto publish = [&]() -> Result<void> {
    flush();
    const auto k = source.stats();
    counters_.kernel_received = k.received;
    counters_.kernel_drops = k.dropped;
    counters_.interface_drops = k.interface_dropped;
    if (on_stats) on_stats(counters_);
    nlohmann::json meta = {{"capture", counters_.to_json()}};
    if (o.extra_metadata) meta.update(o.extra_metadata());
    return writer.put_metadata(meta);
  };

  const int64_t interval = std::max<int64_t>(seconds_ns(o.stats_interval), 1'000'000);
  const int64_t duration = o.duration > 0 ? seconds_ns(o.duration) : 0;
  const int64_t started = wall_ns();
  int64_t next_stats = started + interval;
  int64_t first_packet = traffic::kNoTime;
  std::string input_error;
  uint64_t since_check = 0;

  auto periodic = [&](int64_t now_wall) -> bool {
    if (live && duration > 0 && now_wall - started >= duration) return false;
    if (now_wall >= next_stats) {
      next_stats = now_wall + interval;
      if (auto r = publish(); !r && write_error.empty()) write_error = r.error().message;
    }
    return true;
  };

  RawPacket packet;
  TcpSegment segment;
  bool duration_over = false;
  auto process = [&]() {
    ++counters_.packets;
    counters_.bytes += packet.caplen;
    if (first_packet == traffic::kNoTime) first_packet = packet.time;
    if (!live && duration > 0 && packet.time - first_packet >= duration) {
      duration_over = true;
      return;
    }
    if (decoder.decode(packet.data, packet.caplen, packet.wirelen, packet.time, segment) ==
        DecodeResult::kSegment) {
      engine.add(segment);
    }
    if (++since_check == 4096) {
      since_check = 0;
      decoder.expire(engine.last_time());
      if (!periodic(wall_ns())) duration_over = true;
    }
  };
  while (!stop_.load(std::memory_order_relaxed) && !limit_reached && write_error.empty() &&
         !duration_over) {
    const PcapSource::Next n = source.next(packet);
    if (n == PcapSource::Next::kPacket) {
      process();
    } else if (n == PcapSource::Next::kTimeout) {
      const int64_t now = wall_ns();
      engine.tick(now);
      decoder.expire(now);
      if (!periodic(now)) break;
    } else if (n == PcapSource::Next::kEnd) {
      break;
    } else {
      input_error = source.error();
      break;
    }
  }
  if (live && input_error.empty()) {
    // Stopped (signal, duration): what the kernel already holds was sent before the stop, so
    // it is read too, until the ring stays empty for two waits.
    int idle = 0;
    while (idle < 2 && !limit_reached && write_error.empty()) {
      const PcapSource::Next n = source.next(packet);
      if (n == PcapSource::Next::kPacket) {
        idle = 0;
        process();
      } else if (n == PcapSource::Next::kTimeout) {
        ++idle;
      } else {
        break;
      }
    }
  }
  // Every flow still open ends here: its pending requests are written (without responses),
  // so that nothing decoded is silently absent.
  engine.finish(live ? std::max(engine.last_time(), wall_ns()) : engine.last_time());
  auto published = publish();
  if (!write_error.empty()) return fail(write_error);
  if (!published) return tl::unexpected(published.error());
  if (!input_error.empty()) return fail(input_error);
  return {};
}

}  // namespace twin::capture
