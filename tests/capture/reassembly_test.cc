// TCP reassembly of one direction: order, retransmissions, overlaps, holes that become gaps,
// snapped segments, FIN and RST, caps, and sequence numbers that wrap.

#include "reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace twin::capture {
namespace {

/// Records what the reassembler delivers: bytes, with each gap written as '#'×length (tests keep
/// gaps short) and counted separately.
struct Recorder : StreamConsumer {
  std::string bytes;
  std::vector<uint64_t> gaps;
  std::vector<int64_t> times;
  int ends = 0;
  bool reset = false;
  void on_data(std::string_view b, int64_t time) override {
    EXPECT_EQ(ends, 0) << "data after the end";
    bytes.append(b);
    times.push_back(time);
  }
  void on_gap(uint64_t length, int64_t) override {
    EXPECT_EQ(ends, 0) << "gap after the end";
    gaps.push_back(length);
    bytes.append(length, '#');
  }
  void on_end(bool r, int64_t) override {
    ++ends;
    reset = r;
  }
};

struct Fixture : ::testing::Test {
  TcpReassembler r;
  Recorder out;
  Counters counters;
  ReassemblyOptions options;

  void add(uint32_t seq, std::string_view payload, bool fin = false, int64_t time = 0) {
    r.add(seq, payload, static_cast<uint32_t>(payload.size()), fin, time, out, counters, options);
  }
};

using Reassembly = Fixture;

TEST_F(Reassembly, InOrderBytesPassStraightThrough) {
  r.start(1000);
  add(1000, "GET / ", false, 1);
  add(1006, "HTTP/1.1\r\n", false, 2);
  add(1016, "", true, 3);
  EXPECT_EQ(out.bytes, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(out.times, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(out.ends, 1);
  EXPECT_FALSE(out.reset);
  EXPECT_TRUE(r.ended());
  EXPECT_EQ(counters.segments_out_of_order, 0u);
  EXPECT_EQ(counters.gaps, 0u);
}

TEST_F(Reassembly, OutOfOrderSegmentsWaitForTheHole) {
  r.start(0);
  add(5, "fghij");
  add(10, "klm");
  EXPECT_EQ(out.bytes, "");
  EXPECT_EQ(r.buffered(), 8u);
  add(0, "abcde");
  EXPECT_EQ(out.bytes, "abcdefghijklm");
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_EQ(counters.segments_out_of_order, 2u);
}

TEST_F(Reassembly, RetransmissionsAreCountedNotRepeated) {
  r.start(0);
  add(0, "abc");
  add(0, "abc");
  add(3, "def");
  add(0, "abc");
  EXPECT_EQ(out.bytes, "abcdef");
  EXPECT_EQ(counters.segments_retransmitted, 2u);
}

TEST_F(Reassembly, OverlapDeliversOnlyTheNewPartAndTheFirstCopyWins) {
  r.start(0);
  add(0, "abcd");
  add(2, "XXef");  // "XX" overlaps bytes already delivered: the first copy ("cd") stands
  EXPECT_EQ(out.bytes, "abcdef");
  EXPECT_EQ(counters.segments_overlapping, 1u);
}

TEST_F(Reassembly, QueuedDuplicateKeepsTheLongerCopy) {
  r.start(0);
  add(4, "ef");
  add(4, "efgh");
  add(4, "e");
  add(0, "abcd");
  EXPECT_EQ(out.bytes, "abcdefgh");
  EXPECT_EQ(counters.segments_retransmitted, 1u);
}

TEST_F(Reassembly, SequenceNumbersWrapAround) {
  const uint32_t start = 0xfffffff0u;
  r.start(start);
  add(start, "0123456789abcdef");  // ends exactly at 2^32
  add(0x4u, "WXYZ");               // after the wrap, queued behind the hole at 0..3
  add(0x0u, "wxyz");
  EXPECT_EQ(out.bytes, "0123456789abcdefwxyzWXYZ");
  EXPECT_EQ(r.offset(), 24u);
}

TEST_F(Reassembly, StreamsLongerThanFourGigabytesKeepTheirOffsets) {
  // 4.5 GiB in 1 MiB segments, the sequence number wrapping once; the consumer only counts.
  struct Counter : StreamConsumer {
    uint64_t n = 0;
    void on_data(std::string_view b, int64_t) override { n += b.size(); }
    void on_gap(uint64_t, int64_t) override { ADD_FAILURE() << "gap"; }
    void on_end(bool, int64_t) override {}
  } counter;
  const std::string mib(1u << 20, 'x');
  const uint32_t isn = 123456789;
  r.start(isn);
  uint64_t offset = 0;
  for (int i = 0; i < 4608; ++i) {
    r.add(isn + static_cast<uint32_t>(offset), mib, static_cast<uint32_t>(mib.size()), false, 0,
          counter, counters, options);
    offset += mib.size();
  }
  EXPECT_EQ(counter.n, offset);
  EXPECT_EQ(r.offset(), offset);
  EXPECT_EQ(counters.segments_retransmitted, 0u);
}

TEST_F(Reassembly, AHoleAcknowledgedByThePeerBecomesAGapAfterTheGrace) {
  options.ack_grace = 50;
  r.start(100);
  add(100, "abc");
  add(110, "klm");                             // bytes 103..109 were never captured
  r.acked(105, 1000, out, counters, options);  // the peer has 100..104
  EXPECT_TRUE(out.gaps.empty());               // ... but the bytes may still come: grace
  r.acked(105, 1049, out, counters, options);
  EXPECT_TRUE(out.gaps.empty());
  r.acked(105, 1050, out, counters, options);  // grace over: bytes 103,104 are lost for good
  EXPECT_EQ(out.gaps, (std::vector<uint64_t>{2}));
  EXPECT_EQ(out.bytes, "abc##");
  r.acked(113, 1051, out, counters, options);  // a new hole (105..109): its own grace
  EXPECT_EQ(out.gaps.size(), 1u);
  r.acked(113, 2000, out, counters, options);  // now everything up to 113 was received
  EXPECT_EQ(out.gaps, (std::vector<uint64_t>{2, 5}));
  EXPECT_EQ(out.bytes, "abc#######klm");
  EXPECT_EQ(counters.gaps, 2u);
  EXPECT_EQ(counters.gap_bytes, 7u);
}

TEST_F(Reassembly, AnAckWithNothingQueuedDeclaresNoGap) {
  // The ACK may be captured before the data it acknowledges; only a queued segment proves a hole.
  r.start(0);
  add(0, "abc");
  r.acked(10, 0, out, counters, options);
  add(3, "defghij");
  EXPECT_EQ(out.bytes, "abcdefghij");
  EXPECT_TRUE(out.gaps.empty());
}

TEST_F(Reassembly, DataArrivingWithinTheGraceAfterItsAckFillsTheHole) {
  // Captures merged from several queues: the ACK for bytes 3..9 is seen before the bytes.
  options.ack_grace = 50;
  r.start(0);
  add(0, "abc", false, 0);
  add(7, "hij", false, 1);
  r.acked(10, 2, out, counters, options);
  add(3, "defg", false, 3);
  EXPECT_EQ(out.bytes, "abcdefghij");
  EXPECT_TRUE(out.gaps.empty());
}

TEST_F(Reassembly, SnappedSegmentDeliversWhatWasCapturedThenAGap) {
  r.start(0);
  r.add(0, "abcd", 10, false, 0, out, counters, options);  // 6 bytes cut by the snap length
  add(10, "klm");
  EXPECT_EQ(out.bytes, "abcd######klm");
  EXPECT_EQ(counters.gap_bytes, 6u);
}

TEST_F(Reassembly, FinAfterAHoleEndsAtFlushWithTheGap) {
  r.start(0);
  add(0, "abc");
  add(6, "ghi", true);
  EXPECT_EQ(out.ends, 0);
  r.flush(0, out, counters);
  EXPECT_EQ(out.bytes, "abc###ghi");
  EXPECT_EQ(out.ends, 1);
  EXPECT_FALSE(out.reset);
}

TEST_F(Reassembly, FinIsDeliveredWhenTheHoleBeforeItFills) {
  r.start(0);
  add(3, "", true);
  add(0, "abc");
  EXPECT_EQ(out.bytes, "abc");
  EXPECT_EQ(out.ends, 1);
  add(3, "", true);  // a retransmitted FIN after the end changes nothing
  EXPECT_EQ(out.ends, 1);
}

TEST_F(Reassembly, ResetDeliversQueuedBytesThenEnds) {
  r.start(0);
  add(0, "ab");
  add(4, "ef");
  r.reset(0, out, counters);
  EXPECT_EQ(out.bytes, "ab##ef");
  EXPECT_EQ(out.ends, 1);
  EXPECT_TRUE(out.reset);
}

TEST_F(Reassembly, QueueCapGivesTheHoleUp) {
  options.max_buffer = 10;
  r.start(0);
  add(0, "a");
  add(5, "fghij");   // 5 queued
  add(10, "klmno");  // 10 queued: at the cap, not over it
  EXPECT_TRUE(out.gaps.empty());
  add(20, "uvw");  // 13 queued: over; the hole 1..4 is given up and 5..14 delivered
  EXPECT_EQ(out.bytes, "a####fghijklmno");
  EXPECT_EQ(counters.anomaly_count("tcp.queue_full"), 1u);
  EXPECT_EQ(r.buffered(), 3u);
}

TEST_F(Reassembly, SegmentFarAheadIsDroppedAsImplausible) {
  options.max_ahead = 1000;
  r.start(0);
  add(5000, "zzz");
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_EQ(counters.anomaly_count("tcp.segment_out_of_window"), 1u);
  add(0, "abc");
  EXPECT_EQ(out.bytes, "abc");
}

TEST_F(Reassembly, AnyArrivalOrderWithDuplicatesGivesTheSameStream) {
  // A 4000-byte stream cut into segments of random sizes, then delivered shuffled (within a
  // window, as networks reorder), with random duplicates and overlapping re-cuts.
  std::string stream;
  for (int i = 0; i < 4000; ++i) stream.push_back(static_cast<char>('a' + i % 26));
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    struct Seg {
      uint32_t off;
      uint32_t len;
    };
    std::vector<Seg> segs;
    for (uint32_t off = 0; off < stream.size();) {
      uint32_t len =
          std::min<uint32_t>(1 + rng() % 300, static_cast<uint32_t>(stream.size()) - off);
      segs.push_back({off, len});
      if (rng() % 5 == 0) segs.push_back({off, len});  // duplicate
      if (rng() % 7 == 0 && off > 10) segs.push_back({off - 10, std::min<uint32_t>(len + 10, 200)});
      off += len;
    }
    for (size_t i = 0; i + 1 < segs.size(); ++i) {
      const size_t j = i + rng() % std::min<size_t>(6, segs.size() - i);
      std::swap(segs[i], segs[j]);
    }
    TcpReassembler ra;
    Recorder rec;
    Counters c;
    const uint32_t isn = rng();
    ra.start(isn);
    for (const Seg& s : segs) {
      ra.add(isn + s.off, std::string_view(stream).substr(s.off, s.len), s.len, false, 0, rec, c,
             options);
    }
    ASSERT_EQ(rec.bytes, stream) << "seed " << seed;
    ASSERT_EQ(ra.buffered(), 0u) << "seed " << seed;
    ASSERT_EQ(c.gaps, 0u);
  }
}

}  // namespace
}  // namespace twin::capture
