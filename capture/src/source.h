#pragma once
// Packet sources: a pcap or pcapng file (or standard input), or a live interface, through
// libpcap. One class, not an interface: libpcap already hides the difference, and the engine
// is tested by feeding it segments directly.
//
// One exception, for speed: a classic pcap file (not pcapng, not a pipe) is read by our own
// record reader. libpcap's offline reader makes two stdio reads per record through a 4 KiB
// buffer; on its own it read 1.6 GB/s of a wrk capture here, more than half of the time budget
// of the whole capture (≥ 1 GB/s per core). Ours reads 4 MiB at a time and hands each record
// in place from that buffer. libpcap still compiles and runs the BPF filter
// (pcap_offline_filter) and reads everything else.

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <string>

#include "twin/traffic/result.h"

namespace twin::capture {

struct LiveOptions {
  int snaplen = 262144;
  size_t buffer_size = 256u << 20;  // kernel ring buffer
  int timeout_ms = 100;             // how often next() returns kTimeout when idle
  bool immediate = true;            // deliver packets at once (else in blocks, every timeout_ms)
};

/// One captured packet. `data` is valid until the next call to next().
struct RawPacket {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t wirelen = 0;
  int64_t time = 0;  // ns since the epoch
};

class PcapSource;
using PcapSourcePtr = std::unique_ptr<PcapSource>;

/// Owns a pcap_t. Not thread-safe.
class PcapSource {
 public:
  enum class Next { kPacket, kTimeout, kEnd, kError };

  /// Opens a pcap or pcapng file; "-" reads standard input. Errors name the file.
  static Result<PcapSourcePtr> open_file(const std::string& path);
  /// Opens a live interface in immediate mode (root or CAP_NET_RAW), non-blocking: next()
  /// waits at most LiveOptions::timeout_ms, and a signal interrupts the wait.
  static Result<PcapSourcePtr> open_live(const std::string& interface, const LiveOptions& options);
  /// Applies a BPF filter (empty: none). Call after checking the link type: libpcap cannot
  /// compile filters for every link type.
  Result<void> set_filter(const std::string& filter);
  ~PcapSource();
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  Next next(RawPacket& packet);
  /// After kError: one line naming the file (or interface), the packet number and, for a file,
  /// the byte offset where reading failed.
  const std::string& error() const { return error_; }

  int linktype() const { return linktype_; }
  bool live() const { return live_; }
  const std::string& name() const { return name_; }
  uint64_t packets_read() const { return packets_; }

  struct Stats {
    uint64_t received = 0;
    uint64_t dropped = 0;
    uint64_t interface_dropped = 0;
  };
  /// Kernel counters of a live capture (zeros for a file). libpcap's counters are 32 bits
  /// and wrap; this keeps 64-bit totals as long as it is called more often than they wrap.
  Stats stats();

 private:
  PcapSource() = default;
  /// Our classic pcap reader (see the top of this file).
  Next next_own(RawPacket& packet);
  /// Makes at least `need` bytes available at buf_[head_..]; false at the end of the file.
  bool fill(size_t need);
  std::string where() const;

  pcap_t* pcap_ = nullptr;
  std::string name_;
  bool live_ = false;
  int linktype_ = 0;
  bool nano_ = false;
  uint64_t packets_ = 0;
  uint64_t offset_ = 0;  // pcap (not pcapng) files: offset of the next record, computed
  bool pcapng_ = false;
  bool filtered_ = false;
  std::string error_;
  Stats totals_;
  // our classic pcap reader
  bool own_ = false;
  int fd_ = -1;
  bool swapped_ = false;
  std::string buf_;
  size_t head_ = 0;
  size_t tail_ = 0;
  bool eof_ = false;
  bpf_program program_{};
  bool has_program_ = false;
  int timeout_ms_ = 100;
  unsigned last_recv_ = 0, last_drop_ = 0, last_ifdrop_ = 0;
};

}  // namespace twin::capture
