#pragma once
// Selecting exchanges by a small expression, shared by `twin filter`, the pipeline's filter
// stage, and `twin reproduce --filter/--expect`.
//
// An expression is a list of terms separated by spaces; every term must hold (AND). A term is
// KEY OP VALUE, where OP is `=` (one of the values), `!=` (none of them), `~` (RE2 search) or
// `!~` (no match), and VALUE is one value or several separated by `|`; a value may be
// double-quoted to hold spaces (`\"` and `\\` escape inside quotes). Keys:
//   method   request method, case-insensitive                      method=GET|POST
//   route    glob on the path without the query ('*' within one segment, '**' across them)
//   path     the request target (path and query), with ~ only      path~"^/api/v2/"
//   status   the response status: 500, 5xx, or `none` (no response)  status=5xx|429
//   error    the error kind: none, any, connect, timeout, reset, protocol, truncated, ...
//   target   the replay target's name                              target=candidate
//   session  the session (connection) id;   id, origin: exchange ids    session=12|40
//   body     the response body, with ~ / !~ only                    body~"out of stock"
//   request_body   the request body, with ~ / !~ only
// method, route (on the path without the query) and target also take ~ and !~; status, error,
// session, id and origin take = and != only. An empty expression selects everything.
//
// Errors name the term and its column: "--where: column 9: unknown key 'stauts'".

#include <memory>
#include <string>
#include <string_view>

#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::cli {

class Selector {
 public:
  /// Parses `expression`; `what` names it in errors ("--where", "--expect", a file:line).
  static Result<Selector> parse(std::string_view expression, std::string_view what);
  Selector();
  ~Selector();
  Selector(Selector&&) noexcept;
  Selector& operator=(Selector&&) noexcept;

  /// Whether `e` satisfies every term. Thread-compatible (const, no shared mutable state).
  bool matches(const traffic::Exchange& e) const;
  bool empty() const;
  /// The expression as given (for reports and metadata).
  const std::string& text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::cli
