// shop: a small HTTP/1.1 JSON service full of personal data, for demos and end-to-end tests of
// twin. One io_context (run by --threads threads); each connection lives on its own strand and
// handles one request at a time, which also makes pipelined requests safe.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "recorder.h"
#include "service.h"

namespace twin::shop {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr uint64_t kMaxBody = 1 << 20;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The Date header, formatted at most once a second per thread.
const std::string& http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = now;
  }
  return cached;
}

traffic::Endpoint to_endpoint(const tcp::endpoint& ep) {
  traffic::Endpoint out;
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  if (addr.is_v4()) {
    out.family = 4;
    auto b = addr.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.address.begin());
  } else {
    out.family = 6;
    auto b = addr.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.address.begin());
  }
  out.port = ep.port();
  return out;
}

std::string format_endpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

class Connection;

// What connections share with the server and must still reach while they are destroyed (which
// may happen after the server object is gone, when the io_context drops unrun handlers).
struct Registry {
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, 6> by_class{};  // index = status / 100
  std::atomic<uint64_t> bad_requests{0};            // unparseable requests (answered 4xx)
  std::atomic<uint64_t> connections{0};

  std::mutex mutex;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> live;  // guarded by mutex
  std::function<void()> on_empty;  // guarded by mutex; set when stopping
};

// One accepted connection, on its own strand. Owned by the handlers of its pending operations
// (shared_from_this): the usual Asio idiom, one shared_ptr per connection rather than per request,
// so the connection lives exactly as long as something may still call back into it.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, uint64_t session, Shop& shop, Recorder* recorder,
             std::shared_ptr<Registry> registry, std::chrono::seconds idle_timeout)
      : socket_(std::move(socket)),
        delay_timer_(socket_.get_executor()),
        idle_timer_(socket_.get_executor()),
        session_(session),
        shop_(shop),
        recorder_(recorder),
        registry_(std::move(registry)),
        idle_timeout_(idle_timeout) {}

  ~Connection() {
    std::function<void()> on_empty;
    {
      std::lock_guard lock(registry_->mutex);
      registry_->live.erase(session_);
      if (registry_->live.empty()) on_empty = registry_->on_empty;
    }
    if (on_empty) on_empty();
  }

  asio::any_io_executor executor() { return socket_.get_executor(); }

  void start() {
    error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) client_ = to_endpoint(remote);
    auto local = socket_.local_endpoint(ec);
    if (!ec) server_ = to_endpoint(local);
    read_next();
  }

  /// Graceful stop: an idle connection closes now, a busy one after its current response.
  void stop() {
    stopping_ = true;
    if (reading_) close();
  }

 private:
  void read_next() {
    if (stopping_) return close();
    parser_.emplace();
    parser_->body_limit(kMaxBody);
    reading_ = true;
    idle_timer_.expires_after(idle_timeout_);
    idle_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->close();
    });
    if (buffer_.size() > 0) {
      // Pipelined (or partly received) request: its first byte is already here.
      request_start_ = now_ns();
      return read();
    }
    // Wait for the first byte so that request_start is when the request began to arrive, not
    // when it was complete.
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      if (ec) return self->close();
      self->request_start_ = now_ns();
      self->read();
    });
  }

  void read() {
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::on_header, shared_from_this()));
  }

  // Clients that send "Expect: 100-continue" (curl does for bodies over 1 KiB) wait for an
  // interim 100 before sending the body; without it they stall for a second.
  void on_header(error_code ec, size_t) {
    if (ec || parser_->is_done()) return on_read(ec, 0);
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](error_code ec, size_t) {
                          if (ec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void on_read(error_code ec, size_t) {
    reading_ = false;
    idle_timer_.cancel();
    if (ec) {
      // A malformed request gets an answer; a closed or cut connection does not.
      bool malformed = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                       ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (malformed && !stopping_ && socket_.is_open()) return reject(ec);
      return close();
    }
    request_end_ = now_ns();
    Handled h = shop_.handle(parser_->get(), &sequence_seen_);
    response_ = std::move(h.response);
    keep_alive_ = parser_->get().keep_alive() && !stopping_;
    finish_headers(parser_->get().version());
    if (h.delay.count() > 0) {
      delay_timer_.expires_after(h.delay);
      delay_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec) return self->close();
        self->write();
      });
      return;
    }
    write();
  }

  // An unparseable request: answer 4xx and close, as there is no telling where the next one
  // would start.
  void reject(error_code ec) {
    registry_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    http::status status = http::status::bad_request;
    if (ec == http::error::body_limit) status = http::status::payload_too_large;
    if (ec == http::error::header_limit) status = http::status::request_header_fields_too_large;
    response_ = {};
    response_.result(status);
    response_.set(http::field::content_type, "application/json");
    response_.body() = R"({"error":"bad request: )" + ec.message() + "\"}";
    keep_alive_ = false;
    parser_.reset();
    finish_headers(11);
    http::async_write(socket_, response_,
                      [self = shared_from_this()](error_code, size_t) { self->close(); });
  }

  void finish_headers(unsigned version) {
    response_.version(version);
    response_.set(http::field::server, "shop/1.0");
    response_.set(http::field::date, http_date());
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
  }

  void write() {
    response_start_ = now_ns();
    http::async_write(socket_, response_,
                      beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(error_code ec, size_t) {
    int64_t response_end = now_ns();
    if (ec) return close();
    int status = response_.result_int();
    registry_->requests.fetch_add(1, std::memory_order_relaxed);
    registry_->by_class[std::min(status / 100, 5)].fetch_add(1, std::memory_order_relaxed);
    if (recorder_ != nullptr) record(response_end);
    ++seq_;
    if (!keep_alive_) return close();
    read_next();
  }

  void record(int64_t response_end) {
    traffic::Exchange ex;
    ex.session = session_;
    ex.seq = seq_;
    HttpRequest& req = parser_->get();
    ex.protocol = req.version() == 10 ? traffic::Protocol::kHttp10 : traffic::Protocol::kHttp11;
    ex.time.request_start = request_start_;
    ex.time.request_end = request_end_;
    ex.time.response_start = response_start_;
    ex.time.response_end = response_end;
    ex.client = client_;
    ex.server = server_;

    ex.request.method = std::string(req.method_string());
    ex.request.target = std::string(req.target());
    if (auto host = req.find(http::field::host); host != req.end()) {
      ex.request.authority = std::string(host->value());
    }
    for (const auto& f : req) {
      ex.request.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    ex.request.framing = req.chunked() ? traffic::Framing::kChunked
                         : req.find(http::field::content_length) != req.end()
                             ? traffic::Framing::kContentLength
                             : traffic::Framing::kNone;
    ex.request.body = std::move(req.body());
    ex.request.body_size = ex.request.body.size();

    traffic::Response& res = ex.response.emplace();
    res.status = response_.result_int();
    res.reason = std::string(response_.reason());
    for (const auto& f : response_) {
      res.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    res.framing = response_.find(http::field::content_length) != response_.end()
                      ? traffic::Framing::kContentLength
                      : traffic::Framing::kNone;
    res.body = std::move(response_.body());
    res.body_size = res.body.size();
    recorder_->append(ex);
  }

  void close() {
    reading_ = false;
    idle_timer_.cancel();
    delay_timer_.cancel();
    if (!socket_.is_open()) return;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer delay_timer_;
  asio::steady_timer idle_timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpResponse response_;
  bool keep_alive_ = true;
  bool reading_ = false;
  bool stopping_ = false;
  bool sequence_seen_ = false;  // --sequence-bug: this connection served a FIRST request
  uint64_t session_;
  uint64_t seq_ = 0;
  Shop& shop_;
  Recorder* recorder_;
  std::shared_ptr<Registry> registry_;
  std::chrono::seconds idle_timeout_;
  traffic::Endpoint client_;
  traffic::Endpoint server_;
  int64_t request_start_ = 0;
  int64_t request_end_ = 0;
  int64_t response_start_ = 0;
};

class Server {
 public:
  Server(asio::io_context& ioc, Shop& shop, Recorder* recorder, std::chrono::seconds idle_timeout)
      : ioc_(ioc),
        strand_(asio::make_strand(ioc)),
        acceptor_(strand_),
        deadline_(strand_),
        signals_(strand_, SIGINT, SIGTERM),
        shop_(shop),
        recorder_(recorder),
        registry_(std::make_shared<Registry>()),
        idle_timeout_(idle_timeout) {}

  /// Throws boost::system::system_error when the address cannot be bound.
  tcp::endpoint listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    return acceptor_.local_endpoint();
  }

  /// Accepts connections, and stops gracefully on SIGINT or SIGTERM.
  void start() {
    signals_.async_wait([this](error_code ec, int) { on_signal(ec); });
    accept();
  }

  /// Stops accepting and closes connections once their current response is written; then the
  /// io_context runs out of work and run() returns. Connections that take longer than `grace` are
  /// cut by stopping the io_context. Call on strand_.
  void stop(std::chrono::milliseconds grace) {
    if (stopping_) return;
    stopping_ = true;
    error_code ec;
    acceptor_.close(ec);
    deadline_.expires_after(grace);
    deadline_.async_wait([this](error_code ec) {
      if (!ec) ioc_.stop();
    });
    std::vector<std::shared_ptr<Connection>> live;
    bool empty;
    {
      std::lock_guard lock(registry_->mutex);
      registry_->on_empty = [this] { asio::post(strand_, [this] { drained(); }); };
      for (auto& [id, weak] : registry_->live) {
        if (auto c = weak.lock()) live.push_back(std::move(c));
      }
      empty = registry_->live.empty();
    }
    if (empty) drained();
    for (auto& c : live) {
      asio::post(c->executor(), [c] { c->stop(); });
    }
  }

  const Registry& registry() const { return *registry_; }

  /// Forgets the server in the registry's callback (which may outlive it).
  ~Server() {
    std::lock_guard lock(registry_->mutex);
    registry_->on_empty = nullptr;
  }

 private:
  void on_signal(error_code ec) {
    if (ec) return;  // cancelled: the server has drained
    if (stopping_) {
      ioc_.stop();  // a second signal: do not wait
      return;
    }
    // Wait for a second signal first: stop() may find nothing to drain and cancel it at once.
    signals_.async_wait([this](error_code ec, int) { on_signal(ec); });
    stop(std::chrono::seconds(5));
  }

  // Every connection has closed: drop the last pending work so that run() returns.
  void drained() {
    deadline_.cancel();
    error_code ec;
    signals_.cancel(ec);
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
      if (stopping_ || !acceptor_.is_open()) return;
      if (!ec) {
        uint64_t session = registry_->connections.fetch_add(1, std::memory_order_relaxed) + 1;
        socket.set_option(tcp::no_delay(true), ec);
        auto c = std::make_shared<Connection>(std::move(socket), session, shop_, recorder_,
                                              registry_, idle_timeout_);
        {
          std::lock_guard lock(registry_->mutex);
          registry_->live.emplace(session, c);
        }
        asio::dispatch(c->executor(), [c] { c->start(); });
      } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        // Out of file descriptors: back off briefly instead of spinning.
        std::fprintf(stderr, "shop: accept: %s\n", ec.message().c_str());
        deadline_.expires_after(std::chrono::milliseconds(100));
        deadline_.async_wait([this](error_code) { accept(); });
        return;
      }
      accept();
    });
  }

  asio::io_context& ioc_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer deadline_;
  asio::signal_set signals_;
  Shop& shop_;
  Recorder* recorder_;
  std::shared_ptr<Registry> registry_;
  std::chrono::seconds idle_timeout_;
  bool stopping_ = false;  // on strand_
};

struct Options {
  uint16_t port = 8080;
  std::string bind = "127.0.0.1";
  uint64_t seed = 1;
  unsigned threads = 1;
  unsigned idle_timeout = 60;
  std::string record;
  std::string users;        // --users FILE
  bool dump_users = false;  // --dump-users
  FaultFlags faults;
};

int run(const Options& opt) {
  Faults faults = Faults::parse(opt.faults, opt.seed);  // throws std::invalid_argument
  error_code ec;
  auto address = asio::ip::make_address(opt.bind, ec);
  if (ec) throw std::invalid_argument("--bind '" + opt.bind + "': not an IP address");

  Json fault_rules = faults.describe();
  Shop shop(opt.seed, std::move(faults));
  if (opt.dump_users) {
    Json all = Json::array();
    for (const User& u : shop.catalog().users) {
      Json j = to_json(u);
      j["password"] = u.password;
      all.push_back(std::move(j));
    }
    std::printf("%s\n", all.dump(1).c_str());
    return 0;
  }
  if (!opt.users.empty()) {
    std::ifstream in(opt.users, std::ios::binary);
    if (!in) throw std::invalid_argument("--users " + opt.users + ": cannot open");
    nlohmann::json users = nlohmann::json::parse(in, nullptr, false);
    if (users.is_discarded()) throw std::invalid_argument("--users " + opt.users + ": not JSON");
    shop.apply_users(users);
  }

  std::unique_ptr<Recorder> recorder;
  if (!opt.record.empty()) {
    nlohmann::json meta = {
        {"producer", "shop"},
        {"shop", {{"seed", opt.seed}, {"faults", nlohmann::json::parse(fault_rules.dump())}}}};
    auto r = Recorder::open(opt.record, meta);
    if (!r.has_value()) {
      std::fprintf(stderr, "shop: %s\n", r.error().message.c_str());
      return 2;
    }
    recorder = std::move(*r);
  }

  asio::io_context ioc(static_cast<int>(opt.threads));
  int exit_code = 0;
  {
    Server server(ioc, shop, recorder.get(), std::chrono::seconds(opt.idle_timeout));
    tcp::endpoint local;
    try {
      local = server.listen(tcp::endpoint(address, opt.port));
    } catch (const boost::system::system_error& e) {
      std::fprintf(stderr, "shop: cannot listen on %s: %s\n",
                   format_endpoint(tcp::endpoint(address, opt.port)).c_str(),
                   e.code().message().c_str());
      return 1;
    }
    std::printf("listening on %s\n", format_endpoint(local).c_str());
    std::fflush(stdout);

    server.start();

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < opt.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    // Unfinished handlers (after a forced stop) are dropped with the io_context, after the
    // server: the registry they reach is shared, so that is safe.

    const Registry& reg = server.registry();
    nlohmann::json counters = {{"requests", reg.requests.load()},
                               {"bad_requests", reg.bad_requests.load()},
                               {"connections", reg.connections.load()}};
    for (int c = 1; c <= 5; ++c) {
      counters[std::to_string(c) + "xx"] = reg.by_class[static_cast<size_t>(c)].load();
    }
    std::string line = "shop: requests=" + std::to_string(reg.requests.load());
    for (int c = 1; c <= 5; ++c) {
      line += " " + std::to_string(c) +
              "xx=" + std::to_string(reg.by_class[static_cast<size_t>(c)].load());
    }
    line += " bad_requests=" + std::to_string(reg.bad_requests.load()) +
            " connections=" + std::to_string(reg.connections.load());
    if (recorder) {
      counters["recorded"] = recorder->recorded();
      counters["record_failures"] = recorder->failed();
      auto closed = recorder->close({{"shop", {{"counters", counters}}}});
      line += " recorded=" + std::to_string(recorder->recorded());
      if (!closed.has_value()) {
        std::fprintf(stderr, "shop: %s\n", closed.error().message.c_str());
        exit_code = 1;
      }
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return exit_code;
}

}  // namespace
}  // namespace twin::shop

int main(int argc, char** argv) {
  using twin::shop::Options;
  Options opt;
  CLI::App app("shop: an HTTP/1.1 JSON service for twin demos and end-to-end tests");
  app.add_option("--port", opt.port, "TCP port; 0 picks a free one (see the 'listening on' line)");
  app.add_option("--bind", opt.bind, "address to listen on")->capture_default_str();
  app.add_option("--seed", opt.seed, "seed of the data and of the random regressions")
      ->capture_default_str();
  app.add_option("--threads", opt.threads, "threads running the event loop")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--idle-timeout", opt.idle_timeout, "seconds before an idle connection closes")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_option("--record", opt.record, "write every exchange served to this .twin archive");
  app.add_option("--users", opt.users,
                 "replace users' data with FILE (the form --dump-users prints; e.g. scrubbed)");
  app.add_flag("--dump-users", opt.dump_users,
               "print every user (with password) as a JSON array and exit");
  app.add_option("--latency", opt.faults.latency, "ROUTE=MS: added latency (repeatable)");
  app.add_option("--tail", opt.faults.tail,
                 "ROUTE=FRACTION:MS: added latency on a fraction of requests (repeatable)");
  app.add_option("--error-rate", opt.faults.error_rate,
                 "ROUTE=FRACTION: answer 500 on a fraction of requests (repeatable)");
  app.add_option("--change-field", opt.faults.change_field,
                 "ROUTE=FIELD[:type]: change a JSON field's value (or type) (repeatable)");
  app.add_option("--add-field", opt.faults.add_field,
                 "ROUTE=FIELD[:JSON]: add a JSON field (repeatable)");
  app.add_option("--reorder", opt.faults.reorder,
                 "ROUTE=FIELD: answer a JSON array in reverse order (repeatable)");
  app.add_option("--sequence-bug", opt.faults.sequence_bug,
                 "FIRST>SECOND: on a connection that served a FIRST request, every later SECOND "
                 "request answers 500 (a per-connection state bug)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "shop: %s\n", e.what());
    return 2;
  }
  try {
    return twin::shop::run(opt);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "shop: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shop: %s\n", e.what());
    return 1;
  }
}
