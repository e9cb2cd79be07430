#pragma once
// The regressions a candidate shop can be started with (--latency, --tail, --error-rate,
// --change-field, --add-field, --sequence-bug): parsed from flags, decided per request,
// reproducible per seed.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data.h"

namespace twin::shop {

/// The route names flags refer to: method and path template. "*" in a flag means all of them.
inline constexpr std::array<std::string_view, 8> kRoutes = {
    "POST /api/login",      "GET /api/users",  "GET /api/users/{id}", "POST /api/orders",
    "GET /api/orders/{id}", "GET /api/search", "GET /static/*",       "GET /healthz"};

/// The raw values of the repeatable flags, as given on the command line.
struct FaultFlags {
  std::vector<std::string> latency;       // ROUTE=MS
  std::vector<std::string> tail;          // ROUTE=FRACTION:MS
  std::vector<std::string> error_rate;    // ROUTE=FRACTION
  std::vector<std::string> change_field;  // ROUTE=FIELD or ROUTE=FIELD:type
  std::vector<std::string> add_field;     // ROUTE=FIELD or ROUTE=FIELD:JSON
  std::vector<std::string> reorder;       // ROUTE=FIELD (an array, answered in reverse order)
  std::string sequence_bug;               // FIRST>SECOND (routes), or empty
};

/// The parsed rules. decide() and apply() are thread-safe.
class Faults {
 public:
  /// Throws std::invalid_argument with a one-line message naming the flag and its value.
  static Faults parse(const FaultFlags& flags, uint64_t seed);

  struct Decision {
    std::chrono::microseconds delay{0};
    bool error = false;  // answer 500 instead of handling the request
  };
  /// What to do to the next request of `route`. Random choices hash (seed, rule, the rule's own
  /// request counter), so the n-th request of a route gets the same fate in every run.
  Decision decide(std::string_view route);
  /// Applies --change-field, --add-field and --reorder rules to a successful JSON response body.
  void apply(std::string_view route, Json& body) const;
  /// Whether apply() would do anything for `route`.
  bool changes_fields(std::string_view route) const;
  /// --sequence-bug FIRST>SECOND, a per-connection state bug: once a request of route FIRST was
  /// served on a connection, every later request of route SECOND on it answers 500. `seen` is
  /// the connection's own state (false when it opens). Returns whether this request of `route`
  /// fails, and notes a FIRST as served. Thread-compatible: `seen` belongs to one connection.
  bool sequence_error(std::string_view route, bool& seen) const {
    if (sequence_first_.empty()) return false;
    const bool fails = seen && route == sequence_second_;
    if (route == sequence_first_) seen = true;
    return fails;
  }
  bool empty() const { return rules_.empty() && sequence_first_.empty(); }
  /// The rules as JSON (for the archive metadata and the start-up log).
  Json describe() const;

 private:
  enum class Kind { kLatency, kTail, kError, kChangeField, kAddField, kReorder };
  struct Rule {
    Kind kind;
    std::string flag;   // the flag's value as given
    std::string route;  // a kRoutes entry or "*"
    double fraction = 1.0;
    double ms = 0;
    std::vector<std::string> path;  // the field, split at '.'
    bool change_type = false;
    Json value;
    std::atomic<uint64_t> counter{0};
    bool matches(std::string_view r) const { return route == "*" || route == r; }
  };
  // Rules hold atomics, which do not move: keep them behind pointers.
  std::vector<std::unique_ptr<Rule>> rules_;
  uint64_t seed_ = 0;
  std::string sequence_flag_;  // --sequence-bug as given
  std::string sequence_first_, sequence_second_;
};

/// The changed value --change-field puts in place of `v` (exposed for tests).
Json changed_value(const Json& v, bool change_type);

}  // namespace twin::shop
