// shop_traffic: drives a shop with realistic sessions, each on one keep-alive connection:
// login -> own user -> searches -> create an order -> read that order back -> static files,
// with seeded variation. Bounded: it stops once --sessions sessions are done.
//
// Prints one line: requests=N ok=N errors=N sessions=N failed_connections=N. A request is ok
// when its answer has the expected status (and, for the order read back, the same order).
// Exits 1 when a connection failed, 2 on bad flags.

#include <sys/socket.h>
#include <sys/time.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data.h"
#include "rng.h"

namespace twin::shop {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Options {
  std::string url;
  uint64_t sessions = 10;
  uint64_t seed = 1;
  unsigned concurrency = 1;
  unsigned timeout = 10;  // seconds, per socket operation
};

struct Stats {
  uint64_t requests = 0;
  uint64_t ok = 0;
  uint64_t sessions = 0;
  uint64_t failed_connections = 0;
  void merge(const Stats& o) {
    requests += o.requests;
    ok += o.ok;
    sessions += o.sessions;
    failed_connections += o.failed_connections;
  }
};

struct UserRef {
  int id;
  std::string email;
};

class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One keep-alive connection. Not thread-safe: one per session.
class Client {
 public:
  Client(asio::io_context& ioc, const tcp::resolver::results_type& endpoints, std::string host,
         std::chrono::seconds timeout, Stats& stats)
      : socket_(ioc), host_(std::move(host)), stats_(stats) {
    error_code ec;
    asio::connect(socket_, endpoints, ec);
    if (ec) throw TransportError("connect: " + ec.message());
    // Blocking reads and writes with a deadline each: SO_RCVTIMEO / SO_SNDTIMEO.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    socket_.set_option(tcp::no_delay(true), ec);
  }
  ~Client() {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  /// Sends a request and reads its response; counts it as ok when the status is `expected`.
  /// Throws TransportError when the connection fails.
  http::response<http::string_body> call(http::verb method, const std::string& target, int expected,
                                         const std::string& token = {},
                                         const Json* body = nullptr) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "shop_traffic/1.0");
    req.set(http::field::accept, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (body != nullptr) {
      req.set(http::field::content_type, "application/json");
      req.body() = body->dump();
    }
    req.prepare_payload();
    ++stats_.requests;
    error_code ec;
    http::write(socket_, req, ec);
    if (ec) throw TransportError("write " + target + ": " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(socket_, buffer_, parser, ec);
    if (ec) throw TransportError("read " + target + ": " + ec.message());
    auto res = parser.release();
    if (static_cast<int>(res.result_int()) == expected) ++stats_.ok;
    return res;
  }

  /// The last response had the expected status but the wrong content: not ok after all.
  void not_ok() { --stats_.ok; }

 private:
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string host_;
  Stats& stats_;
};

std::optional<Json> parse_json(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Lists every user (GET /api/users, page by page) to learn the e-mail addresses to log in with.
std::vector<UserRef> discover_users(Client& client) {
  std::vector<UserRef> users;
  for (int offset = 0;; offset += 100) {
    auto res =
        client.call(http::verb::get, "/api/users?limit=100&offset=" + std::to_string(offset), 200);
    auto j = parse_json(res.body());
    if (res.result_int() != 200 || !j || !(*j)["users"].is_array()) break;
    for (const Json& u : (*j)["users"]) {
      if (u["id"].is_number_integer() && u["email"].is_string()) {
        users.push_back({u["id"].get<int>(), u["email"].get<std::string>()});
      }
    }
    if ((*j)["users"].size() < 100) break;
  }
  return users;
}

// One session. Returns early when a step's answer makes the next ones impossible; that is
// already counted (as a request that was not ok).
void run_session(Client& c, Rng& rng, const std::vector<UserRef>& users) {
  const UserRef& user = rng.pick(users);
  if (rng.chance(0.1)) {
    // A mistyped password first.
    Json wrong = {{"email", user.email}, {"password", "wrong-password"}};
    c.call(http::verb::post, "/api/login", 401, {}, &wrong);
  }
  Json creds = {{"email", user.email}, {"password", password_for(user.id)}};
  auto res = c.call(http::verb::post, "/api/login", 200, {}, &creds);
  auto login = parse_json(res.body());
  if (res.result_int() != 200 || !login || !(*login)["token"].is_string()) return;
  std::string token = (*login)["token"].get<std::string>();
  int user_id = (*login)["user_id"].is_number_integer() ? (*login)["user_id"].get<int>() : user.id;

  res = c.call(http::verb::get, "/api/users/" + std::to_string(user_id), 200, token);
  auto me = parse_json(res.body());
  if (res.result_int() != 200 || !me || !(*me)["cards"].is_array() || (*me)["cards"].empty()) {
    return;
  }
  const Json& cards = (*me)["cards"];
  std::string card = cards[rng.below(cards.size())]["number"].get<std::string>();

  if (rng.chance(0.3)) {
    c.call(http::verb::get,
           "/api/users?limit=" + std::to_string(rng.range(5, 25)) +
               "&offset=" + std::to_string(rng.range(0, kUserCount - 1)),
           200);
  }

  std::vector<std::string> skus;
  int searches = static_cast<int>(rng.range(1, 3));
  for (int i = 0; i < searches; ++i) {
    std::string q;
    switch (rng.below(3)) {
      case 0:
        q = rng.pick(kProductAdjectives);
        break;
      case 1:
        q = rng.pick(kProductNouns);
        break;
      default:
        q = std::string(rng.pick(kProductAdjectives)) + " " + std::string(rng.pick(kProductNouns));
    }
    std::string target = "/api/search?q=" + url_encode(q) +
                         "&limit=" + std::to_string(rng.range(5, 20)) +
                         "&page=" + std::to_string(rng.chance(0.2) ? 2 : 1);
    res = c.call(http::verb::get, target, 200);
    auto found = parse_json(res.body());
    if (res.result_int() != 200 || !found || !(*found)["results"].is_array()) continue;
    for (const Json& p : (*found)["results"]) {
      if (p["in_stock"] == true && p["sku"].is_string()) skus.push_back(p["sku"]);
    }
  }
  if (skus.empty()) {
    res = c.call(http::verb::get, "/api/search?q=&limit=50", 200);
    auto found = parse_json(res.body());
    if (found && (*found)["results"].is_array()) {
      for (const Json& p : (*found)["results"]) {
        if (p["in_stock"] == true && p["sku"].is_string()) skus.push_back(p["sku"]);
      }
    }
  }

  if (rng.chance(0.05)) {
    // Someone pastes an old order link: ids start above 100000, so this one does not exist.
    c.call(http::verb::get, "/api/orders/" + std::to_string(rng.range(1, 99999)), 404, token);
  }

  if (!skus.empty()) {
    Json items = Json::array();
    int lines = static_cast<int>(rng.range(1, 3));
    for (int i = 0; i < lines; ++i) {
      items.push_back({{"sku", skus[rng.below(skus.size())]}, {"qty", rng.range(1, 4)}});
    }
    Json order = {{"user_id", user_id}, {"items", items}, {"card", card}};
    res = c.call(http::verb::post, "/api/orders", 201, token, &order);
    auto created = parse_json(res.body());
    if (res.result_int() == 201 && created && (*created)["id"].is_number_integer()) {
      std::string id = std::to_string((*created)["id"].get<int64_t>());
      res = c.call(http::verb::get, "/api/orders/" + id, 200, token);
      auto fetched = parse_json(res.body());
      if (res.result_int() == 200 && (!fetched || (*fetched)["id"] != (*created)["id"] ||
                                      (*fetched)["total"] != (*created)["total"])) {
        c.not_ok();
      }
    }
  }

  static constexpr std::array<std::string_view, 3> kStatic = {"/static/app.js", "/static/style.css",
                                                              "/static/logo.png"};
  int files = static_cast<int>(rng.range(1, 2));
  for (int i = 0; i < files; ++i) {
    c.call(http::verb::get, std::string(rng.pick(kStatic)), 200);
  }
  if (rng.chance(0.1)) c.call(http::verb::get, "/healthz", 200);
}

struct Target {
  std::string host;
  std::string port;
};

// http://HOST:PORT[/...]; throws std::invalid_argument.
Target parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    throw std::invalid_argument("--url '" + url + "': expected http://HOST:PORT");
  }
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  Target t;
  if (colon == std::string::npos || rest.back() == ']') {
    t.host = rest;
    t.port = "80";
  } else {
    t.host = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
  }
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') {
    t.host = t.host.substr(1, t.host.size() - 2);
  }
  if (t.host.empty() || t.port.empty()) {
    throw std::invalid_argument("--url '" + url + "': expected http://HOST:PORT");
  }
  return t;
}

int run(const Options& opt) {
  Target target = parse_url(opt.url);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  auto endpoints = resolver.resolve(target.host, target.port, ec);
  if (ec) {
    std::fprintf(stderr, "shop_traffic: --url '%s': %s\n", opt.url.c_str(), ec.message().c_str());
    return 2;
  }
  std::string host = target.host + ":" + target.port;
  auto timeout = std::chrono::seconds(opt.timeout);

  Stats total;
  std::vector<UserRef> users;
  try {
    Client c(ioc, endpoints, host, timeout, total);
    users = discover_users(c);
  } catch (const TransportError& e) {
    std::fprintf(stderr, "shop_traffic: %s: %s\n", opt.url.c_str(), e.what());
    ++total.failed_connections;
  }
  if (users.empty() && total.failed_connections == 0) {
    std::fprintf(stderr, "shop_traffic: %s: GET /api/users listed no users\n", opt.url.c_str());
  }

  if (!users.empty()) {
    // h2load style: each worker keeps its own statistics; they merge after the workers stop.
    std::atomic<uint64_t> next{0};
    std::vector<Stats> stats(opt.concurrency);
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < opt.concurrency; ++w) {
      workers.emplace_back([&, w] {
        asio::io_context wioc;
        Stats& st = stats[w];
        for (uint64_t i; (i = next.fetch_add(1)) < opt.sessions;) {
          // The session's choices depend on the seed and its number, not on the thread.
          Rng rng(mix64(opt.seed) ^ mix64(i + 1));
          try {
            Client c(wioc, endpoints, host, timeout, st);
            run_session(c, rng, users);
            ++st.sessions;
          } catch (const TransportError& e) {
            ++st.failed_connections;
            if (st.failed_connections <= 3) {
              std::fprintf(stderr, "shop_traffic: session %llu: %s\n",
                           static_cast<unsigned long long>(i), e.what());
            }
          }
        }
      });
    }
    for (auto& t : workers) t.join();
    for (const Stats& s : stats) total.merge(s);
  }

  std::printf("requests=%llu ok=%llu errors=%llu sessions=%llu failed_connections=%llu\n",
              static_cast<unsigned long long>(total.requests),
              static_cast<unsigned long long>(total.ok),
              static_cast<unsigned long long>(total.requests - total.ok),
              static_cast<unsigned long long>(total.sessions),
              static_cast<unsigned long long>(total.failed_connections));
  std::fflush(stdout);
  return total.failed_connections > 0 || users.empty() ? 1 : 0;
}

}  // namespace
}  // namespace twin::shop

int main(int argc, char** argv) {
  twin::shop::Options opt;
  CLI::App app("shop_traffic: realistic sessions against a shop");
  app.add_option("--url", opt.url, "the shop, http://HOST:PORT")->required();
  app.add_option("--sessions", opt.sessions, "sessions to run (one connection each)")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "seed of the sessions' variation")->capture_default_str();
  app.add_option("--concurrency", opt.concurrency, "sessions at a time (threads)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--timeout", opt.timeout, "seconds allowed for each read or write")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "shop_traffic: %s\n", e.what());
    return 2;
  }
  try {
    return twin::shop::run(opt);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "shop_traffic: %s\n", e.what());
    return 2;
  }
}
