#pragma once
// The shop's application logic, without I/O: a parsed request in, a response out. The server
// (shop.cc) owns sockets, timers and recording; this class only knows HTTP messages.

#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "data.h"
#include "faults.h"

namespace twin::shop {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

struct Handled {
  HttpResponse response;   // status, Content-Type and body set; the server adds the rest
  std::string_view route;  // a kRoutes entry, or "" when no route matched
  std::chrono::microseconds delay{0};  // added latency to wait before answering
};

/// The service. handle() is thread-safe (orders are kept under a mutex; tokens are stateless).
class Shop {
 public:
  /// Orders beyond this many are forgotten oldest first, so memory stays bounded.
  static constexpr size_t kMaxOrders = 100000;

  Shop(uint64_t seed, Faults faults);

  /// `sequence_seen` is the connection's --sequence-bug state (see Faults::sequence_error);
  /// nullptr: none kept.
  Handled handle(const HttpRequest& request, bool* sequence_seen = nullptr);

  const Catalog& catalog() const { return catalog_; }
  /// Before serving: replaces users' data (Catalog::apply_users). Not thread-safe.
  void apply_users(const nlohmann::json& users) { catalog_.apply_users(users); }
  const Faults& faults() const { return faults_; }

  /// Issues a bearer token for a user. Tokens are stateless (a keyed hash of the user id and a
  /// nonce), so a shop started with the same seed accepts tokens issued by another one.
  std::string issue_token(int user_id);
  /// The user id a token was issued for, or 0 when it is not a valid token.
  int verify_token(std::string_view token) const;

 private:
  HttpResponse dispatch(const HttpRequest& request, std::string_view route, std::string_view path,
                        std::string_view query, std::string_view param);
  HttpResponse login(const HttpRequest& request);
  HttpResponse list_users(std::string_view query);
  HttpResponse get_user(const HttpRequest& request, std::string_view id);
  HttpResponse create_order(const HttpRequest& request);
  HttpResponse get_order(const HttpRequest& request, std::string_view id);
  HttpResponse search(std::string_view query);
  HttpResponse static_file(std::string_view path);
  int authenticate(const HttpRequest& request) const;

  uint64_t seed_;
  uint64_t key_;
  Catalog catalog_;
  Faults faults_;
  std::atomic<uint64_t> token_counter_{0};

  std::mutex orders_mutex_;
  int64_t next_order_id_ = 100001;  // guarded by orders_mutex_
  std::unordered_map<int64_t, Json> orders_;
  std::deque<int64_t> order_ids_;  // creation order, for eviction
};

/// Percent-decodes a query component ('+' is a space). Invalid escapes are kept as they are.
std::string url_decode(std::string_view s);

/// The value of query parameter `name` (decoded), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace twin::shop
