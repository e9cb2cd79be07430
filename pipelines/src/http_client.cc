// libcurl for probes and webhooks: one easy handle per call, no shared state, so that the
// pipeline needs no curl_global bookkeeping beyond the one-time init below.

#include "http_client.h"

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

namespace twin::cli {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Bodies are read and thrown away (a probe's page, a webhook's answer): never kept, never shown.
size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// twin's target schemes to what curl speaks.
std::string curl_url(const std::string& url, long& http_version) {
  http_version = CURL_HTTP_VERSION_1_1;
  if (url.rfind("h2c://", 0) == 0) {
    http_version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    return "http://" + url.substr(6);
  }
  if (url.rfind("h2://", 0) == 0) {
    http_version = CURL_HTTP_VERSION_2TLS;
    return "https://" + url.substr(5);
  }
  return url;
}

}  // namespace

ProbeResult wait_ready(const std::string& url, double timeout, long want_status, bool insecure,
                       const std::atomic<bool>* stop) {
  global_init();
  ProbeResult r;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  long version = 0;
  std::string target = curl_url(url, version);
  Easy easy(curl_easy_init());
  if (!easy) {
    r.error = "curl could not start";
    return r;
  }
  CURL* c = easy.get();
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "twin-probe");
  if (insecure) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  double delay = 0.05;
  while (true) {
    ++r.attempts;
    double left = timeout - elapsed();
    long ms = static_cast<long>(std::max(0.2, std::min(left, 5.0)) * 1000);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    CURLcode code = curl_easy_perform(c);
    if (code == CURLE_OK) {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
      bool good = want_status ? r.status == want_status : (r.status > 0 && r.status < 500);
      if (good) {
        r.ready = true;
        r.error.clear();
        break;
      }
      r.error = "HTTP " + std::to_string(r.status);
    } else {
      r.error = curl_easy_strerror(code);
    }
    // Back off, but never past the deadline: the last probe goes out at the timeout itself.
    double remaining = timeout - elapsed();
    if (remaining <= 0 || (stop != nullptr && stop->load())) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(delay, remaining)));
    delay = std::min(delay * 2, 1.0);
  }
  r.waited = elapsed();
  return r;
}

PostResult post_json(const std::string& url, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     double timeout) {
  global_init();
  PostResult r;
  Easy easy(curl_easy_init());
  if (!easy) {
    r.error = "curl could not start";
    return r;
  }
  CURL* c = easy.get();
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [name, value] : headers) {
    std::string line = name + ": " + value;
    if (auto* next = curl_slist_append(list, line.c_str())) list = next;
  }
  Slist owned(list);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "twin");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout * 1000));
  CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    r.error = curl_easy_strerror(code);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.ok = r.status >= 200 && r.status < 300;
  if (!r.ok) r.error = "HTTP " + std::to_string(r.status);
  return r;
}

}  // namespace twin::cli
