// End-to-end tests of examples/shop: the real `shop` process on port 0, driven by curl and by
// shop_traffic; its --record archive read back with twin::traffic::Reader. Every wait is bounded
// and every process started here is killed at the end of its test, pass or fail.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/exchange.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr auto kProcessTimeout = 20s;

// --- processes ---

// Starts argv[0] with stdout and stderr going to the given fds (-1: /dev/null). The child dies
// with the test process (PR_SET_PDEATHSIG), so a crashed test leaves nothing running.
pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: async-signal-safe calls only.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  dup2(out_fd >= 0 ? out_fd : devnull, 1);
  dup2(err_fd >= 0 ? err_fd : devnull, 2);
  execvp(argv[0], argv.data());
  _exit(127);
}

// Waits for `pid` until `deadline`; kills it (SIGKILL) when it is not done by then.
// Returns the exit code, 128+signal when killed by a signal, or -1 on timeout.
int wait_for(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) return -1;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
}

struct RunResult {
  int exit_code = -1;  // -1: timed out (and killed)
  std::string out;
  std::string err;
};

// Runs a command to completion (bounded by `timeout`), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return {};
  pid_t pid = spawn(args, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  RunResult r;
  auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && Clock::now() < deadline) {
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (poll(fds, 2, std::max(ms, 1)) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  r.exit_code = wait_for(pid, deadline);
  return r;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shop_e2e_XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A running shop. The destructor kills it if the test did not stop it.
class Shop {
 public:
  explicit Shop(std::vector<std::string> flags) {
    std::vector<std::string> args = {SHOP_BIN, "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    stderr_path_ = dir_.path() / "stderr.txt";
    int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int out[2];
    if (err < 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = spawn(args, out[1], err);
    close(out[1]);
    close(err);
    out_fd_ = out[0];
    port_ = read_port(Clock::now() + 5s);
  }
  ~Shop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      wait_for(pid_, Clock::now() + 5s);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }
  Shop(const Shop&) = delete;
  Shop& operator=(const Shop&) = delete;

  /// 0 when the shop did not say where it listens.
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& listening_line() const { return line_; }

  /// SIGTERM, then waits (bounded). Returns the exit code (-1 if it had to be killed).
  int stop(std::chrono::milliseconds timeout = 10s) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int code = wait_for(pid_, Clock::now() + timeout);
    pid_ = -1;
    return code;
  }
  std::string stderr_text() const { return read_file(stderr_path_); }

  /// The "key=value" counters of the line the shop prints at exit (after stop()).
  std::map<std::string, uint64_t> counters() const {
    std::map<std::string, uint64_t> out;
    std::istringstream lines(stderr_text());
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("shop: requests=", 0) != 0) continue;
      std::istringstream words(line.substr(6));
      std::string w;
      while (words >> w) {
        auto eq = w.find('=');
        if (eq != std::string::npos) out[w.substr(0, eq)] = std::stoull(w.substr(eq + 1));
      }
    }
    return out;
  }

 private:
  int read_port(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char c;
      ssize_t n = read(out_fd_, &c, 1);
      if (n <= 0) return 0;  // exited without a line
      if (c == '\n') break;
      line_.push_back(c);
    }
    const std::string prefix = "listening on 127.0.0.1:";
    if (line_.rfind(prefix, 0) != 0) return 0;
    return std::atoi(line_.c_str() + prefix.size());
  }

  TempDir dir_;
  fs::path stderr_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  std::string line_;
};

// --- HTTP through curl ---

struct Http {
  int status = 0;
  std::string content_type;
  std::string body;
  double seconds = 0;
  json js() const { return json::parse(body, nullptr, false); }
};

constexpr std::string_view kMark = "\n@@curl@@";

Http parse_curl(const std::string& out) {
  Http h;
  size_t m = out.rfind(kMark);
  if (m == std::string::npos) return h;
  h.body = out.substr(0, m);
  std::string tail = out.substr(m + kMark.size());
  size_t a = tail.find('|'), b = tail.find('|', a + 1);
  h.status = std::atoi(tail.substr(0, a).c_str());
  h.seconds = std::atof(tail.substr(a + 1, b - a - 1).c_str());
  h.content_type = tail.substr(b + 1);
  return h;
}

Http curl(const std::vector<std::string>& args) {
  std::vector<std::string> cmd = {
      "curl", "-sS", "--max-time",
      "10",   "-w",  std::string(kMark) + "%{http_code}|%{time_total}|%{content_type}"};
  cmd.insert(cmd.end(), args.begin(), args.end());
  RunResult r = run(cmd);
  EXPECT_EQ(r.exit_code, 0) << "curl failed: " << r.err;
  return parse_curl(r.out);
}

Http get(const Shop& shop, const std::string& target, const std::string& token = {}) {
  std::vector<std::string> args;
  if (!token.empty()) args = {"-H", "Authorization: Bearer " + token};
  args.push_back(shop.url() + target);
  return curl(args);
}

Http post(const Shop& shop, const std::string& target, const std::string& body,
          const std::string& token = {}) {
  std::vector<std::string> args = {
      "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body};
  if (!token.empty()) {
    args.push_back("-H");
    args.push_back("Authorization: Bearer " + token);
  }
  args.push_back(shop.url() + target);
  return curl(args);
}

struct Session {
  int user_id = 0;
  std::string token;
  json user;
};

// Finds user `id`'s e-mail in the list, logs in (password "secret-<id>"), fetches the user.
Session login(const Shop& shop, int id) {
  Session s;
  Http list = get(shop, "/api/users?limit=1&offset=" + std::to_string(id - 1));
  EXPECT_EQ(list.status, 200);
  std::string email = list.js()["users"][0]["email"];
  Http r = post(shop, "/api/login",
                json{{"email", email}, {"password", "secret-" + std::to_string(id)}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  json j = r.js();
  if (!j.is_object() || !j["token"].is_string()) return s;
  s.token = j["token"];
  s.user_id = j["user_id"];
  Http u = get(shop, "/api/users/" + std::to_string(id), s.token);
  EXPECT_EQ(u.status, 200);
  s.user = u.js();
  return s;
}

bool luhn(const std::string& digits) {
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it < '0' || *it > '9') return false;
    int d = *it - '0';
    if (dbl && (d *= 2) > 9) d -= 9;
    sum += d;
    dbl = !dbl;
  }
  return !digits.empty() && sum % 10 == 0;
}

bool iban_ok(const std::string& iban) {
  std::string r = iban.substr(4) + iban.substr(0, 4);
  int mod = 0;
  for (char c : r) {
    if (c >= '0' && c <= '9') {
      mod = (mod * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      mod = (mod * 100 + (c - 'A' + 10)) % 97;
    } else {
      return false;
    }
  }
  return mod == 1;
}

std::map<std::string, uint64_t> parse_counts(const std::string& line) {
  std::map<std::string, uint64_t> out;
  std::istringstream words(line);
  std::string w;
  while (words >> w) {
    auto eq = w.find('=');
    if (eq != std::string::npos) out[w.substr(0, eq)] = std::stoull(w.substr(eq + 1));
  }
  return out;
}

// --- tests ---

TEST(ShopE2e, ListensOnAFreePortAndStopsOnSigterm) {
  Shop shop({"--seed", "1"});
  ASSERT_NE(shop.port(), 0) << shop.stderr_text();
  EXPECT_EQ(shop.listening_line(), "listening on 127.0.0.1:" + std::to_string(shop.port()));
  Http h = get(shop, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok");

  // An idle keep-alive connection must not hold the shutdown up.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(shop.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto t0 = Clock::now();
  EXPECT_EQ(shop.stop(), 0);
  EXPECT_LT(Clock::now() - t0, 2s);
  close(fd);
  auto c = shop.counters();
  EXPECT_EQ(c["requests"], 1u) << shop.stderr_text();
  EXPECT_EQ(c["2xx"], 1u);
}

TEST(ShopE2e, SigtermLetsAResponseInFlightFinish) {
  TempDir dir;
  fs::path archive = dir.path() / "inflight.twin";
  Shop shop({"--seed", "2", "--latency", "GET /api/search=500", "--record", archive.string()});
  ASSERT_NE(shop.port(), 0);
  Http slow;
  std::thread client([&] { slow = get(shop, "/api/search?q=mug"); });
  std::this_thread::sleep_for(150ms);  // the request is waiting out its added latency
  int code = shop.stop();
  client.join();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(slow.status, 200);
  EXPECT_GE(slow.seconds, 0.5);
  EXPECT_EQ(shop.counters()["requests"], 1u) << shop.stderr_text();

  auto reader = twin::traffic::Reader::open(archive.string());
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  twin::traffic::Exchange ex;
  auto more = (*reader)->next(ex);
  ASSERT_TRUE(more.has_value() && *more);
  EXPECT_EQ(ex.request.target, "/api/search?q=mug");
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 200);
  // The added latency sits between the end of the request and the start of the response.
  EXPECT_GE(ex.time.response_start - ex.time.request_end, 500'000'000);
  more = (*reader)->next(ex);
  ASSERT_TRUE(more.has_value());
  EXPECT_FALSE(*more);
}

TEST(ShopE2e, LoginTokenOpensUsersAndBadTokensGet401) {
  Shop shop({"--seed", "7"});
  ASSERT_NE(shop.port(), 0);
  Session s = login(shop, 7);
  ASSERT_FALSE(s.token.empty());
  EXPECT_EQ(s.user_id, 7);

  const json& u = s.user;
  EXPECT_EQ(u["id"], 7);
  ASSERT_TRUE(u["address"].is_object());
  for (const char* k : {"street", "postal_code", "city", "country"}) {
    EXPECT_TRUE(u["address"][k].is_string()) << k;
  }
  ASSERT_TRUE(u["cards"].is_array());
  ASSERT_FALSE(u["cards"].empty());
  for (const json& c : u["cards"]) EXPECT_TRUE(luhn(c["number"])) << c.dump();
  EXPECT_TRUE(iban_ok(u["iban"])) << u["iban"];
  std::string phone = u["phone"];
  EXPECT_EQ(phone[0], '+');
  EXPECT_NE(u["email"].get<std::string>().find('@'), std::string::npos);

  // Any user can be read with a valid token; unknown ids are 404.
  EXPECT_EQ(get(shop, "/api/users/8", s.token).status, 200);
  EXPECT_EQ(get(shop, "/api/users/201", s.token).status, 404);
  EXPECT_EQ(get(shop, "/api/users/abc", s.token).status, 404);

  // No token, a made-up token, a tampered token: 401.
  EXPECT_EQ(get(shop, "/api/users/7").status, 401);
  EXPECT_EQ(get(shop, "/api/users/7", "not-a-token").status, 401);
  std::string tampered = s.token;
  tampered[40] = tampered[40] == '0' ? '1' : '0';
  EXPECT_EQ(get(shop, "/api/users/7", tampered).status, 401);

  // Wrong password and unknown e-mail: 401.
  std::string email = u["email"];
  EXPECT_EQ(post(shop, "/api/login", json{{"email", email}, {"password", "nope"}}.dump()).status,
            401);
  EXPECT_EQ(
      post(shop, "/api/login", json{{"email", "x@y.z"}, {"password", "secret-1"}}.dump()).status,
      401);
}

TEST(ShopE2e, TokensOfOneShopWorkOnAnotherWithTheSameSeed) {
  Shop a({"--seed", "11"});
  Shop b({"--seed", "11"});
  Shop c({"--seed", "12"});
  ASSERT_NE(a.port(), 0);
  ASSERT_NE(b.port(), 0);
  ASSERT_NE(c.port(), 0);
  Session s = login(a, 3);
  ASSERT_FALSE(s.token.empty());
  Http same = get(b, "/api/users/3", s.token);
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.js(), s.user);  // same seed, same data
  EXPECT_EQ(get(c, "/api/users/3", s.token).status, 401);
}

TEST(ShopE2e, OrderCreatedThenFetchedByItsId) {
  Shop shop({"--seed", "3"});
  ASSERT_NE(shop.port(), 0);
  Session s = login(shop, 5);
  ASSERT_FALSE(s.token.empty());
  Http found = get(shop, "/api/search?q=&limit=100");
  ASSERT_EQ(found.status, 200);
  std::vector<std::string> skus;
  json results = found.js()["results"];
  for (const json& p : results) {
    if (p["in_stock"] == true) skus.push_back(p["sku"]);
  }
  ASSERT_GE(skus.size(), 2u);
  std::string card = s.user["cards"][0]["number"];
  json order = {{"user_id", 5},
                {"items", {{{"sku", skus[0]}, {"qty", 2}}, {{"sku", skus[1]}, {"qty", 1}}}},
                {"card", card}};
  Http created = post(shop, "/api/orders", order.dump(), s.token);
  ASSERT_EQ(created.status, 201) << created.body;
  json c = created.js();
  EXPECT_EQ(c["status"], "created");
  EXPECT_EQ(c["items"].size(), 2u);
  EXPECT_GT(c["total"].get<double>(), 0.0);
  EXPECT_EQ(c["card"]["last4"], card.substr(card.size() - 4));

  Http fetched = get(shop, "/api/orders/" + std::to_string(c["id"].get<int64_t>()), s.token);
  ASSERT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.js(), c);

  // A second order gets a new id; unknown ids, other users and missing tokens are refused.
  Http again = post(shop, "/api/orders", order.dump(), s.token);
  ASSERT_EQ(again.status, 201);
  EXPECT_NE(again.js()["id"], c["id"]);
  EXPECT_EQ(get(shop, "/api/orders/1", s.token).status, 404);
  EXPECT_EQ(get(shop, "/api/orders/" + std::to_string(c["id"].get<int64_t>())).status, 401);
  Session other = login(shop, 6);
  EXPECT_EQ(get(shop, "/api/orders/" + std::to_string(c["id"].get<int64_t>()), other.token).status,
            404);
  json bad_card = order;
  bad_card["card"] = "4111111111111112";
  EXPECT_EQ(post(shop, "/api/orders", bad_card.dump(), s.token).status, 422);
  EXPECT_EQ(post(shop, "/api/orders", order.dump(), other.token).status, 403);
}

TEST(ShopE2e, SearchRespectsLimitAndPage) {
  Shop shop({"--seed", "4"});
  ASSERT_NE(shop.port(), 0);
  Http all = get(shop, "/api/search?q=&limit=100");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.js()["results"].size(), 100u);
  EXPECT_EQ(all.js()["total"], 300);

  Http p1 = get(shop, "/api/search?q=lamp&limit=3&page=1");
  Http p2 = get(shop, "/api/search?q=lamp&limit=3&page=2");
  ASSERT_EQ(p1.status, 200);
  ASSERT_EQ(p2.status, 200);
  json j1 = p1.js(), j2 = p2.js();
  ASSERT_GE(j1["total"].get<int>(), 6) << "the catalog should have several lamps";
  EXPECT_EQ(j1["results"].size(), 3u);
  EXPECT_EQ(j2["results"].size(), 3u);
  EXPECT_EQ(j1["limit"], 3);
  EXPECT_EQ(j2["page"], 2);
  EXPECT_NE(j1["results"][0]["sku"], j2["results"][0]["sku"]);
  for (const json& p : j1["results"]) {
    std::string name = p["name"];
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(name.find("lamp"), std::string::npos) << name;
  }
  // Query decoding: "red+lamp" and "red%20lamp" are the same query, all words must match.
  Http a = get(shop, "/api/search?q=red+lamp&limit=100");
  Http b = get(shop, "/api/search?q=red%20lamp&limit=100");
  EXPECT_EQ(a.js()["results"], b.js()["results"]);
  EXPECT_EQ(a.js()["query"], "red lamp");
  EXPECT_LE(a.js()["total"].get<int>(), j1["total"].get<int>());

  EXPECT_EQ(get(shop, "/api/search?q=lamp&limit=0").status, 400);
  EXPECT_EQ(get(shop, "/api/search?q=lamp&limit=abc").status, 400);
  EXPECT_EQ(get(shop, "/api/search?q=lamp&page=0").status, 400);
  EXPECT_EQ(get(shop, "/api/users?limit=5&offset=10").js()["users"].size(), 5u);
  EXPECT_EQ(get(shop, "/api/users?limit=5&offset=10").js()["users"][0]["id"], 11);
}

TEST(ShopE2e, StaticFilesHaveTheirContentTypeAndLength) {
  Shop shop({"--seed", "5"});
  ASSERT_NE(shop.port(), 0);
  Http js = get(shop, "/static/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "application/javascript; charset=utf-8");
  EXPECT_GT(js.body.size(), 1000u);
  Http css = get(shop, "/static/style.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_GT(css.body.size(), 100u);

  // The PNG is binary: check the byte count against Content-Length and its signature.
  TempDir dir;
  fs::path headers = dir.path() / "headers.txt";
  Http png = curl({"-D", headers.string(), shop.url() + "/static/logo.png"});
  EXPECT_EQ(png.status, 200);
  EXPECT_EQ(png.content_type, "image/png");
  ASSERT_GT(png.body.size(), 1000u);
  EXPECT_EQ(png.body.substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  std::string h = read_file(headers);
  EXPECT_NE(h.find("Content-Length: " + std::to_string(png.body.size()) + "\r\n"),
            std::string::npos)
      << h;

  EXPECT_EQ(get(shop, "/static/missing.gif").status, 404);
}

TEST(ShopE2e, UnknownPathsBadJsonAndWrongMethods) {
  Shop shop({"--seed", "6"});
  ASSERT_NE(shop.port(), 0);
  Http nf = get(shop, "/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.content_type, "application/json");
  EXPECT_EQ(nf.js()["error"], "not found");
  EXPECT_EQ(post(shop, "/api/login", "{not json").status, 400);
  EXPECT_EQ(post(shop, "/api/login", "[1,2]").status, 400);
  EXPECT_EQ(curl({"-X", "DELETE", shop.url() + "/api/login"}).status, 405);
}

TEST(ShopE2e, PipelinedRequestsAreAnsweredInOrder) {
  Shop shop({"--seed", "6"});
  ASSERT_NE(shop.port(), 0);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(shop.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string reqs =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{bad}"
      "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, reqs.data(), reqs.size(), 0), static_cast<ssize_t>(reqs.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t a = got.find("HTTP/1.1 200"), b = got.find("HTTP/1.1 400"), c = got.find("HTTP/1.1 404");
  ASSERT_NE(a, std::string::npos) << got;
  ASSERT_NE(b, std::string::npos) << got;
  ASSERT_NE(c, std::string::npos) << got;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(ShopE2e, LatencyFlagSlowsOnlyItsRoute) {
  Shop shop({"--seed", "8", "--latency", "GET /api/search=200"});
  ASSERT_NE(shop.port(), 0);
  for (int i = 0; i < 2; ++i) {
    Http s = get(shop, "/api/search?q=lamp");
    EXPECT_EQ(s.status, 200);
    EXPECT_GE(s.seconds, 0.2);
  }
  Http h = get(shop, "/healthz");
  EXPECT_LT(h.seconds, 0.15);
  Http u = get(shop, "/api/users?limit=3");
  EXPECT_LT(u.seconds, 0.15);
}

TEST(ShopE2e, TailLatencyHitsAReproducibleFraction) {
  // 20 requests on one connection; the slow ones must be the same in two runs with one seed.
  auto slow_pattern = [](const std::string& seed) {
    Shop shop({"--seed", seed, "--tail", "GET /healthz=0.5:60"});
    EXPECT_NE(shop.port(), 0);
    std::vector<std::string> args = {"curl", "-sS", "--max-time", "20", "-w", "%{time_total}\\n"};
    for (int i = 0; i < 20; ++i) {
      args.insert(args.end(), {"-o", "/dev/null", shop.url() + "/healthz"});  // -o is per URL
    }
    RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string pattern;
    std::istringstream lines(r.out);
    for (std::string l; std::getline(lines, l);)
      pattern += std::atof(l.c_str()) >= 0.06 ? 'S' : '.';
    return pattern;
  };
  std::string first = slow_pattern("21");
  std::string second = slow_pattern("21");
  ASSERT_EQ(first.size(), 20u);
  size_t slow = static_cast<size_t>(std::count(first.begin(), first.end(), 'S'));
  EXPECT_GE(slow, 3u) << first;
  EXPECT_LE(slow, 17u) << first;
  EXPECT_EQ(first, second);
}

TEST(ShopE2e, ErrorRateFlagFailsOrders) {
  Shop shop({"--seed", "9", "--error-rate", "POST /api/orders=1.0"});
  ASSERT_NE(shop.port(), 0);
  Session s = login(shop, 2);
  ASSERT_FALSE(s.token.empty());
  Http found = get(shop, "/api/search?q=&limit=100");
  std::string sku;
  json results = found.js()["results"];
  for (const json& p : results) {
    if (p["in_stock"] == true) {
      sku = p["sku"];
      break;
    }
  }
  json order = {{"user_id", 2},
                {"items", {{{"sku", sku}, {"qty", 1}}}},
                {"card", s.user["cards"][0]["number"]}};
  for (int i = 0; i < 3; ++i) {
    Http r = post(shop, "/api/orders", order.dump(), s.token);
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.js()["error"], "internal server error");
  }
  EXPECT_EQ(get(shop, "/healthz").status, 200);
  EXPECT_EQ(shop.stop(), 0);
  auto c = shop.counters();
  EXPECT_EQ(c["5xx"], 3u) << shop.stderr_text();
}

TEST(ShopE2e, ChangeFieldAndAddFieldAlterOnlyThoseFields) {
  Shop base({"--seed", "10"});
  Shop cand({"--seed", "10", "--change-field", "GET /api/users/{id}=email", "--change-field",
             "GET /api/search=results.price:type", "--add-field",
             "GET /api/users/{id}=loyalty.tier:\"gold\""});
  ASSERT_NE(base.port(), 0);
  ASSERT_NE(cand.port(), 0);
  Session s = login(base, 4);
  ASSERT_FALSE(s.token.empty());
  Http changed = get(cand, "/api/users/4", s.token);  // same seed: the token is valid there
  ASSERT_EQ(changed.status, 200);
  json want = s.user;
  json got = changed.js();
  EXPECT_NE(got["email"], want["email"]);
  EXPECT_TRUE(got["email"].is_string());
  EXPECT_EQ(got["loyalty"], json({{"tier", "gold"}}));
  got.erase("loyalty");
  got["email"] = want["email"];
  EXPECT_EQ(got, want);

  json b = get(base, "/api/search?q=lamp&limit=5").js();
  json c = get(cand, "/api/search?q=lamp&limit=5").js();
  ASSERT_EQ(b["results"].size(), c["results"].size());
  ASSERT_FALSE(c["results"].empty());
  for (size_t i = 0; i < c["results"].size(); ++i) {
    EXPECT_TRUE(b["results"][i]["price"].is_number());
    EXPECT_TRUE(c["results"][i]["price"].is_string());
    EXPECT_EQ(b["results"][i]["sku"], c["results"][i]["sku"]);
  }
  // Error answers are left alone.
  EXPECT_FALSE(get(cand, "/api/users/999", s.token).js().contains("loyalty"));
}

TEST(ShopE2e, BadFlagsExitWithTwoAndOneLine) {
  for (std::vector<std::string> flags :
       std::vector<std::vector<std::string>>{{"--latency", "GET /nope=5"},
                                             {"--latency", "GET /api/search"},
                                             {"--error-rate", "POST /api/orders=1.5"},
                                             {"--tail", "GET /healthz=0.5"},
                                             {"--change-field", "GET /healthz=a:b"},
                                             {"--port", "abc"},
                                             {"--bind", "not-an-address"},
                                             {"--no-such-flag"}}) {
    std::vector<std::string> args = {SHOP_BIN, "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    RunResult r = run(args, 5s);
    EXPECT_EQ(r.exit_code, 2) << flags[0] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
  RunResult t = run({SHOP_TRAFFIC_BIN, "--url", "ftp://x", "--sessions", "1"}, 5s);
  EXPECT_EQ(t.exit_code, 2) << t.err;
}

TEST(ShopE2e, TrafficDriverCompletesSessionsAndServerCountsMatch) {
  Shop shop({"--seed", "12", "--threads", "2"});
  ASSERT_NE(shop.port(), 0);
  RunResult r = run({SHOP_TRAFFIC_BIN, "--url", shop.url(), "--sessions", "60", "--concurrency",
                     "3", "--seed", "5"},
                    kProcessTimeout);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto t = parse_counts(r.out);
  EXPECT_EQ(t["errors"], 0u) << r.out;
  EXPECT_EQ(t["sessions"], 60u);
  EXPECT_EQ(t["failed_connections"], 0u);
  EXPECT_EQ(t["ok"], t["requests"]);
  EXPECT_GE(t["requests"], 60u * 6);  // login, user, search, order, order, static at least

  ASSERT_EQ(shop.stop(), 0);
  auto c = shop.counters();
  EXPECT_EQ(c["requests"], t["requests"]) << shop.stderr_text();
  EXPECT_EQ(c["5xx"], 0u);
  EXPECT_EQ(c["connections"], 61u);  // one per session, and one to list the users
  EXPECT_EQ(c["bad_requests"], 0u);

  // A server that is not there: the driver says so and exits non-zero.
  RunResult down = run({SHOP_TRAFFIC_BIN, "--url", shop.url(), "--sessions", "1"}, 10s);
  EXPECT_NE(down.exit_code, 0);
  EXPECT_EQ(parse_counts(down.out)["failed_connections"], 1u) << down.out;
}

TEST(ShopE2e, TrafficDriverCountsRegressionsAsErrors) {
  Shop shop({"--seed", "13", "--error-rate", "GET /api/search=1.0"});
  ASSERT_NE(shop.port(), 0);
  RunResult r = run({SHOP_TRAFFIC_BIN, "--url", shop.url(), "--sessions", "5"}, kProcessTimeout);
  EXPECT_EQ(r.exit_code, 0) << "no connection failed: " << r.err;
  auto t = parse_counts(r.out);
  EXPECT_GT(t["errors"], 0u) << r.out;
  EXPECT_EQ(t["ok"] + t["errors"], t["requests"]);
}

TEST(ShopE2e, SameSeedServesTheGoldenUser) {
  // tests/data/shop/user_7_seed_42.json is GET /api/users/7 of `shop --seed 42`: the data must
  // not change by accident (demos, docs and recorded archives rely on it).
  Shop shop({"--seed", "42"});
  ASSERT_NE(shop.port(), 0);
  Session s = login(shop, 7);
  json golden =
      json::parse(read_file(fs::path(SHOP_TEST_DATA) / "user_7_seed_42.json"), nullptr, false);
  ASSERT_FALSE(golden.is_discarded());
  EXPECT_EQ(s.user, golden);
}

TEST(ShopE2e, RecordWritesEveryExchangeServed) {
  TempDir dir;
  fs::path archive = dir.path() / "shop.twin";
  Shop shop({"--seed", "14", "--record", archive.string()});
  ASSERT_NE(shop.port(), 0);
  RunResult r = run({SHOP_TRAFFIC_BIN, "--url", shop.url(), "--sessions", "12", "--concurrency",
                     "2", "--seed", "9"},
                    kProcessTimeout);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  uint64_t driven = parse_counts(r.out)["requests"];
  Http nf = get(shop, "/does-not-exist");
  EXPECT_EQ(nf.status, 404);
  ASSERT_EQ(shop.stop(), 0) << shop.stderr_text();
  auto counters = shop.counters();
  ASSERT_EQ(counters["requests"], driven + 1);
  EXPECT_EQ(counters["recorded"], driven + 1);
  ASSERT_TRUE(fs::exists(archive));

  auto reader = twin::traffic::Reader::open(archive.string());
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  twin::traffic::Exchange ex;
  uint64_t count = 0;
  std::map<uint64_t, uint64_t> next_seq;           // session -> expected seq
  std::map<uint64_t, std::string> created_orders;  // session -> id of its last created order
  std::map<int, uint64_t> statuses;
  bool saw_404_path = false;
  while (true) {
    auto more = (*reader)->next(ex);
    ASSERT_TRUE(more.has_value()) << more.error().message;
    if (!*more) break;
    ++count;
    EXPECT_EQ(ex.id, count);
    EXPECT_EQ(ex.seq, next_seq[ex.session]++) << "session " << ex.session;
    EXPECT_EQ(ex.protocol, twin::traffic::Protocol::kHttp11);
    EXPECT_LE(ex.time.request_start, ex.time.request_end);
    EXPECT_LE(ex.time.request_end, ex.time.response_start);
    EXPECT_LE(ex.time.response_start, ex.time.response_end);
    EXPECT_GT(ex.time.request_start, 1'600'000'000'000'000'000);  // after 2020, in nanoseconds
    EXPECT_EQ(ex.client.family, 4);
    EXPECT_EQ(ex.server.port, shop.port());
    EXPECT_EQ(ex.request.authority, "127.0.0.1:" + std::to_string(shop.port()));
    ASSERT_NE(twin::traffic::find_header(ex.request.headers, "host"), nullptr);
    EXPECT_EQ(ex.request.body_size, ex.request.body.size());
    ASSERT_TRUE(ex.response.has_value());
    const auto& res = *ex.response;
    ++statuses[res.status];
    EXPECT_EQ(res.framing, twin::traffic::Framing::kContentLength);
    EXPECT_EQ(res.body_size, res.body.size());
    const auto* cl = twin::traffic::find_header(res.headers, "Content-Length");
    ASSERT_NE(cl, nullptr);
    EXPECT_EQ(cl->value, std::to_string(res.body.size()));
    if (ex.request.method == "POST") {
      EXPECT_EQ(ex.request.framing, twin::traffic::Framing::kContentLength);
      EXPECT_FALSE(ex.request.body.empty());
    }
    // What the statuses must be, route by route.
    const std::string& target = ex.request.target;
    if (ex.request.method == "POST" && target == "/api/orders") {
      EXPECT_EQ(res.status, 201) << res.body;
      created_orders[ex.session] = std::to_string(json::parse(res.body)["id"].get<int64_t>());
    } else if (ex.request.method == "POST" && target == "/api/login") {
      EXPECT_TRUE(res.status == 200 || res.status == 401) << res.status;
    } else if (target.rfind("/api/orders/", 0) == 0) {
      std::string id = target.substr(12);
      // The order read back is the one the same session created just before.
      if (res.status == 200) {
        EXPECT_EQ(id, created_orders[ex.session]);
      } else {
        EXPECT_EQ(res.status, 404);
      }
    } else if (target == "/does-not-exist") {
      EXPECT_EQ(res.status, 404);
      saw_404_path = true;
    } else {
      EXPECT_EQ(res.status, 200) << target;
    }
  }
  EXPECT_EQ(count, driven + 1);
  EXPECT_EQ(next_seq.size(), 14u);  // 12 sessions, the user listing, curl
  EXPECT_TRUE(saw_404_path);
  EXPECT_EQ(statuses[500], 0u);
  EXPECT_EQ(statuses[201], created_orders.size());
}

}  // namespace
