// The `twin` command as a user meets it: exit codes, one-line errors that name the file, and
// conversions through the real binary.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "exchange_gen.h"
#include "files.h"
#include "twin/traffic/archive.h"

namespace twin {
namespace {

namespace fs = std::filesystem;
using traffic::Exchange;

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
};

using test::slurp;
using test::spit;

class Cli : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return dir_.file(name); }

  /// Runs `twin ARGS` through the shell (ARGS are quoted by the caller where needed).
  Outcome run(const std::string& args, const std::string& stdin_file = "") {
    Outcome r;
    const std::string out = file("stdout"), err = file("stderr");
    std::string cmd = std::string(TWIN_BIN) + " " + args + " >" + out + " 2>" + err;
    if (!stdin_file.empty()) cmd += " <" + stdin_file;
    const int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  void write_twin(const std::string& path, const std::vector<Exchange>& exchanges,
                  size_t block_size = 1 << 20) {
    traffic::WriterOptions options;
    options.block_size = block_size;
    auto w = traffic::Writer::open(path, options);
    ASSERT_TRUE(w.has_value());
    for (const auto& e : exchanges) ASSERT_TRUE((*w)->append(e).has_value());
    ASSERT_TRUE((*w)->put_metadata({{"counters", {{"drops", 3}}}}).has_value());
    ASSERT_TRUE((*w)->close().has_value());
  }

  std::vector<Exchange> read_twin(const std::string& path) {
    std::vector<Exchange> out;
    auto r = traffic::Reader::open(path);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    if (!r) return out;
    Exchange e;
    while (*(*r)->next(e)) out.push_back(e);
    EXPECT_TRUE((*r)->damage().empty());
    return out;
  }

  test::TempDir dir_;
};

TEST_F(Cli, HelpListsOnlyTheWorkingCommandsAndUsageErrorsExitTwo) {
  auto help = run("--help");
  EXPECT_EQ(help.code, 0);
  // The subcommands are listed after "Subcommands:", one a line, name first.
  std::vector<std::string> listed;
  std::istringstream lines(help.out.substr(help.out.find("Subcommands:")));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (words >> name) listed.push_back(name);
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"pipeline", "capture", "scrub", "replay", "compare",
                                              "reproduce", "filter", "convert", "cat", "info"}));
  for (const char* sub :
       {"capture --help", "scrub --help", "replay --help", "compare --help", "reproduce --help",
        "filter --help", "convert --help", "cat --help", "info --help"}) {
    EXPECT_EQ(run(sub).code, 0) << sub;
  }
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("cat").code, 2);
  EXPECT_EQ(run("cat x.twin --format yaml").code, 2);
  auto r = run("convert a.twin -o b.twin --format xml");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
}

TEST_F(Cli, ReplayUsageErrorsExitTwoWithOneLine) {
  struct Case {
    const char* args;
    const char* names;  // what the one line must name
  };
  for (const Case& c : std::vector<Case>{
           {"replay", "input"},
           {"replay in.twin", "target"},
           {"replay in.twin --target ftp://h", "ftp://h"},
           {"replay in.twin --target http://h:99999", "http://h:99999"},
           {"replay in.twin --target a=http://h --target a=http://g", "'a'"},
           {"replay in.twin --target http://h --speed 2 --rate 5", "--speed"},
           {"replay in.twin --target http://h --header nocolon", "--header"},
           {"replay in.twin --target http://h --from yesterday", "--from"},
           {"replay in.twin --target http://h --connections 4", "--connections"},
           {"replay /nonexistent/in.twin --target http://127.0.0.1:9", "/nonexistent/in.twin"},
       }) {
    auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args;
    ASSERT_EQ(r.err_lines().size(), 1u) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.args << ": " << r.err;
  }
}

TEST_F(Cli, CompareUsageErrorsAndCatByOrigin) {
  // A paired result: origins 1..3, each answered by "baseline" and "candidate".
  std::vector<Exchange> xs;
  uint64_t id = 0;
  for (uint64_t origin = 1; origin <= 3; ++origin) {
    for (const char* target : {"baseline", "candidate"}) {
      Exchange e;
      e.id = ++id;
      e.origin_id = origin;
      e.target = target;
      e.request.method = "GET";
      e.request.target = "/x";
      e.time.intended = 1'700'000'000'000'000'000 + static_cast<int64_t>(origin) * 1'000'000;
      e.time.request_start = e.time.intended;
      e.time.response_end = e.time.intended + 1'000'000;
      e.response.emplace();
      e.response->status = 200;
      xs.push_back(e);
    }
  }
  write_twin(file("r.twin"), xs);
  const std::string r = file("r.twin");
  struct Case {
    std::string args;
    std::string names;  // what the one line must name
  };
  spit(file("bad.yaml"), "alpha: 0.01\nlatencyy: {}\n");
  for (const Case& c : std::vector<Case>{
           {"compare " + r + " --candidate candidate", "--baseline"},
           {"compare /nonexistent/r.twin --baseline baseline --candidate candidate",
            "/nonexistent/r.twin"},
           {"compare " + r + " --baseline baseline --candidate baseline", "same target"},
           {"compare " + r + " --baseline baseline --candidate candidate --gate " +
                file("bad.yaml"),
            "bad.yaml:2:1:"},
           {"compare " + r + " --baseline baseline --candidate nobody", "nothing to compare"},
       }) {
    auto o = run(c.args);
    EXPECT_EQ(o.code, 2) << c.args;
    EXPECT_NE(o.err.find(c.names), std::string::npos) << c.args << ": " << o.err;
  }
  // Three identical pairs: nothing to find, exit 0, and the JSON on stdout is the report.
  auto ok = run("compare " + r + " --baseline baseline --candidate candidate --json -");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("\"verdict\": \"pass\""), std::string::npos) << ok.out;
  EXPECT_NE(ok.err.find("PASS"), std::string::npos) << ok.err;  // the table moved to stderr

  // twin cat --origin 2: both targets' answers to captured exchange 2, nothing else.
  auto cat = run("cat " + r + " --origin 2 --format summary");
  EXPECT_EQ(cat.code, 0);
  EXPECT_EQ(cat.out,
            "3 0/0 [baseline] GET /x -> 200 req=0B resp=0B 1.000ms\n"
            "4 0/0 [candidate] GET /x -> 200 req=0B resp=0B 1.000ms\n");
  auto by_id = run("cat " + r + " --id 5 --id 1 --format summary");
  EXPECT_EQ(by_id.code, 0);
  EXPECT_EQ(std::count(by_id.out.begin(), by_id.out.end(), '\n'), 2);
}

TEST_F(Cli, BadFilesExitTwoWithOneLineNamingTheFile) {
  std::mt19937_64 rng(3);
  std::string junk(2000, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  spit(file("junk.twin"), junk);
  spit(file("notjson.har"), "{\"log\": {\"entries\": [ this is not json");
  spit(file("nolog.har"), "{\"entries\": []}");
  spit(file("bad.jsonl"),
       "{\"id\":1,\"session\":1,\"seq\":0,\"protocol\":\"http/"
       "1.1\",\"request\":{\"method\":\"GET\",\"target\":\"/\"}}\n{oops}\n");
  // nlohmann throws out_of_range, not parse_error, for a number past a double's range, and its
  // message quotes the number.
  spit(file("huge.jsonl"),
       "{\"id\":1,\"session\":1,\"seq\":0,\"protocol\":\"http/"
       "1.1\",\"request\":{\"method\":\"GET\",\"target\":\"/\"}}\n{\"id\": 7e999}\n");
  spit(file("huge.har"), "{\"log\": {\"entries\": [], \"x\": -8e999}}");
  write_twin(file("good.twin"), traffic::gen::generate_exchanges(1, 5));
  std::string future = slurp(file("good.twin"));
  future[8] = 9;
  spit(file("future.twin"), future);

  const std::map<std::string, std::string> cases = {
      {"junk.twin", "not a twin archive"},
      {"future.twin", "format version 9.0"},
      {"notjson.har", "not JSON"},
      {"nolog.har", "not a HAR document"},
      {"bad.jsonl", "bad.jsonl:2: not JSON"},
      {"huge.jsonl", "huge.jsonl:2: not JSON (a number out of range)"},
      {"huge.har", "not JSON: a number out of range"},
      {"missing.twin", "cannot open"},
  };
  for (const auto& [name, words] : cases) {
    for (const std::string& cmd : std::vector<std::string>{"cat ", "info ", "info --check ",
                                                           "convert -o " + file("o.jsonl") + " "}) {
      auto r = run(cmd + file(name));
      EXPECT_EQ(r.code, 2) << cmd << name;
      auto lines = r.err_lines();
      ASSERT_EQ(lines.size(), 1u) << cmd << name << ": " << r.err;
      EXPECT_NE(lines[0].find(file(name)), std::string::npos) << lines[0];
      EXPECT_NE(lines[0].find(words), std::string::npos) << lines[0];
      EXPECT_EQ(lines[0].find("e999"), std::string::npos) << lines[0];
    }
  }
  // The JSONL line before the bad one was still converted.
  auto r = run("convert " + file("bad.jsonl") + " -o " + file("partial.jsonl"));
  EXPECT_EQ(r.code, 2);
  const std::string partial = slurp(file("partial.jsonl"));
  EXPECT_EQ(std::count(partial.begin(), partial.end(), '\n'), 1);
}

TEST_F(Cli, ConversionsRoundTripThroughTheBinary) {
  auto exchanges = traffic::gen::generate_exchanges(21, 60);
  write_twin(file("a.twin"), exchanges, 2048);

  ASSERT_EQ(run("convert " + file("a.twin") + " -o " + file("a.jsonl")).code, 0);
  ASSERT_EQ(run("convert " + file("a.jsonl") + " -o " + file("b.twin")).code, 0);
  EXPECT_EQ(read_twin(file("b.twin")), exchanges);

  ASSERT_EQ(run("convert " + file("a.twin") + " -o " + file("a.har")).code, 0);
  ASSERT_EQ(run("convert " + file("a.har") + " -o " + file("c.twin")).code, 0);
  EXPECT_EQ(read_twin(file("c.twin")), exchanges);

  // Standard input and output, with explicit formats.
  auto cat = run("cat - --from twin", file("a.twin"));
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_EQ(cat.out, slurp(file("a.jsonl")));
  ASSERT_EQ(run("convert - --from jsonl -o " + file("d.twin"), file("a.jsonl")).code, 0);
  EXPECT_EQ(read_twin(file("d.twin")), exchanges);
  ASSERT_EQ(run("convert - --from har -o " + file("h.twin"), file("a.har")).code, 0);
  EXPECT_EQ(read_twin(file("h.twin")), exchanges);

  // The source's metadata travels with a .twin to .twin conversion.
  ASSERT_EQ(run("convert " + file("a.twin") + " -o " + file("e.twin")).code, 0);
  EXPECT_EQ(read_twin(file("e.twin")), exchanges);
  auto info = run("info --json " + file("e.twin"));
  ASSERT_EQ(info.code, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["metadata"]["counters"]["drops"], 3);
}

TEST_F(Cli, InfoCountsWhatIsInTheFile) {
  std::vector<Exchange> exchanges(10);
  for (size_t i = 0; i < exchanges.size(); ++i) {
    auto& e = exchanges[i];
    e.id = i + 1;
    e.session = i / 5;
    e.seq = i % 5;
    e.protocol = i < 7 ? traffic::Protocol::kHttp11 : traffic::Protocol::kHttp2;
    e.request.method = i < 6 ? "GET" : "POST";
    e.request.target = "/users/" + std::to_string(100 + i) + "?x=1";
    e.time.request_start = 1'000'000'000 * static_cast<int64_t>(i + 1);
    e.time.response_end = e.time.request_start + 500;
    if (i != 9) e.response.emplace().status = i < 8 ? 200 : 503;
    if (i == 9) e.error = traffic::ErrorKind::kTimeout;
    if (i == 4) e.flags = traffic::kFlagGap;
  }
  write_twin(file("i.twin"), exchanges);
  auto r = run("info --json " + file("i.twin"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["exchanges"], 10);
  EXPECT_EQ(j["sessions"], 2);
  EXPECT_EQ(j["with_response"], 9);
  EXPECT_EQ(j["methods"]["GET"], 6);
  EXPECT_EQ(j["methods"]["POST"], 4);
  EXPECT_EQ(j["protocols"]["http/1.1"], 7);
  EXPECT_EQ(j["protocols"]["h2"], 3);
  EXPECT_EQ(j["status_classes"]["2xx"], 8);
  EXPECT_EQ(j["status_classes"]["5xx"], 1);
  EXPECT_EQ(j["status_classes"]["none"], 1);
  EXPECT_EQ(j["errors"]["timeout"], 1);
  EXPECT_EQ(j["flags"]["gap"], 1);
  EXPECT_EQ(j["routes"]["GET /users/{id}"], 6);
  EXPECT_EQ(j["routes"]["POST /users/{id}"], 4);
  EXPECT_EQ(j["first"], 1'000'000'000);
  EXPECT_EQ(j["last"], 10'000'000'500);
  EXPECT_TRUE(j["damage"].empty());
  EXPECT_EQ(j["metadata"]["counters"]["drops"], 3);

  auto text = run("info " + file("i.twin"));
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("exchanges    10"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("counters.drops"), std::string::npos) << text.out;
}

TEST_F(Cli, TornArchiveYieldsEveryCompleteBlockAndExitsTwo) {
  auto exchanges = traffic::gen::generate_exchanges(22, 80);
  write_twin(file("t.twin"), exchanges, 2048);
  auto r = traffic::Reader::open(file("t.twin"));
  ASSERT_TRUE(r.has_value());
  const auto index = (*r)->index();
  ASSERT_GE(index.size(), 3u);
  // Cut in the middle of the last records block: every earlier block survives.
  const std::string bytes = slurp(file("t.twin"));
  spit(file("torn.twin"), std::string_view(bytes).substr(0, index.back().offset + 60));
  const uint64_t complete = index.back().first_ordinal;

  EXPECT_EQ(run("info --check " + file("t.twin")).code, 0);
  auto check = run("info --check " + file("torn.twin"));
  EXPECT_EQ(check.code, 2);
  EXPECT_NE(check.err.find("torn-tail"), std::string::npos) << check.err;

  auto cat = run("cat --format summary " + file("torn.twin"));
  EXPECT_EQ(cat.code, 2);
  EXPECT_EQ(static_cast<uint64_t>(std::count(cat.out.begin(), cat.out.end(), '\n')), complete);
  auto lines = cat.err_lines();
  ASSERT_EQ(lines.size(), 1u) << cat.err;
  EXPECT_NE(lines[0].find(file("torn.twin") + ": offset " + std::to_string(index.back().offset)),
            std::string::npos)
      << lines[0];

  // convert keeps everything that was read.
  EXPECT_EQ(run("convert " + file("torn.twin") + " -o " + file("saved.twin")).code, 2);
  auto saved = read_twin(file("saved.twin"));
  ASSERT_EQ(saved.size(), complete);
  EXPECT_TRUE(std::equal(saved.begin(), saved.end(), exchanges.begin()));

  // A flipped payload byte: --check names the block's offset.
  std::string flipped = bytes;
  flipped[index[1].offset + 60] ^= 1;
  spit(file("flip.twin"), flipped);
  auto bad = run("info --check " + file("flip.twin"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("offset " + std::to_string(index[1].offset) + ": bad-checksum"),
            std::string::npos)
      << bad.err;
}

}  // namespace
}  // namespace twin

namespace twin {
namespace {

Exchange personal_exchange(uint64_t id, const std::string& email) {
  Exchange e;
  e.id = id;
  e.protocol = traffic::Protocol::kHttp11;
  e.request.method = "GET";
  e.request.target = "/api/users?email=" + email;
  e.request.headers = {{"Authorization", "Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc"}};
  e.response.emplace();
  e.response->status = 200;
  e.response->headers = {{"Content-Type", "application/json"}};
  e.response->body = "{\"email\": \"" + email + "\", \"card\": \"4242 4242 4242 4242\"}";
  e.response->body_size = e.response->body.size();
  return e;
}

TEST_F(Cli, ScrubRefusesWithoutAKeyAndNamesPolicyMistakes) {
  write_twin(file("in.twin"), {personal_exchange(1, "a@example.com")});
  unsetenv("TWIN_SCRUB_KEY");
  auto r = run("scrub " + file("in.twin") + " -o " + file("out.twin"));
  EXPECT_EQ(r.code, 2);
  ASSERT_EQ(r.err_lines().size(), 2u) << r.err;  // the default-policy warning, then the refusal
  EXPECT_NE(r.err_lines()[1].find("no scrub key"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(file("out.twin")));

  spit(file("bad.yaml"), "version: 1\nrules:\n  - where: json:a\n    action: smudge\n");
  spit(file("key"), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
  r = run("scrub " + file("in.twin") + " -o " + file("out.twin") + " --policy " + file("bad.yaml") +
          " --key-file " + file("key"));
  EXPECT_EQ(r.code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_EQ(r.err_lines()[0].rfind("twin: " + file("bad.yaml") + ":4:13: unknown action", 0), 0u)
      << r.err;

  spit(file("short"), "too short\n");
  r = run("scrub " + file("in.twin") + " -o " + file("out.twin") + " --key-file " + file("short"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(file("short")), std::string::npos);
  EXPECT_EQ(r.err.find("too short\n"), std::string::npos);  // the key's content is never shown
}

TEST_F(Cli, ScrubWritesAScrubbedArchiveItsCountersAndAReport) {
  std::vector<Exchange> in;
  for (uint64_t i = 1; i <= 50; ++i) {
    in.push_back(personal_exchange(i, "user" + std::to_string(i % 10) + "@example.com"));
  }
  write_twin(file("in.twin"), in);
  spit(file("key"), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
  auto r = run("scrub " + file("in.twin") + " -o " + file("out.twin") + " --key-file " +
               file("key") + " --report " + file("report.json"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("no policy given"), std::string::npos);
  EXPECT_NE(r.err.find("scrub: 50 exchanges (50 changed)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", token scheme 3\n"), std::string::npos) << r.err;
  // Every body reader's counters, the structured ones too (none of them here).
  EXPECT_NE(r.err.find(
                "scrub: bodies: 0 XML (0 malformed, 0 truncated), 0 CSV (0 malformed, 0 "
                "truncated), 0 YAML (0 malformed, 0 truncated); 0 GraphQL documents; 0 text bodies "
                "as key=value lines; 0 base64 texts read decoded; 0 JSON documents and 0 URLs in "
                "strings\n"),
            std::string::npos)
      << r.err;
  auto out = read_twin(file("out.twin"));
  ASSERT_EQ(out.size(), 50u);
  std::string all = slurp(file("out.twin"));
  for (const auto& e : out) {
    EXPECT_TRUE(e.has(traffic::kFlagScrubbed));
    EXPECT_EQ(e.request.target.find("@example.com"), std::string::npos) << e.request.target;
    EXPECT_EQ(e.response->body.find("4242 4242 4242 4242"), std::string::npos);
    EXPECT_EQ(e.request.headers[0].value.find("4eC39HqLyjWDarjtT1zdp7dc"), std::string::npos);
  }
  // The same input and key give the same output, byte for byte in every exchange.
  ASSERT_EQ(run("scrub " + file("in.twin") + " -o " + file("again.twin") + " --key-file " +
                file("key") + " -q")
                .code,
            0);
  EXPECT_EQ(read_twin(file("again.twin")), out);

  auto info = run("info " + file("out.twin"));
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("scrub"), std::string::npos) << info.out;
  auto report = nlohmann::json::parse(slurp(file("report.json")));
  EXPECT_EQ(report["residual"], 0);
  EXPECT_EQ(report["counters"]["exchanges"], 50);
  EXPECT_EQ(report["key_fingerprint"].get<std::string>().size(), 8u);
  EXPECT_EQ(report["token_scheme"], 3);
  // A policy can ask for token scheme 1 (archives scrubbed before 2026-12-06): other tokens under
  // the same key, said in the report.
  spit(file("scheme1.yaml"), "token_scheme: 1\n");
  ASSERT_EQ(
      run("scrub " + file("in.twin") + " -o " + file("one.twin") + " --key-file " + file("key") +
          " -q --policy " + file("scheme1.yaml") + " --report " + file("one.json"))
          .code,
      0);
  EXPECT_EQ(nlohmann::json::parse(slurp(file("one.json")))["token_scheme"], 1);
  auto one = read_twin(file("one.twin"));
  ASSERT_EQ(one.size(), out.size());
  EXPECT_NE(one[0].request.target, out[0].request.target);
  EXPECT_EQ(one[0].request.target.size(), out[0].request.target.size());
  bool found = false;
  for (const auto& f : report["report"]["fields"]) {
    if (f["path"] == "request.query:email") {
      found = true;
      EXPECT_EQ(f["count"], 50);
      EXPECT_EQ(f["distinct_before"], 10);
      EXPECT_EQ(f["distinct_after"], 10);
    }
  }
  EXPECT_TRUE(found) << report.dump(1);
  EXPECT_EQ(slurp(file("report.json")).find("@example.com"), std::string::npos);

  // --ephemeral-key works and warns; the default policy can be printed.
  r = run("scrub " + file("in.twin") + " -o " + file("eph.twin") + " --ephemeral-key -q");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("--ephemeral-key"), std::string::npos);
  EXPECT_NE(read_twin(file("eph.twin")), out);
  r = run("scrub --print-default-policy");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, slurp(std::string(TWIN_SOURCE_DIR) + "/examples/policies/default.yaml"));
}

TEST_F(Cli, ScrubConvertAndFilterGiveTheSameOutputOnOneThreadAsOnMany) {
  // Each response's order id comes back in the next request's path, where only the scrubber's
  // memory of the response before finds it: an order the stages broke would show.
  std::vector<Exchange> in;
  for (uint64_t i = 1; i <= 400; ++i) {
    Exchange e = personal_exchange(i, "user" + std::to_string(i % 37) + "@example.com");
    e.request.target = "/orders/ORD-" + std::to_string(880000 + i - 1) + "?email=user" +
                       std::to_string(i % 37) + "@example.com";
    e.response->body = "{\"order_id\": \"ORD-" + std::to_string(880000 + i) +
                       "\", \"email\": \"user" + std::to_string(i % 37) + "@example.com\"}";
    e.response->body_size = e.response->body.size();
    in.push_back(std::move(e));
  }
  write_twin(file("in.twin"), in, 4096);  // many blocks
  spit(file("key"), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
  spit(file("orders.yaml"), "version: 1\nrules:\n  - where: json:order_id\n    action: token\n");
  std::map<int, std::vector<Exchange>> out;
  std::map<int, nlohmann::json> reports;
  // 4 and 6: 2 and 4 threads scrub, the workers taking exchanges of the same batch.
  for (int threads : {1, 2, 3, 4, 6}) {
    const std::string t = std::to_string(threads);
    auto r = run("scrub " + file("in.twin") + " -o " + file("s" + t + ".twin") + " --policy " +
                 file("orders.yaml") + " --key-file " + file("key") + " -q --threads " + t +
                 " --report " + file("r" + t + ".json"));
    ASSERT_EQ(r.code, 0) << r.err;
    out[threads] = read_twin(file("s" + t + ".twin"));
    reports[threads] = nlohmann::json::parse(slurp(file("r" + t + ".json")));
  }
  ASSERT_EQ(out[1].size(), 400u);
  for (int threads : {2, 3, 4, 6}) {
    EXPECT_EQ(out[threads], out[1]) << threads;
    EXPECT_EQ(reports[threads]["counters"], reports[1]["counters"]) << threads;
    EXPECT_EQ(reports[threads]["report"], reports[1]["report"]) << threads;
  }
  EXPECT_EQ(reports[1]["counters"]["memory_hits"], 399);
  for (size_t i = 1; i < 400; ++i) {
    const std::string segment = out[1][i].request.target.substr(0, 17);  // "/orders/XXX-dddddd"
    EXPECT_NE(segment, in[i].request.target.substr(0, 17)) << i;
  }

  // A bad line in the middle of a JSONL input: everything before it is scrubbed and written,
  // the same as above, and the file is closed; one line names the place.
  ASSERT_EQ(run("convert " + file("in.twin") + " -o " + file("in.jsonl")).code, 0);
  std::string jsonl = slurp(file("in.jsonl"));
  size_t at = 0;
  for (int line = 0; line < 300; ++line) at = jsonl.find('\n', at) + 1;
  spit(file("bad.jsonl"), jsonl.substr(0, at) + "{oops}\n" + jsonl.substr(at));
  auto r = run("scrub " + file("bad.jsonl") + " -o " + file("partial.twin") + " --policy " +
               file("orders.yaml") + " --key-file " + file("key") + " -q --threads 3");
  EXPECT_EQ(r.code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find(file("bad.jsonl") + ":301"), std::string::npos) << r.err;
  auto partial = read_twin(file("partial.twin"));
  ASSERT_EQ(partial.size(), 300u);
  EXPECT_TRUE(std::equal(partial.begin(), partial.end(), out[1].begin()));

  // convert: the same exchanges on one thread and on three.
  for (int threads : {1, 3}) {
    const std::string t = std::to_string(threads);
    ASSERT_EQ(
        run("convert " + file("in.twin") + " -o " + file("c" + t + ".twin") + " --threads " + t)
            .code,
        0);
  }
  EXPECT_EQ(read_twin(file("c1.twin")), in);
  EXPECT_EQ(read_twin(file("c3.twin")), in);
  // filter: the same selection on one thread and on three (every 7th exchange: id=7|14|…).
  std::string ids;
  std::vector<Exchange> sevenths;
  for (const auto& e : in) {
    if (e.id % 7 != 0) continue;
    ids += (ids.empty() ? "" : "|") + std::to_string(e.id);
    sevenths.push_back(e);
  }
  for (int threads : {1, 3}) {
    const std::string t = std::to_string(threads);
    auto f = run("filter " + file("in.twin") + " -o " + file("f" + t + ".twin") +
                 " --where 'id=" + ids + "' --threads " + t);
    ASSERT_EQ(f.code, 0) << f.err;
    EXPECT_NE(f.err.find("filter: read 400, kept 57"), std::string::npos) << f.err;
    EXPECT_EQ(read_twin(file("f" + t + ".twin")), sevenths) << threads;
  }

  // A full disk: one line naming the file, on stderr, on one thread and on three (the writer's
  // own close at exit had said it a second time, through a logger that wrote to stdout).
  for (const char* t : {"1", "3"}) {
    for (const std::string& cmd : {"scrub " + file("in.twin") + " -q --key-file " + file("key"),
                                   "convert --format twin " + file("in.twin"),
                                   "filter " + file("in.twin") + " --where method=GET"}) {
      auto full = run(cmd + " -o /dev/full --threads " + std::string(t));
      EXPECT_EQ(full.code, 2) << cmd;
      size_t lines = 0;
      for (const auto& line : full.err_lines()) {
        if (line.find("/dev/full") != std::string::npos) ++lines;
      }
      EXPECT_EQ(full.out, "") << cmd;  // no log line in the data stream
      EXPECT_EQ(lines, 1u) << cmd << " --threads " << t << ": " << full.err;
      EXPECT_NE(full.err.find("/dev/full: write failed"), std::string::npos) << full.err;
    }
  }

  r = run("scrub " + file("in.twin") + " -o " + file("x.twin") + " --key-file " + file("key") +
          " --threads 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace twin

namespace twin {
namespace {

// 40 exchanges one second apart, 10 sessions of 4 (1-4, 5-8, ...); odd ids GET, even POST;
// every fifth answers 500. The first starts at 2023-11-14T22:13:21Z.
constexpr int64_t kFilterT0 = 1'700'000'000'000'000'000;

std::vector<Exchange> filter_exchanges() {
  std::vector<Exchange> xs;
  for (uint64_t i = 1; i <= 40; ++i) {
    Exchange e;
    e.id = i;
    e.session = 1 + (i - 1) / 4;
    e.seq = (i - 1) % 4;
    e.request.method = i % 2 ? "GET" : "POST";
    e.request.target = "/api/items/" + std::to_string(i) + "?page=1";
    e.time.request_start = kFilterT0 + static_cast<int64_t>(i) * 1'000'000'000;
    e.time.response_end = e.time.request_start + 1'000'000;
    e.response.emplace().status = i % 5 == 0 ? 500 : 200;
    xs.push_back(e);
  }
  return xs;
}

std::vector<uint64_t> ids_of(const std::vector<Exchange>& xs) {
  std::vector<uint64_t> ids;
  for (const auto& e : xs) ids.push_back(e.id);
  return ids;
}

std::vector<uint64_t> id_range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> ids;
  for (uint64_t i = from; i <= to; ++i) ids.push_back(i);
  return ids;
}

TEST_F(Cli, FilterKeepsWhatTheExpressionWindowAndSampleSelect) {
  write_twin(file("in.twin"), filter_exchanges());
  const std::string in = file("in.twin"), out = file("out.twin");
  auto filter = [&](const std::string& args) {
    auto r = run("filter " + in + " -o " + out + " " + args);
    EXPECT_EQ(r.code, 0) << args << ": " << r.err;
    return ids_of(read_twin(out));
  };

  auto r = run("filter " + in + " -o " + out + " --where 'status=5xx'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "filter: read 40, kept 8\n");
  EXPECT_EQ(ids_of(read_twin(out)), (std::vector<uint64_t>{5, 10, 15, 20, 25, 30, 35, 40}));
  // The input's metadata is kept, and the filter's settings and counts are added.
  auto meta = (*traffic::Reader::open(out))->final_metadata();
  EXPECT_EQ(meta["counters"]["drops"], 3);
  EXPECT_EQ(meta["filter"]["where"], "status=5xx");
  EXPECT_EQ(meta["filter"]["read"], 40);
  EXPECT_EQ(meta["filter"]["kept"], 8);

  EXPECT_EQ(filter("--where 'method=post route=/api/items/* status!=500' -q"),
            (std::vector<uint64_t>{2, 4, 6, 8, 12, 14, 16, 18, 22, 24, 26, 28, 32, 34, 36, 38}));
  EXPECT_EQ(filter("--where 'session=2|10 id!=5'"),
            (std::vector<uint64_t>{6, 7, 8, 37, 38, 39, 40}));
  EXPECT_EQ(filter("--where 'path~\"/1[0-2]\\?\"'"), (std::vector<uint64_t>{10, 11, 12}));
  EXPECT_EQ(filter(""), id_range(1, 40));
  // Windows: seconds after the first request (id 1), half-open, either side open.
  EXPECT_EQ(filter("--window 10..20"), id_range(11, 20));
  EXPECT_EQ(filter("--window ..5"), id_range(1, 5));
  EXPECT_EQ(filter("--window 35.."), id_range(36, 40));
  EXPECT_EQ(filter("--window 2.5..4.5 --where method=GET"), (std::vector<uint64_t>{5}));
  EXPECT_EQ(filter("--window 2023-11-14T22:13:30Z..2023-11-14T23:13:33+01:00"), id_range(10, 12));
  // Sample: whole sessions, the same ones every time, others for another seed.
  auto half = filter("--sample 50 --sample-seed 9");
  EXPECT_EQ(half.size() % 4, 0u);
  EXPECT_GT(half.size(), 0u);
  EXPECT_LT(half.size(), 40u);
  for (size_t i = 0; i < half.size(); i += 4) {
    EXPECT_EQ(half[i] % 4, 1u);           // a session's first ...
    EXPECT_EQ(half[i + 3], half[i] + 3);  // ... to its last
  }
  EXPECT_EQ(filter("--sample 50 --sample-seed 9"), half);
  EXPECT_EQ(filter("--sample 100"), id_range(1, 40));
  EXPECT_TRUE(filter("--sample 0").empty());
  bool differs = false;
  for (int seed = 1; seed < 6 && !differs; ++seed)
    differs = filter("--sample 50 --sample-seed " + std::to_string(seed)) != half;
  EXPECT_TRUE(differs);
}

TEST_F(Cli, FilterErrorsExitTwoAndATornInputKeepsWhatWasRead) {
  write_twin(file("in.twin"), filter_exchanges());
  const std::string in = file("in.twin"), out = file("out.twin");
  struct Case {
    std::string args;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {"filter " + in + " -o " + out + " --where 'stauts=5xx'",
            "--where: column 1: unknown key 'stauts'"},
           {"filter " + in + " -o " + out + " --where 'status=5xx method'", "--where: column 18"},
           {"filter " + in + " -o " + out + " --window 10", "--window '10': expected FROM..TO"},
           {"filter " + in + " -o " + out + " --window yesterday..", "--window 'yesterday'"},
           {"filter " + in + " -o " + out + " --sample 200", "--sample"},
           {"filter " + in, "--output"},
           {"filter " + file("missing.twin") + " -o " + out, file("missing.twin")},
       }) {
    auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args;
    ASSERT_EQ(r.err_lines().size(), 1u) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.args << ": " << r.err;
  }

  // A torn archive: every complete block is filtered and written, one line names the damage,
  // the counts follow, exit 2.
  auto exchanges = filter_exchanges();
  write_twin(file("t.twin"), exchanges, 512);
  auto reader = traffic::Reader::open(file("t.twin"));
  ASSERT_TRUE(reader.has_value());
  const auto index = (*reader)->index();
  ASSERT_GE(index.size(), 3u);
  const std::string bytes = slurp(file("t.twin"));
  spit(file("torn.twin"), std::string_view(bytes).substr(0, index.back().offset + 30));
  const uint64_t complete = index.back().first_ordinal;
  auto r = run("filter " + file("torn.twin") + " -o " + out + " --where method=GET --window 0..");
  EXPECT_EQ(r.code, 2);
  auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 2u) << r.err;
  EXPECT_NE(lines[0].find(file("torn.twin") + ": offset"), std::string::npos) << lines[0];
  std::vector<uint64_t> odd;
  for (uint64_t i = 1; i <= complete; i += 2) odd.push_back(i);
  EXPECT_EQ(lines[1],
            "filter: read " + std::to_string(complete) + ", kept " + std::to_string(odd.size()));
  EXPECT_EQ(ids_of(read_twin(out)), odd);
}

}  // namespace
}  // namespace twin
