#pragma once
// The capture's accounting: every packet, byte, drop, gap, eviction and anomaly is counted here,
// shown at the end of a run (and every few seconds on a terminal) and written into the archive's
// metadata under "capture". Nothing the capture does not turn into an exchange goes uncounted.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace twin::capture {

/// Plain counters, owned by one capture (one thread). Not thread-safe.
struct Counters {
  // packets
  uint64_t packets = 0;           // packets read from the source
  uint64_t bytes = 0;             // captured bytes of those packets (caplen)
  uint64_t kernel_received = 0;   // pcap_stats ps_recv (live only)
  uint64_t kernel_drops = 0;      // pcap_stats ps_drop: dropped for lack of buffer space
  uint64_t interface_drops = 0;   // pcap_stats ps_ifdrop: dropped by the interface or driver
  uint64_t packets_not_tcp = 0;   // IP packets that are not TCP (UDP, ICMP, ...): not ours
  uint64_t packets_not_ip = 0;    // link frames that carry neither IPv4 nor IPv6 (ARP, LLDP...)
  uint64_t packets_snapped = 0;   // packets cut by the snap length (payload missing: a gap)
  uint64_t packets_filtered = 0;  // TCP segments outside --port, or of unsampled sessions
  // IP fragments
  uint64_t fragments = 0;              // IP fragments received
  uint64_t fragments_reassembled = 0;  // datagrams rebuilt from fragments
  uint64_t fragments_expired = 0;      // fragments dropped: their datagram never completed
  // TCP
  uint64_t flows = 0;                  // TCP connections seen
  uint64_t flows_midstream = 0;        // connections first seen without their SYN
  uint64_t flows_not_http = 0;         // connections whose bytes are not HTTP (TLS, other): ignored
  uint64_t flows_unsampled = 0;        // connections left out by --sample
  uint64_t flows_idle_closed = 0;      // connections closed by the idle timeout
  uint64_t flows_evicted = 0;          // connections dropped to keep under --max-flows or memory
  uint64_t segments_out_of_order = 0;  // segments that arrived ahead of a hole and were queued
  uint64_t segments_retransmitted = 0;  // segments whose bytes were all seen before
  uint64_t segments_overlapping = 0;    // segments partly seen before (the new part is used)
  uint64_t segments_dropped = 0;        // queued segments dropped by a memory cap (become gaps)
  uint64_t gaps = 0;                    // holes in a byte stream that were never filled
  uint64_t gap_bytes = 0;               // bytes in those holes
  // HTTP
  uint64_t exchanges = 0;              // exchanges written
  uint64_t exchanges_no_response = 0;  // ... of which the request never got a response
  uint64_t exchanges_gap = 0;          // ... of which lost bytes (kFlagGap)
  uint64_t bodies_truncated = 0;       // bodies cut at --max-body (the exchange is complete)
  uint64_t messages_skipped = 0;       // HTTP messages skipped while resynchronising
  uint64_t exchanges_over_limit = 0;   // exchanges decoded after --max-exchanges was reached
  uint64_t exchanges_unwritten = 0;    // exchanges decoded but not written (write error, stop)

  /// Typed anomalies by name, "<layer>.<what>" ("http1.bad_chunk_size", "ip.bad_checksum"...).
  /// Anomalies are data, not errors: the capture counts them and carries on.
  std::map<std::string, uint64_t, std::less<>> anomalies;

  void anomaly(std::string_view kind, uint64_t n = 1);
  uint64_t anomaly_count(std::string_view kind) const;

  /// {"packets":..., ..., "anomalies":{...}}: every counter, zeros included.
  nlohmann::json to_json() const;
};

}  // namespace twin::capture
