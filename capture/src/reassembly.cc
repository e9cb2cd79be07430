#include "reassembly.h"

#include <algorithm>

namespace twin::capture {

void TcpReassembler::start(uint32_t first_seq) {
  if (started_) return;
  started_ = true;
  base_seq_ = first_seq;
  next_ = 0;
}

int64_t TcpReassembler::unwrap(uint32_t seq) const {
  // The distance from next_, taken modulo 2^32 as the nearest signed value: a stream may be
  // longer than 4 GiB, but no segment is 2 GiB away from where the stream is.
  const uint32_t rel = seq - base_seq_;
  const auto diff = static_cast<int32_t>(rel - static_cast<uint32_t>(next_));
  return static_cast<int64_t>(next_) + diff;
}

void TcpReassembler::add(uint32_t seq, std::string_view payload, uint32_t length, bool fin,
                         int64_t time, StreamConsumer& consumer, Counters& counters,
                         const ReassemblyOptions& options) {
  if (ended_) return;
  if (!started_) start(seq);
  if (length == 0 && !fin) return;
  if (payload.size() > length) payload = payload.substr(0, length);
  const int64_t offset = unwrap(seq);
  const int64_t wire_end = offset + static_cast<int64_t>(length);
  const auto next = static_cast<int64_t>(next_);

  if (wire_end < next || (wire_end == next && !fin)) {
    if (length > 0) ++counters.segments_retransmitted;
    return;
  }
  if (offset > next) {
    if (static_cast<uint64_t>(offset - next) > options.max_ahead) {
      counters.anomaly("tcp.segment_out_of_window");
      return;
    }
    const auto key = static_cast<uint64_t>(offset);
    auto it = queue_.find(key);
    if (it != queue_.end()) {
      // The same start again: a retransmission, possibly longer. Keep the longer copy.
      if (length <= it->second.length && (!fin || it->second.fin)) {
        ++counters.segments_retransmitted;
        return;
      }
      buffered_ -= it->second.bytes.size();
      queue_.erase(it);
    }
    ++counters.segments_out_of_order;
    Pending& p = queue_[key];
    p.bytes.assign(payload);
    p.length = length;
    p.fin = fin;
    p.time = time;
    buffered_ += p.bytes.size();
    while (buffered_ > options.max_buffer && !queue_.empty() && !ended_) {
      // The hole is not being filled and the queue is at its cap: give the hole up.
      counters.anomaly("tcp.queue_full");
      skip_to(queue_.begin()->first, time, consumer, counters);
    }
    return;
  }
  if (offset < next) ++counters.segments_overlapping;
  deliver(offset, payload, length, fin, time, consumer, counters);
  drain(consumer, counters);
}

void TcpReassembler::deliver(int64_t offset, std::string_view bytes, uint32_t length, bool fin,
                             int64_t time, StreamConsumer& consumer, Counters& counters) {
  const int64_t captured_end = offset + static_cast<int64_t>(bytes.size());
  const int64_t wire_end = offset + static_cast<int64_t>(length);
  auto next = static_cast<int64_t>(next_);
  if (captured_end > next) {
    consumer.on_data(bytes.substr(static_cast<size_t>(next - offset)), time);
    next_ = static_cast<uint64_t>(captured_end);
    next = captured_end;
  }
  if (wire_end > next) {
    // The snap length cut this segment: the rest of it was on the wire but not captured.
    const auto missing = static_cast<uint64_t>(wire_end - next);
    ++counters.gaps;
    counters.gap_bytes += missing;
    next_ = static_cast<uint64_t>(wire_end);
    consumer.on_gap(missing, time);
  }
  if (fin) end(false, time, consumer);
}

void TcpReassembler::drain(StreamConsumer& consumer, Counters& counters) {
  while (!ended_ && !queue_.empty()) {
    auto it = queue_.begin();
    if (it->first > next_) break;
    const auto offset = static_cast<int64_t>(it->first);
    Pending p = std::move(it->second);
    buffered_ -= p.bytes.size();
    queue_.erase(it);
    if (offset + static_cast<int64_t>(p.length) <= static_cast<int64_t>(next_) && !p.fin) {
      continue;  // wholly covered by what came before it
    }
    deliver(offset, p.bytes, p.length, p.fin, p.time, consumer, counters);
  }
}

void TcpReassembler::skip_to(uint64_t offset, int64_t time, StreamConsumer& consumer,
                             Counters& counters) {
  if (offset > next_) {
    const uint64_t missing = offset - next_;
    ++counters.gaps;
    counters.gap_bytes += missing;
    next_ = offset;
    // The hole is dated by the bytes that came after it, not by whatever made us give up on
    // it (an ACK after the grace, the end of the flow): the exchanges around it keep the
    // times their packets had.
    if (!queue_.empty()) time = std::min(time, queue_.begin()->second.time);
    consumer.on_gap(missing, time);
  }
  drain(consumer, counters);
}

void TcpReassembler::acked(uint32_t ack, int64_t time, StreamConsumer& consumer, Counters& counters,
                           const ReassemblyOptions& options) {
  if (!started_ || ended_ || queue_.empty()) return;
  const int64_t acked_to = unwrap(ack);
  if (acked_to <= static_cast<int64_t>(next_)) return;
  if (!hole_acked_ || hole_ != next_) {
    hole_acked_ = true;
    hole_ = next_;
    hole_acked_at_ = time;
  }
  if (time - hole_acked_at_ < options.ack_grace) return;
  hole_acked_ = false;
  // Everything before acked_to reached the peer. A hole before it was sent and received but
  // never captured: it will not be retransmitted, so it is a gap now.
  while (!ended_ && !queue_.empty() && static_cast<int64_t>(next_) < acked_to) {
    const uint64_t first = queue_.begin()->first;
    const uint64_t until = std::min<uint64_t>(first, static_cast<uint64_t>(acked_to));
    if (until <= next_) break;
    skip_to(until, time, consumer, counters);
  }
}

void TcpReassembler::reset(int64_t time, StreamConsumer& consumer, Counters& counters) {
  if (ended_) return;
  while (!ended_ && !queue_.empty()) skip_to(queue_.begin()->first, time, consumer, counters);
  if (!ended_) end(true, time, consumer);
}

void TcpReassembler::flush(int64_t time, StreamConsumer& consumer, Counters& counters) {
  while (!ended_ && !queue_.empty()) skip_to(queue_.begin()->first, time, consumer, counters);
}

void TcpReassembler::end(bool reset, int64_t time, StreamConsumer& consumer) {
  ended_ = true;
  queue_.clear();
  buffered_ = 0;
  consumer.on_end(reset, time);
}

}  // namespace twin::capture
