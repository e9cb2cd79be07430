#pragma once
// TCP reassembly of one direction of a connection: segments in, bytes in stream order out.
//
// Why our own: libpcap hands packets, not streams, and the reassemblers we could use (libnids,
// tcpflow's) are either unmaintained, not in Debian as libraries, or do not report what we need:
// exactly which bytes were lost (a gap, with its length), which segments were retransmitted or
// overlapped, and bounded memory with counted drops.
//
// Sequence numbers are unwrapped to 64-bit offsets from the direction's first byte, so a stream
// longer than 4 GiB reassembles like any other. Out-of-order segments wait in a queue bounded
// by a per-direction byte cap. A hole becomes a gap (reported once, with its length) when the
// peer has acknowledged bytes past it for longer than a grace period (so the bytes were sent and
// received but never captured; the grace lets captures merged from several NIC queues, where an
// ACK may come a little before the data it acknowledges, fill the hole first), when the queue
// outgrows its cap, or when the stream ends. Overlapping bytes: the first copy seen
// wins, as on most receivers; the rest of an overlapping segment is used.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "twin/capture/counters.h"

namespace twin::capture {

/// Receives one direction's bytes in order. Implemented by the connection that owns the
/// reassembler (and by tests).
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  virtual void on_data(std::string_view bytes, int64_t time) = 0;
  virtual void on_gap(uint64_t length, int64_t time) = 0;
  /// FIN (reset = false) once every byte before it was delivered or declared a gap, or RST.
  virtual void on_end(bool reset, int64_t time) = 0;
};

struct ReassemblyOptions {
  /// Bytes of out-of-order segments one direction may hold. Beyond it the first hole is
  /// declared a gap (counted) so that the queue can drain.
  size_t max_buffer = 4u << 20;
  /// A segment starting further than this past the next expected byte is not a plausible part
  /// of the stream (a corrupt or foreign packet): it is dropped and counted as an anomaly.
  uint64_t max_ahead = 256u << 20;
  /// How long (packet time) the peer must have acknowledged bytes past a hole before the hole
  /// is declared a gap.
  int64_t ack_grace = 50'000'000;
};

/// One direction. Not thread-safe; owned by its connection.
class TcpReassembler {
 public:
  TcpReassembler() = default;
  TcpReassembler(const TcpReassembler&) = delete;
  TcpReassembler& operator=(const TcpReassembler&) = delete;

  /// Sets the sequence number of the direction's first byte (ISN + 1 after a SYN, or the first
  /// segment's sequence number when the connection is picked up midstream). Once.
  void start(uint32_t first_seq);
  bool started() const { return started_; }
  bool ended() const { return ended_; }

  /// Adds one segment: `payload` holds the captured bytes, `length` the payload length on the
  /// wire (larger when the snap length cut the packet: the missing tail is a gap).
  void add(uint32_t seq, std::string_view payload, uint32_t length, bool fin, int64_t time,
           StreamConsumer& consumer, Counters& counters, const ReassemblyOptions& options);
  /// The peer acknowledged everything before `ack`: a hole before it, still open after the
  /// grace period, will never be filled.
  void acked(uint32_t ack, int64_t time, StreamConsumer& consumer, Counters& counters,
             const ReassemblyOptions& options);
  /// A RST: delivers what is queued (holes become gaps), then on_end(reset = true).
  void reset(int64_t time, StreamConsumer& consumer, Counters& counters);
  /// The connection is over (timeout, eviction, end of capture): delivers what is queued,
  /// holes becoming gaps, and ends the direction if a FIN was queued. Does not call on_end
  /// otherwise: the caller finishes the analyzer itself.
  void flush(int64_t time, StreamConsumer& consumer, Counters& counters);

  /// Drops the queue without delivering it (the connection's bytes are being ignored).
  void clear() {
    queue_.clear();
    buffered_ = 0;
  }

  /// True when every byte before `ack` (a sequence number of this direction, as the peer
  /// acknowledges it) was delivered or declared lost; also when not started or ended.
  bool delivered_through(uint32_t ack) const {
    return !started_ || ended_ || unwrap(ack) <= static_cast<int64_t>(next_);
  }

  /// Bytes held in the out-of-order queue.
  size_t buffered() const { return buffered_; }
  /// Bytes delivered or declared lost so far (the stream offset of the next byte).
  uint64_t offset() const { return next_; }

 private:
  struct Pending {
    std::string bytes;    // captured bytes
    uint32_t length = 0;  // wire length (>= bytes.size())
    bool fin = false;
    int64_t time = 0;
  };

  /// The 64-bit stream offset of `seq`, taken as the one closest to next_ (may be negative:
  /// before the start).
  int64_t unwrap(uint32_t seq) const;
  /// Delivers a segment that starts at or before next_ (the part before next_ is skipped).
  void deliver(int64_t offset, std::string_view bytes, uint32_t length, bool fin, int64_t time,
               StreamConsumer& consumer, Counters& counters);
  /// Delivers queued segments that became contiguous.
  void drain(StreamConsumer& consumer, Counters& counters);
  /// Declares the bytes up to `offset` lost (a gap) and drains what follows.
  void skip_to(uint64_t offset, int64_t time, StreamConsumer& consumer, Counters& counters);
  void end(bool reset, int64_t time, StreamConsumer& consumer);

  bool started_ = false;
  bool ended_ = false;
  uint32_t base_seq_ = 0;  // sequence number of offset 0
  uint64_t next_ = 0;      // offset of the next byte to deliver
  std::map<uint64_t, Pending> queue_;
  size_t buffered_ = 0;
  // The hole at offset hole_ was first acknowledged past at hole_acked_at_ (packet time).
  uint64_t hole_ = 0;
  int64_t hole_acked_at_ = 0;
  bool hole_acked_ = false;
};

}  // namespace twin::capture
