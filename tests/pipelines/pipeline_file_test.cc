// The pipeline file: stages into the twin commands they stand for, and every mistake reported
// with its line and column before anything runs.

#include "pipeline_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace twin::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PipelineFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("twin-pipeline-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "conf");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text, const std::string& name = "conf/gate.yaml") {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  Result<Pipeline> load(const std::string& text, const std::string& workdir = {}) {
    return load_pipeline(write(text), workdir, [this](const std::string& name) {
      auto it = env_.find(name);
      return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
  }
  std::string conf(const std::string& rel) const { return (dir_ / "conf" / rel).string(); }

  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST(ExpandEnv, VariablesDefaultsAndDollars) {
  GetEnv env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "A") return std::string("alpha");
    if (n == "EMPTY") return std::string();
    return std::nullopt;
  };
  EXPECT_EQ(*expand_env("x${A}y", env), "xalphay");
  EXPECT_EQ(*expand_env("${B:-b}", env), "b");
  EXPECT_EQ(*expand_env("${A:-b}", env), "alpha");
  EXPECT_EQ(*expand_env("${EMPTY:-d}", env), "d");
  EXPECT_EQ(*expand_env("${EMPTY}", env), "");
  EXPECT_EQ(*expand_env("$$A and $A and ${", env), "$A and $A and ${");
  auto missing = expand_env("a ${NOPE} b", env);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "NOPE");
}

TEST(ShellQuote, TheShellReadsBackTheSameWords) {
  std::vector<std::string> words = {
      "twin", "a b", "it's", "", "$HOME", "--where", "route=/api/** method=GET|POST",
      "x\"y", "a\\b"};
  std::string line = shell_quote(words);
  // printf each word on its own line; the shell must give back exactly the words.
  std::string cmd = "printf '%s\\n' " + line;
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  ASSERT_EQ(WEXITSTATUS(::pclose(f)), 0);
  std::string expected;
  for (const auto& w : words) expected += w + "\n";
  EXPECT_EQ(out, expected);
}

TEST_F(PipelineFileTest, StagesBecomeTheirCommands) {
  env_["CAND"] = "h2c://127.0.0.1:9002";
  auto p = load(R"(version: 1
name: gate
workdir: ../out
stages:
  compare:
    noise: noise
    gate: gates/g.yaml
    reports: {html: r/c.html, junit: c.xml}
  replay:
    targets:
      baseline: http://127.0.0.1:9001/prefix
      noise: http://127.0.0.1:9003
      candidate: ${CAND}
    ready: {path: /healthz, timeout: 5, status: 204}
    rate: 200
    poisson: true
    headers: ["X-Twin: 1"]
    summary: s.json
  scrub:
    policy: default
    key_env: KEY
  filter:
    where: "route=/api/** status!=5xx"
    window: 10..70
  capture:
    read: traffic.pcap
    port: [8080, 8443]
    args: [--max-body, 4k]
)");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->name, "gate");
  std::string out = (dir_ / "out").string();
  EXPECT_EQ(p->workdir, out);
  ASSERT_EQ(p->stages.size(), 5u);  // in pipeline order, whatever the file's order
  const auto& capture = p->stages[0];
  EXPECT_EQ(capture.stage, Stage::kCapture);
  EXPECT_THAT(capture.args,
              ElementsAre("capture", "-r", conf("traffic.pcap"), "--port", "8080", "--port", "8443",
                          "--max-body", "4k", "-o", out + "/capture.twin"));
  EXPECT_FALSE(capture.live);
  const auto& filter = p->stages[1];
  EXPECT_EQ(filter.input, out + "/capture.twin");
  EXPECT_THAT(filter.args,
              ElementsAre("filter", out + "/capture.twin", "-o", out + "/filter.twin", "--where",
                          "route=/api/** status!=5xx", "--window", "10..70"));
  const auto& scrub = p->stages[2];
  EXPECT_THAT(scrub.args, ElementsAre("scrub", out + "/filter.twin", "-o", out + "/scrub.twin",
                                      "--key-env", "KEY"));
  const auto& replay = p->stages[3];
  EXPECT_THAT(replay.args,
              ElementsAre("replay", out + "/scrub.twin", "-o", out + "/replay.twin", "--target",
                          "baseline=http://127.0.0.1:9001/prefix", "--target",
                          "noise=http://127.0.0.1:9003", "--target",
                          "candidate=h2c://127.0.0.1:9002", "--rate", "200", "--poisson",
                          "--header", "X-Twin: 1", "--summary-json", out + "/s.json"));
  ASSERT_EQ(replay.probes.size(), 3u);
  // Probes go to the server's root with the probe path, the target's prefix left out.
  EXPECT_EQ(replay.probes[0].url, "http://127.0.0.1:9001/healthz");
  EXPECT_EQ(replay.probes[2].url, "h2c://127.0.0.1:9002/healthz");
  EXPECT_EQ(replay.ready_timeout, 5);
  EXPECT_EQ(replay.ready_status, 204);
  const auto& compare = p->stages[4];
  EXPECT_THAT(compare.args, ElementsAre("compare", out + "/replay.twin", "--baseline", "baseline",
                                        "--candidate", "candidate", "--noise", "noise", "--gate",
                                        conf("gates/g.yaml"), "--json", out + "/compare.json",
                                        "--junit", out + "/c.xml", "--html", out + "/r/c.html"));
  EXPECT_EQ(compare.reports.front().first, "json");
}

TEST_F(PipelineFileTest, ArchiveCaptureLiveCaptureAndWorkdirOverride) {
  auto p = load(R"(stages:
  capture: {archive: /data/prod.twin}
  compare: {input: results.twin}
)",
                "/tmp/elsewhere");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->name, "gate");  // the file's stem
  EXPECT_EQ(p->workdir, "/tmp/elsewhere");
  EXPECT_TRUE(p->stages[0].args.empty());
  EXPECT_EQ(p->stages[0].output, "/data/prod.twin");
  EXPECT_EQ(p->stages[1].input, conf("results.twin"));  // an input is relative to the file

  auto live = load(R"(stages:
  capture:
    interface: lo
    port: 8080
    while: ./drive.sh --fast
    settle: 2
)");
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_TRUE(live->stages[0].live);
  EXPECT_EQ(live->stages[0].while_command, "./drive.sh --fast");
  EXPECT_EQ(live->stages[0].settle, 2);
  EXPECT_THAT(live->stages[0].args, ElementsAre("capture", "-i", "lo", "--port", "8080", "-o",
                                                (dir_ / "conf/twin-out/capture.twin").string()));
}

struct BadCase {
  const char* text;
  int line;
  int column;
  const char* says;
};

TEST_F(PipelineFileTest, MistakesAreNamedWithLineAndColumn) {
  const BadCase cases[] = {
      {"stages:\n  compare:\n    input: r.twin\n    gaet: g.yaml\n", 4, 5, "unknown key 'gaet'"},
      {"stage:\n  compare: {}\n", 1, 1, "unknown key 'stage'"},
      {"stages:\n  capture: {read: a.pcap, archive: b.twin}\n", 2, 12, "exactly one of"},
      {"stages:\n  capture: {interface: lo}\n", 2, 12, "needs an end"},
      {"stages:\n  capture: {read: a.pcap, while: x}\n", 2, 34, "live capture"},
      {"stages:\n  capture: {archive: a.twin}\n  replay:\n    targets: {b: ftp://x}\n", 4, 18,
       "unsupported scheme"},
      {"stages:\n  capture: {archive: a.twin}\n  replay: {targets: {a: 'http://h'}, speed: "
       "fast}\n",
       3, 45, "must be a number"},
      {"stages:\n  capture: {archive: a.twin}\n  replay: {targets: {a: 'http://h'}, speed: 2, "
       "rate: 3}\n",
       3, 11, "one of speed, rate, max"},
      {"stages:\n  capture: {archive: a.twin}\n  replay: {targets: {a: 'http://h'}}\n  "
       "compare: {baseline: a, candidate: c}\n",
       4, 37, "'c' is not a target"},
      {"stages:\n  capture: {archive: a.twin}\n  scrub: {key_env: K, ephemeral_key: true}\n", 3, 10,
       "one of key_file"},
      {"stages:\n  capture:\n    archive: ${NOPE}\n", 3, 14, "NOPE is not set"},
      {"stages:\n  replay: {targets: {a: 'http://h'}}\n", 2, 11, "has no input"},
      {"stages:\n  capture: {archive: a.twin}\nnotify:\n  - {url: 'ftp://x'}\n", 4, 11,
       "http:// or https://"},
      {"stages:\n  capture: {archive: a.twin}\nnotify:\n  - {url: 'http://x', when: sometimes}\n",
       4, 29, "always, failure or regression"},
      {"version: 2\nstages: {capture: {archive: a}}\n", 1, 10, "version must be 1"},
      {"stages:\n  capture: {archive: [a\n", 3, 1, ""},  // YAML syntax error
      {"stages: {}\n", 1, 9, "stages is empty"},
      {"- a\n- b\n", 1, 1, "a mapping"},
  };
  for (const auto& c : cases) {
    auto p = load(c.text);
    ASSERT_FALSE(p) << c.text;
    std::string expected =
        conf("gate.yaml") + ":" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ";
    EXPECT_THAT(p.error().message, HasSubstr(expected)) << c.text;
    EXPECT_THAT(p.error().message, HasSubstr(c.says)) << c.text;
    EXPECT_EQ(p.error().message.find('\n'), std::string::npos);
  }
  auto missing = load_pipeline((dir_ / "nope.yaml").string());
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("nope.yaml: cannot read"));
}

TEST_F(PipelineFileTest, WebhooksKeepTheirHeadersAndDefaults) {
  env_["TOKEN"] = "s3cret";
  auto p = load(R"(stages:
  capture: {archive: a.twin}
notify:
  - url: https://hooks.example/T000/B000/XXXX
  - url: http://127.0.0.1:1/status
    format: github
    when: failure
    headers: {Authorization: "Bearer ${TOKEN}"}
)");
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->notify.size(), 2u);
  EXPECT_EQ(p->notify[0].format, "json");
  EXPECT_EQ(p->notify[0].when, "always");
  EXPECT_EQ(p->notify[0].line, 4);
  EXPECT_EQ(p->notify[1].format, "github");
  ASSERT_EQ(p->notify[1].headers.size(), 1u);
  EXPECT_EQ(p->notify[1].headers[0].second, "Bearer s3cret");
}

TEST(ParseStage, NamesRoundTrip) {
  for (auto name : kStageNames) {
    auto s = parse_stage(name);
    ASSERT_TRUE(s);
    EXPECT_EQ(to_string(*s), name);
  }
  EXPECT_FALSE(parse_stage("reports"));
}

}  // namespace
}  // namespace twin::cli
