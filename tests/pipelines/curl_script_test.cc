// Unit tests of the curl script of `twin reproduce -o`: its quoting, read back by bash itself,
// and a script whose file name and request bytes are hostile. The e2e test
// (tests/pipelines_e2e/test_reproduce.py) runs a script against the shop.

#include "curl_script.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace twin::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Runs `script` with bash; returns its standard output and sets `status`.
std::string bash(const std::string& script, int& status) {
  fs::path file =
      fs::temp_directory_path() / ("twin-curl-script-test-" + std::to_string(::getpid()) + ".sh");
  std::ofstream(file, std::ios::binary) << script;
  FILE* f = ::popen(("bash " + file.string()).c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  status = WEXITSTATUS(::pclose(f));
  fs::remove(file);
  return out;
}

std::string all_bytes() {
  std::string s;
  for (int c = 0; c < 256; ++c) s += static_cast<char>(c);
  return s;
}

TEST(CurlScriptQuote, BashReadsBackEveryByte) {
  // printf_quote: any bytes, NUL included.
  int status = -1;
  std::string bytes = all_bytes() + "%s%%\\n'\"$(id)`id`";
  EXPECT_EQ(bash("printf -- " + printf_quote(bytes), status), bytes);
  EXPECT_EQ(status, 0);
  // A body that starts with '-' is not read as an option of printf.
  EXPECT_EQ(bash("printf -- " + printf_quote("--boundary\r\n"), status), "--boundary\r\n");
  // shell_quote: one word, any byte but NUL.
  std::string word = all_bytes().substr(1) + "'$HOME";
  EXPECT_EQ(bash("printf '%s' " + shell_quote(word), status), word);
  EXPECT_EQ(bash("printf '%s' " + shell_quote(""), status), "");
}

class CurlScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("twin-curl-script-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  /// Runs `script` with bash in dir_, with a `curl` on the PATH that is the shell script
  /// `fake_curl`; returns its standard output and sets `status`.
  std::string run_with_curl(const fs::path& script, const std::string& fake_curl, int& status) {
    fs::path bin = dir_ / "bin";
    fs::create_directories(bin);
    {
      std::ofstream curl(bin / "curl");
      curl << "#!/bin/sh\n" << fake_curl;
    }
    fs::permissions(bin / "curl", fs::perms::owner_all);
    return bash("cd " + shell_quote(dir_.string()) + " && PATH=" + shell_quote(bin.string()) +
                    ":$PATH bash " + shell_quote(script.string()),
                status);
  }
  /// A curl that prints its arguments, one per line in brackets.
  static constexpr const char* kPrintArgs = "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n";
  fs::path dir_;
};

TEST_F(CurlScriptTest, AHostileNameAndRequestStayData) {
  auto target = replay::parse_target("http://127.0.0.1:9/base");
  ASSERT_TRUE(target) << target.error().message;
  traffic::Exchange e;
  e.id = 41;
  e.session = 3;
  e.request.method = "POST";
  e.request.target = "/a b#c?q=$(touch pwned)";
  e.request.headers.push_back({"X-Note", "`touch pwned`; $(touch pwned) 'q' \"d\""});
  // A value with a line break cannot be sent (the replay leaves it out): neither does the script.
  e.request.headers.push_back({"X-Split", "a\r\nX-Injected: 1"});
  e.request.headers.push_back({"Content-Type", "text/plain"});
  e.request.body = "-n\n'$(touch pwned)'";
  std::vector<const traffic::Exchange*> list = {&e};
  // A newline in the file name would end the comment that names it and start a command.
  fs::path path = dir_ / "x\ntouch pwned\n.sh";
  auto written = write_curl_script(path.string(), list, *target, false);
  ASSERT_TRUE(written) << written.error().message;
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string script = text.str();
  EXPECT_THAT(script, HasSubstr("# Usage: bash x?touch pwned?.sh [BASE_URL]"));
  EXPECT_THAT(script, Not(HasSubstr("\ntouch pwned")));
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  // Run it with a curl that prints its arguments, one per line (NUL-free, so newlines in a
  // header show as they are): the hostile bytes arrive as data and nothing is executed.
  int status = -1;
  std::string out = run_with_curl(path, kPrintArgs, status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_FALSE(fs::exists(dir_ / "pwned"));
  EXPECT_THAT(out, HasSubstr("[--request]\n[POST]\n"));
  EXPECT_THAT(out, HasSubstr("[X-Note: `touch pwned`; $(touch pwned) 'q' \"d\"]"));
  EXPECT_THAT(out, Not(HasSubstr("X-Split")));
  EXPECT_THAT(out, Not(HasSubstr("X-Injected")));
  // The base URL (with the target's path prefix) and the path and query, percent-encoded where
  // curl would trip over them (space, '#').
  EXPECT_THAT(out, HasSubstr("[http://127.0.0.1:9/base/a%20b%23c?q=$(touch%20pwned)]"));
  EXPECT_THAT(out, HasSubstr("twin: origin 41: HTTP %{http_code}"));
}

TEST_F(CurlScriptTest, OptionsStarAndHeadWithABody) {
  // "OPTIONS *" keeps its request target (the base URL names the server only); a HEAD request
  // goes with --head and without its captured body, which curl could not send with it.
  auto target = replay::parse_target("http://127.0.0.1:9/base");
  ASSERT_TRUE(target) << target.error().message;
  std::vector<traffic::Exchange> xs(2);
  xs[0].id = 1;
  xs[0].session = 1;
  xs[0].request.method = "OPTIONS";
  xs[0].request.target = "*";
  xs[1].id = 2;
  xs[1].session = 1;
  xs[1].seq = 1;
  xs[1].request.method = "HEAD";
  xs[1].request.target = "/h";
  xs[1].request.body = "odd";
  std::vector<const traffic::Exchange*> list = {&xs[0], &xs[1]};
  fs::path path = dir_ / "star.sh";
  auto written = write_curl_script(path.string(), list, *target, false);
  ASSERT_TRUE(written) << written.error().message;
  int status = -1;
  std::string out = run_with_curl(path, kPrintArgs, status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr("[--request]\n[OPTIONS]\n"));
  EXPECT_THAT(out, HasSubstr("[--request-target]\n[*]\n[http://127.0.0.1:9/base]\n"));
  EXPECT_THAT(out, HasSubstr("[--head]\n"));
  EXPECT_THAT(out, HasSubstr("[http://127.0.0.1:9/base/h]\n"));
  EXPECT_THAT(out, Not(HasSubstr("--data-binary")));
}

TEST_F(CurlScriptTest, ALongSessionTakesSeveralCurlProcesses) {
  // 210 POSTs of one captured connection: one curl process would hold 210 open pipes (one per
  // body) and ever more arguments; the script splits the session into processes of at most 100
  // requests, in captured order, every body still byte-exact.
  auto target = replay::parse_target("http://127.0.0.1:9");
  ASSERT_TRUE(target) << target.error().message;
  std::vector<traffic::Exchange> xs(210);
  std::vector<const traffic::Exchange*> list;
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i].id = 1000 + i;
    xs[i].session = 7;
    xs[i].seq = i;
    xs[i].request.method = "POST";
    xs[i].request.target = "/p";
    xs[i].request.body = std::string(i % 7 + 1, static_cast<char>('a' + i % 26));
    list.push_back(&xs[i]);
  }
  fs::path path = dir_ / "long.sh";
  auto written = write_curl_script(path.string(), list, *target, false);
  ASSERT_TRUE(written) << written.error().message;
  // A curl that prints a line per process and, per request, its origin and its body's size.
  int status = -1;
  std::string out = run_with_curl(path,
                                  "echo CURL\nfor a in \"$@\"; do case \"$a\" in\n"
                                  "  @*) printf 'BODY %s\\n' \"$(wc -c < \"${a#@}\")\";;\n"
                                  "  *'twin: origin '*) printf 'ORIGIN %s\\n' \"$(echo \"$a\" | "
                                  "tr -dc 0-9 | cut -c1-4)\";;\n"
                                  "esac; done\n",
                                  status);
  ASSERT_EQ(status, 0) << out;
  std::istringstream lines(out);
  std::string line;
  size_t curls = 0, n = 0;
  std::vector<std::string> want;
  for (size_t i = 0; i < xs.size(); ++i) {
    want.push_back("ORIGIN " + std::to_string(1000 + i));
    want.push_back("BODY " + std::to_string(i % 7 + 1));
  }
  std::vector<std::string> got;
  while (std::getline(lines, line)) {
    if (line == "CURL") {
      ++curls;
      EXPECT_EQ(n % 200, 0u) << "a process starts at a request boundary of 100";
    } else {
      got.push_back(line);
      ++n;
    }
  }
  EXPECT_EQ(curls, 3u);
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace twin::cli
