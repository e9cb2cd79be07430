// The .twin archive: round trips, recovery from truncation at every byte, corruption, versions,
// metadata blocks, seeking by time, and the record codec against every truncation.

#include "twin/traffic/archive.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codec.h"
#include "exchange_gen.h"
#include "files.h"

namespace twin::traffic {
namespace {

using test::slurp;
using test::spit;
using test::TempDir;

void write_archive(const std::string& path, const std::vector<Exchange>& exchanges,
                   size_t block_size = 1 << 20) {
  WriterOptions options;
  options.block_size = block_size;
  options.metadata = {{"test", "archive"}};
  auto w = Writer::open(path, options);
  ASSERT_TRUE(w.has_value()) << w.error().message;
  for (const auto& e : exchanges) ASSERT_TRUE((*w)->append(e).has_value());
  ASSERT_TRUE((*w)->close().has_value());
  EXPECT_EQ((*w)->count(), exchanges.size());
}

struct ReadBack {
  std::vector<Exchange> exchanges;
  std::vector<Damage> damage;
  bool opened = false;
  std::string error;
};

ReadBack read_archive(const std::string& path) {
  ReadBack out;
  auto r = Reader::open(path);
  if (!r) {
    out.error = r.error().message;
    return out;
  }
  out.opened = true;
  Exchange e;
  while (true) {
    auto more = (*r)->next(e);
    if (!more) {
      out.error = more.error().message;
      break;
    }
    if (!*more) break;
    out.exchanges.push_back(e);
  }
  out.damage = (*r)->damage();
  return out;
}

TEST(Archive, RoundTripsGeneratedExchangesAcrossManyBlocks) {
  TempDir dir;
  const auto path = dir.file("a.twin");
  const auto exchanges = gen::generate_exchanges(1, 400);
  write_archive(path, exchanges, 4096);
  auto r = Reader::open(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE((*r)->has_footer());
  EXPECT_EQ((*r)->indexed_count(), exchanges.size());
  EXPECT_GT((*r)->index().size(), 10u);
  EXPECT_EQ((*r)->metadata().value("test", ""), "archive");
  EXPECT_EQ((*r)->metadata()["producer"].value("name", ""), "twin");
  uint64_t ordinal = 0;
  for (const auto& b : (*r)->index()) {
    EXPECT_EQ(b.first_ordinal, ordinal);
    ordinal += b.records;
  }
  EXPECT_EQ(ordinal, exchanges.size());

  auto back = read_archive(path);
  EXPECT_TRUE(back.damage.empty());
  ASSERT_EQ(back.exchanges.size(), exchanges.size());
  for (size_t i = 0; i < exchanges.size(); ++i) {
    ASSERT_EQ(back.exchanges[i], exchanges[i]) << "exchange " << i;
  }
}

TEST(Archive, RoundTripsTenMegabyteBodiesEmptyArchivesAndExtremeValues) {
  TempDir dir;
  std::vector<Exchange> exchanges(3);
  exchanges[0].request.method = "PUT";
  exchanges[0].request.target = "/big";
  std::mt19937_64 rng(7);
  exchanges[0].request.body.resize(10u << 20);
  for (auto& c : exchanges[0].request.body) c = static_cast<char>(rng());
  exchanges[0].request.body_size = exchanges[0].request.body.size();
  exchanges[1].id = ~uint64_t{0};
  exchanges[1].time.request_start = std::numeric_limits<int64_t>::max();
  exchanges[1].time.request_end = std::numeric_limits<int64_t>::min() + 1;
  exchanges[1].time.intended = -5;
  exchanges[1].response.emplace().status = 599;
  exchanges[1].response->body_size = 1u << 30;  // truncated body: only its size is kept
  exchanges[1].flags = kFlagResponseBodyTruncated | (1u << 31);
  exchanges[2].request.headers = {{":method", "GET"}, {":path", "/"}, {"x-bin", "\xff\x00\x01"}};
  exchanges[2].client = *Endpoint::parse("[2001:db8::1]:65535");
  exchanges[2].server = *Endpoint::parse("10.0.0.1:80");

  const auto path = dir.file("big.twin");
  write_archive(path, exchanges);
  auto back = read_archive(path);
  EXPECT_TRUE(back.damage.empty());
  EXPECT_EQ(back.exchanges, exchanges);

  const auto empty = dir.file("empty.twin");
  write_archive(empty, {});
  auto none = read_archive(empty);
  EXPECT_TRUE(none.opened);
  EXPECT_TRUE(none.exchanges.empty());
  EXPECT_TRUE(none.damage.empty());
}

// A record is written in place after its length, whose varint is sized from the record's upper
// bound and moved up when the record came out shorter: records whose lengths straddle the
// varint's steps (127/128 bytes, 16,383/16,384), with bounds on both sides of them, and a block
// that has to grow past its reserve, all read back whole.
TEST(Archive, RecordLengthsAroundTheVarintStepsRoundTrip) {
  TempDir dir;
  std::vector<Exchange> exchanges;
  auto add = [&](size_t body, size_t headers) {
    Exchange e;
    e.id = exchanges.size() + 1;
    e.request.method = "POST";
    e.request.target = "/r";
    for (size_t i = 0; i < headers; ++i) e.request.headers.push_back({"x-h", std::string(i, 'v')});
    e.request.body.assign(body, 'b');
    e.request.body_size = body;
    exchanges.push_back(std::move(e));
  };
  for (size_t body = 0; body < 200; ++body) add(body, body % 3);
  for (size_t body = 16000; body < 16600; body += 7) add(body, body % 5);
  add(3u << 20, 2);  // larger than the block's reserve
  add(0, 0);
  const auto path = dir.file("steps.twin");
  write_archive(path, exchanges, 64 << 10);
  auto back = read_archive(path);
  EXPECT_TRUE(back.damage.empty());
  ASSERT_EQ(back.exchanges.size(), exchanges.size());
  for (size_t i = 0; i < exchanges.size(); ++i) ASSERT_EQ(back.exchanges[i], exchanges[i]) << i;
}

// Cut a small archive at every byte offset: every block that is complete before the cut is read
// back, nothing else, and the torn tail is reported exactly once.
TEST(Archive, TruncationAtEveryOffsetRecoversExactlyTheCompleteBlocks) {
  TempDir dir;
  const auto path = dir.file("full.twin");
  const auto exchanges = gen::generate_exchanges(2, 24);
  write_archive(path, exchanges, 700);
  const std::string bytes = slurp(path);

  auto full = Reader::open(path);
  ASSERT_TRUE(full.has_value());
  const auto index = (*full)->index();
  ASSERT_GE(index.size(), 3u);
  const uint64_t index_offset =
      bytes.size() - codec::kFooterSize - codec::kBlockHeaderSize - index.size() * 40;
  std::vector<uint64_t> block_end;
  for (size_t i = 0; i < index.size(); ++i) {
    block_end.push_back(i + 1 < index.size() ? index[i + 1].offset : index_offset);
  }
  const uint64_t header_size = index[0].offset;

  const auto cut_path = dir.file("cut.twin");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    spit(cut_path, std::string_view(bytes).substr(0, cut));
    auto back = read_archive(cut_path);
    if (cut < header_size) {
      EXPECT_FALSE(back.opened) << "cut at " << cut;
      EXPECT_NE(back.error.find(cut_path), std::string::npos) << back.error;
      continue;
    }
    ASSERT_TRUE(back.opened) << "cut at " << cut << ": " << back.error;
    size_t expected = 0;
    for (size_t i = 0; i < index.size(); ++i) {
      if (block_end[i] <= cut) expected += index[i].records;
    }
    ASSERT_EQ(back.exchanges.size(), expected) << "cut at " << cut;
    for (size_t i = 0; i < expected; ++i) ASSERT_EQ(back.exchanges[i], exchanges[i]);
    ASSERT_EQ(back.damage.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(back.damage[0].kind, Damage::Kind::kTornTail);
  }
}

TEST(Archive, BadPayloadChecksumSkipsOnlyThatBlockAndNamesItsOffset) {
  TempDir dir;
  const auto path = dir.file("a.twin");
  const auto exchanges = gen::generate_exchanges(3, 120);
  write_archive(path, exchanges, 2048);
  auto r = Reader::open(path);
  ASSERT_TRUE(r.has_value());
  const auto index = (*r)->index();
  ASSERT_GE(index.size(), 4u);
  std::string bytes = slurp(path);

  const size_t victim = index.size() / 2;
  bytes[index[victim].offset + codec::kBlockHeaderSize + 5] ^= 0x40;
  const auto bad = dir.file("bad.twin");
  spit(bad, bytes);
  auto back = read_archive(bad);
  ASSERT_EQ(back.damage.size(), 1u);
  EXPECT_EQ(back.damage[0].kind, Damage::Kind::kBadChecksum);
  EXPECT_EQ(back.damage[0].offset, index[victim].offset);
  EXPECT_NE(back.damage[0].describe(bad).find("offset " + std::to_string(index[victim].offset)),
            std::string::npos);

  std::vector<Exchange> expected;
  for (size_t b = 0; b < index.size(); ++b) {
    if (b == victim) continue;
    for (uint32_t i = 0; i < index[b].records; ++i) {
      expected.push_back(exchanges[index[b].first_ordinal + i]);
    }
  }
  EXPECT_EQ(back.exchanges, expected);
}

TEST(Archive, DamagedBlockHeaderResynchronisesAtTheNextBlock) {
  TempDir dir;
  const auto path = dir.file("a.twin");
  const auto exchanges = gen::generate_exchanges(4, 120);
  write_archive(path, exchanges, 2048);
  auto r = Reader::open(path);
  ASSERT_TRUE(r.has_value());
  const auto index = (*r)->index();
  std::string bytes = slurp(path);
  // Smash the length field of the first block: its header checksum fails.
  bytes[index[0].offset + 9] ^= 0x7f;
  const auto bad = dir.file("bad.twin");
  spit(bad, bytes);
  auto back = read_archive(bad);
  ASSERT_EQ(back.damage.size(), 1u);
  EXPECT_EQ(back.damage[0].kind, Damage::Kind::kBadBlockHeader);
  EXPECT_EQ(back.damage[0].offset, index[0].offset);
  ASSERT_EQ(back.exchanges.size(), exchanges.size() - index[0].records);
  EXPECT_EQ(back.exchanges.front(), exchanges[index[1].first_ordinal]);
  EXPECT_EQ(back.exchanges.back(), exchanges.back());
}

TEST(Archive, RejectsRandomBytesFutureVersionsAndDamagedHeadersWithTheFileName) {
  TempDir dir;
  std::mt19937_64 rng(5);
  std::string junk(4096, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  const auto junk_path = dir.file("junk.twin");
  spit(junk_path, junk);
  auto r = Reader::open(junk_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, junk_path + ": offset 0: not a twin archive (no .twin magic)");

  const auto path = dir.file("a.twin");
  write_archive(path, gen::generate_exchanges(6, 3));
  std::string bytes = slurp(path);
  std::string future = bytes;
  future[8] = 2;  // major version 2
  const auto future_path = dir.file("future.twin");
  spit(future_path, future);
  r = Reader::open(future_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(future_path + ": offset 8: format version 2.0"),
            std::string::npos)
      << r.error().message;

  std::string meta = bytes;
  meta[20] ^= 1;  // inside the header metadata: the header checksum fails
  const auto meta_path = dir.file("meta.twin");
  spit(meta_path, meta);
  r = Reader::open(meta_path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("header checksum mismatch"), std::string::npos);

  r = Reader::open(dir.file("missing.twin"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("missing.twin: cannot open"), std::string::npos);
}

TEST(Archive, MetadataBlocksMergeInFileOrderAndSurviveATornTail) {
  TempDir dir;
  const auto path = dir.file("m.twin");
  const auto exchanges = gen::generate_exchanges(8, 10);
  {
    WriterOptions options;
    options.metadata = {{"source", "test"}, {"counters", {{"packets", 0}}}};
    auto w = Writer::open(path, options);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE((*w)->append(exchanges[0]).has_value());
    ASSERT_TRUE((*w)->put_metadata({{"counters", {{"packets", 10}, {"drops", 1}}}}).has_value());
    for (size_t i = 1; i < exchanges.size(); ++i)
      ASSERT_TRUE((*w)->append(exchanges[i]).has_value());
    ASSERT_TRUE((*w)->put_metadata({{"counters", {{"packets", 25}}}}).has_value());
    ASSERT_TRUE((*w)->close().has_value());
  }
  auto r = Reader::open(path);
  ASSERT_TRUE(r.has_value());
  auto meta = (*r)->final_metadata();
  EXPECT_EQ(meta["counters"]["packets"], 25);
  EXPECT_EQ(meta["counters"]["drops"], 1);
  EXPECT_EQ(meta["source"], "test");
  // Streaming: metadata() holds what has been read so far.
  EXPECT_EQ((*r)->metadata()["counters"]["packets"], 0);
  Exchange e;
  ASSERT_TRUE(*(*r)->next(e));
  ASSERT_TRUE(*(*r)->next(e));
  EXPECT_EQ((*r)->metadata()["counters"]["packets"], 10);

  // Torn after the last metadata block (no index, no footer): the counters are still found.
  std::string bytes = slurp(path);
  const auto torn = dir.file("torn.twin");
  spit(torn, std::string_view(bytes).substr(0, bytes.size() - codec::kFooterSize - 10));
  r = Reader::open(torn);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE((*r)->has_footer());
  EXPECT_EQ((*r)->final_metadata()["counters"]["packets"], 25);
}

TEST(Archive, SeekByTimeFindsEveryLaterExchangeWithAndWithoutIndex) {
  TempDir dir;
  auto exchanges = gen::generate_exchanges(9, 300);
  int64_t t = 1'700'000'000'000'000'000;
  for (auto& e : exchanges) {
    t += 1'000'000;  // 1 ms apart, in order
    e.time.request_start = t;
  }
  const auto path = dir.file("s.twin");
  write_archive(path, exchanges, 4096);
  const int64_t from = exchanges[200].time.request_start;
  std::string bytes = slurp(path);
  const auto torn = dir.file("torn.twin");
  spit(torn, std::string_view(bytes).substr(0, bytes.size() - 1));

  for (const auto& p : {path, torn}) {
    auto r = Reader::open(p);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE((*r)->seek_time(from).has_value());
    std::vector<uint64_t> ids;
    Exchange e;
    bool skipped_early = false;
    while (*(*r)->next(e)) {
      if (e.time.request_start < from) {
        skipped_early = true;  // part of the block holding `from`
        continue;
      }
      ids.push_back(e.id);
    }
    ASSERT_EQ(ids.size(), 100u) << p;
    EXPECT_EQ(ids.front(), exchanges[200].id);
    EXPECT_TRUE(skipped_early || exchanges.size() == 100u);
  }
}

TEST(Archive, OversizedBlocksAreDamageNotAllocations) {
  TempDir dir;
  const auto path = dir.file("a.twin");
  const auto exchanges = gen::generate_exchanges(10, 50);
  write_archive(path, exchanges, 2048);
  ReaderOptions tiny;
  tiny.max_block_size = 64;
  auto r = Reader::open(path, tiny);
  ASSERT_TRUE(r.has_value());
  Exchange e;
  uint64_t n = 0;
  while (*(*r)->next(e)) ++n;
  EXPECT_EQ(n, 0u);
  ASSERT_FALSE((*r)->damage().empty());
  EXPECT_EQ((*r)->damage()[0].kind, Damage::Kind::kBadPayload);
}

TEST(Archive, WritesToAndReadsFromPipes) {
  TempDir dir;
  const auto exchanges = gen::generate_exchanges(11, 40);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const auto path = dir.file("p.twin");
  write_archive(path, exchanges, 1024);
  const std::string bytes = slurp(path);
  // A pipe holds 64 KiB; keep the file below that so one thread can write then read.
  ASSERT_LT(bytes.size(), 60000u);
  ASSERT_EQ(write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fds[1]);
  const int saved = dup(STDIN_FILENO);
  dup2(fds[0], STDIN_FILENO);
  close(fds[0]);
  auto back = read_archive("-");
  dup2(saved, STDIN_FILENO);
  close(saved);
  EXPECT_TRUE(back.damage.empty());
  EXPECT_EQ(back.exchanges, exchanges);
}

TEST(Codec, EveryTruncationOfARecordFailsCleanlyAndTheWholeDecodes) {
  const auto exchanges = gen::generate_exchanges(12, 40);
  for (const auto& e : exchanges) {
    std::string rec;
    int64_t prev = 0;
    codec::encode_record(e, prev, rec);
    Exchange out;
    int64_t back_prev = 0;
    ASSERT_TRUE(codec::decode_record(rec.data(), rec.size(), back_prev, out));
    EXPECT_EQ(out, e);
    EXPECT_EQ(back_prev, prev);
    for (size_t cut = 0; cut < rec.size(); ++cut) {
      // A record ends with its response's body-size varint or the no-response byte, so no
      // proper prefix is a valid record.
      std::string prefix = rec.substr(0, cut);
      int64_t p = 0;
      EXPECT_FALSE(codec::decode_record(prefix.data(), prefix.size(), p, out)) << cut;
    }
  }
}

// Readers that only want requests (the replayer's planner) skip the captured responses.
TEST(Archive, RequestOnlyReadingKeepsEverythingButTheResponse) {
  TempDir dir;
  const auto path = dir.file("a.twin");
  auto exchanges = gen::generate_exchanges(5, 300);
  exchanges[7].response.reset();
  write_archive(path, exchanges, 4096);
  ReaderOptions options;
  options.request_only = true;
  auto r = Reader::open(path, options);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Exchange e;  // reused, as the planner does: a record without response after one with
  size_t n = 0, with = 0;
  for (;; ++n) {
    auto more = (*r)->next(e);
    ASSERT_TRUE(more.has_value()) << more.error().message;
    if (!*more) break;
    ASSERT_LT(n, exchanges.size());
    Exchange want = exchanges[n];
    ASSERT_EQ(e.response.has_value(), want.response.has_value()) << n;
    if (want.response) {
      ++with;
      EXPECT_EQ(*e.response, Response{}) << n;
      want.response.emplace();
    }
    EXPECT_EQ(e, want) << n;
  }
  EXPECT_EQ(n, exchanges.size());
  EXPECT_GT(with, 200u);
  EXPECT_TRUE((*r)->damage().empty());
}

// docs/FORMAT.md lists the header name table so that other tools can read records; it must be
// the table the code uses.
TEST(Codec, HeaderNameTableMatchesTheFormatDocument) {
  std::ifstream doc(std::string(TWIN_SOURCE_DIR) + "/docs/FORMAT.md");
  ASSERT_TRUE(doc.good());
  std::string line;
  while (std::getline(doc, line) && line.rfind(":authority", 0) != 0) {
  }
  std::vector<std::string> documented;
  do {
    std::istringstream words(line);
    for (std::string w; words >> w;) documented.push_back(w);
  } while (std::getline(doc, line) && line != "```");
  const auto table = codec::header_name_table();
  ASSERT_EQ(documented.size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) EXPECT_EQ(documented[i], table[i]) << i;

  // Both spellings of a table name take one byte; an unknown name is stored whole.
  for (const char* name : {"Content-Type", "content-type", "X-Unknown-Header"}) {
    Exchange e;
    e.request.headers = {{name, "v"}};
    std::string rec;
    int64_t prev = 0;
    codec::encode_record(e, prev, rec);
    Exchange back;
    prev = 0;
    ASSERT_TRUE(codec::decode_record(rec.data(), rec.size(), prev, back));
    EXPECT_EQ(back.request.headers[0].name, name);
    Exchange plain;
    std::string base;
    prev = 0;
    codec::encode_record(plain, prev, base);
    const size_t expected = base.size() + (std::string_view(name)[0] == 'X' ? 20 : 3);
    EXPECT_EQ(rec.size(), expected) << name;
  }
}

// Short fields are copied and names compared a word at a time (codec.cc): every length up to
// 40 comes back byte for byte, and a table name with any one byte changed, or one shorter or
// longer, is not taken for the table's name, whichever name the same header had before.
TEST(Codec, FieldsOfEveryLengthAndNearlyTableNamesRoundTrip) {
  auto text = [](size_t n, int salt) {
    std::string t(n, '\0');
    for (size_t i = 0; i < n; ++i) t[i] = static_cast<char>('!' + (i * 7 + salt) % 90);
    return t;
  };
  std::vector<Exchange> xs;
  for (size_t n = 0; n <= 40; ++n) {
    Exchange e;
    e.target = text(n, 1);
    e.request.method = text(n, 2);
    e.request.target = text(n, 3);
    e.request.authority = text(n, 4);
    e.request.headers = {{text(n == 0 ? 1 : n, 5), text(n, 6)}, {"Content-Type", text(n, 7)}};
    e.request.body = text(n, 8);
    e.request.body_size = n;
    e.response = Response{};
    e.response->reason = text(n, 9);
    e.response->headers = {{"Server", text(n, 10)}};
    e.response->body = text(n, 11);
    e.response->body_size = n;
    xs.push_back(e);
  }
  for (const std::string name : {"Content-Type", "Cache-Control", "Strict-Transport-Security"}) {
    for (size_t at = 0; at < name.size(); ++at) {
      std::string near = name;
      near[at] = static_cast<char>(near[at] ^ 0x01);
      for (const std::string& n : {near, name, name.substr(0, at), name + "x"}) {
        if (n.empty()) continue;
        Exchange e;
        e.request.headers = {{n, "v"}};
        xs.push_back(e);
      }
    }
  }
  int64_t prev = 0, back_prev = 0;
  for (const auto& e : xs) {
    std::string rec;
    codec::encode_record(e, prev, rec);
    Exchange out;
    ASSERT_TRUE(codec::decode_record(rec.data(), rec.size(), back_prev, out));
    ASSERT_EQ(out, e);
  }
}

TEST(Codec, VarintsAndZigzagRoundTripAtTheEdges) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{16383},
                     uint64_t{16384}, ~uint64_t{0}, uint64_t{1} << 63}) {
    std::string s;
    codec::put_varint(s, v);
    codec::Input in(s.data(), s.size());
    uint64_t back;
    ASSERT_TRUE(in.varint(back));
    EXPECT_EQ(back, v);
    EXPECT_EQ(in.left(), 0u);
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(codec::unzigzag(codec::zigzag(v)), v);
  }
  // An 11-byte varint and a 10-byte one with bits above 64 are both rejected.
  const std::string too_long(11, '\x80');
  codec::Input a(too_long.data(), too_long.size());
  uint64_t v;
  EXPECT_FALSE(a.varint(v));
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');
  codec::Input b(overflow.data(), overflow.size());
  EXPECT_FALSE(b.varint(v));
}

}  // namespace
}  // namespace twin::traffic
