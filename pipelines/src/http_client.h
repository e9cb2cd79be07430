#pragma once
// The HTTP that is not replay, through libcurl: readiness probes of replay targets before a
// pipeline sends them traffic, and webhooks that carry a verdict. Neither ever prints a URL's
// query, a header value or a body: a webhook's URL is its secret.

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace twin::cli {

struct ProbeResult {
  bool ready = false;
  long status = 0;    // the last HTTP status seen (0: none)
  std::string error;  // the last failure, one line ("connection refused", "HTTP 503")
  int attempts = 0;
  double waited = 0;  // seconds
};

/// Polls `url` (http://, https://, or twin's h2c:// and h2://) with GET until it answers with
/// `want_status` (0: any status below 500) or `timeout` seconds pass; `stop` (may be null)
/// ends the wait early. Thread-safe (one curl handle per call).
ProbeResult wait_ready(const std::string& url, double timeout, long want_status, bool insecure,
                       const std::atomic<bool>* stop = nullptr);

struct PostResult {
  bool ok = false;  // a 2xx answer
  long status = 0;
  std::string error;  // one line, without the URL
};

/// POSTs `body` as application/json to `url` with `headers`, within `timeout` seconds.
PostResult post_json(const std::string& url, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     double timeout);

}  // namespace twin::cli
