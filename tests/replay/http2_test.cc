// Tests of the HTTP/2 client session (replay/src/http2.cc) against an in-memory nghttp2 *server*
// session: bytes go client → server → client in a loop, no sockets, no threads.

#include "twin/replay/http2.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "byte_cases.h"
#include "bytes.h"
#include "h2_mem.h"

namespace twin::replay {
namespace {

using traffic::ErrorKind;
using traffic::Headers;

// ---------------------------------------------------------------------------------------------
// The peer: an nghttp2 server session with its requests and canned responses.

struct ServerRequest {
  int32_t id = 0;
  Headers headers;  // as received, pseudo-headers included
  std::string body;
  bool ended = false;

  std::string get(std::string_view name) const {
    for (const auto& h : headers)
      if (h.name == name) return h.value;
    return "<none>";
  }
  size_t count(std::string_view name) const {
    return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                             [&](const auto& h) { return h.name == name; }));
  }
};

struct ServerConfig {
  uint32_t max_concurrent_streams = 100;
  uint32_t initial_window = 65535;
};

class TestServer {
 public:
  /// Called when a request has ended (END_STREAM); may respond at once or leave it for later.
  using Handler = std::function<void(TestServer&, ServerRequest&)>;

  explicit TestServer(ServerConfig config, Handler on_request, Handler on_headers = {})
      : on_request_(std::move(on_request)), on_headers_(std::move(on_headers)) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &TestServer::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &TestServer::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &TestServer::on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &TestServer::on_frame_recv);
    nghttp2_session_server_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, config.initial_window},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  }
  ~TestServer() { nghttp2_session_del(session_); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  void feed(std::string_view bytes) {
    if (bytes.empty()) return;
    const ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ASSERT_EQ(rv, static_cast<ssize_t>(bytes.size())) << nghttp2_strerror(static_cast<int>(rv));
  }

  std::string drain() {
    std::string out;
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      EXPECT_GE(n, 0);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }

  void respond(int32_t id, int status, Headers headers = {}, std::string body = {},
               Headers trailers = {}) {
    Outgoing& o = outgoing_[id];
    o.body = std::move(body);
    o.sent = 0;
    o.trailers = std::move(trailers);
    const std::string code = std::to_string(status);
    std::vector<nghttp2_nv> nva = nv_list(code, headers);
    nghttp2_data_provider provider{};
    provider.read_callback = &TestServer::read_body;
    const bool provide = !o.body.empty() || !o.trailers.empty();
    EXPECT_EQ(nghttp2_submit_response(session_, id, nva.data(), nva.size(),
                                      provide ? &provider : nullptr),
              0);
  }
  /// A HEADERS block without END_STREAM: an interim (1xx) response, or a response in progress.
  void headers(int32_t id, int status, Headers headers = {}) {
    const std::string code = std::to_string(status);
    std::vector<nghttp2_nv> nva = nv_list(code, headers);
    EXPECT_EQ(nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nva.data(),
                                     nva.size(), nullptr),
              0);
  }
  void reset(int32_t id, uint32_t code) {
    EXPECT_EQ(nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code), 0);
  }
  void goaway(int32_t last_stream_id, uint32_t code = NGHTTP2_NO_ERROR) {
    EXPECT_EQ(nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_stream_id, code, nullptr, 0),
              0);
  }

  std::map<int32_t, ServerRequest> requests;
  int goaways_received = 0;
  uint32_t goaway_error = 0;

 private:
  struct Outgoing {
    std::string body;
    size_t sent = 0;
    Headers trailers;
  };

  std::vector<nghttp2_nv> nv_list(const std::string& status, const Headers& headers) {
    std::vector<nghttp2_nv> nva;
    nva.push_back(nv(":status", status));
    for (const auto& h : headers) {
      nva.push_back(nv(h.name, h.value));
      if (std::any_of(h.name.begin(), h.name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        // nghttp2 lower-cases the names it copies; to put a malformed (upper-case) name on the
        // wire, the name must not be copied, so it has to live until the frame is sent.
        kept_names_.push_back(std::make_unique<std::string>(h.name));
        nva.back().name = reinterpret_cast<uint8_t*>(kept_names_.back()->data());
        nva.back().flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME;
      }
    }
    return nva;
  }
  static nghttp2_nv nv(std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  }
  static TestServer& self(void* p) { return *static_cast<TestServer*>(p); }

  static ssize_t read_body(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user_data) {
    Outgoing& o = self(user_data).outgoing_[id];
    const size_t n = std::min(length, o.body.size() - o.sent);
    std::copy_n(o.body.data() + o.sent, n, buf);
    o.sent += n;
    if (o.sent == o.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!o.trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        for (const auto& h : o.trailers) nva.push_back(nv(h.name, h.value));
        if (nghttp2_submit_trailer(session, id, nva.data(), nva.size()) != 0) {
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      self(user_data).requests[frame->hd.stream_id].id = frame->hd.stream_id;
    }
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                       void* user_data) {
    self(user_data).requests[frame->hd.stream_id].headers.push_back(
        {std::string(reinterpret_cast<const char*>(name), namelen),
         std::string(reinterpret_cast<const char*>(value), valuelen)});
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void* user_data) {
    self(user_data).requests[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    TestServer& s = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      ++s.goaways_received;
      s.goaway_error = frame->goaway.error_code;
      return 0;
    }
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      s.resets_received.insert(frame->hd.stream_id);
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    auto it = s.requests.find(frame->hd.stream_id);
    if (it == s.requests.end()) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && s.on_headers_) s.on_headers_(s, it->second);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      it->second.ended = true;
      if (s.on_request_) s.on_request_(s, it->second);
    }
    return 0;
  }

  std::set<int32_t> resets_received;

 public:
  bool was_reset(int32_t id) const { return resets_received.count(id) != 0; }

 private:
  nghttp2_session* session_ = nullptr;
  Handler on_request_;
  Handler on_headers_;
  std::map<int32_t, Outgoing> outgoing_;
  std::vector<std::unique_ptr<std::string>> kept_names_;
};

// ---------------------------------------------------------------------------------------------
// The client under test, its completions, and the loop between the two.

class Harness {
 public:
  Harness(Http2Options options, ServerConfig server_config, TestServer::Handler on_request,
          TestServer::Handler on_headers = {})
      : server(server_config, std::move(on_request), std::move(on_headers)) {
    auto created = Http2Session::create(options, [this](Completion& c) {
      completions.push_back(c);
      ++counts[c.token];
      if (also) also(c);
    });
    EXPECT_TRUE(created.has_value());
    if (created) session = std::move(*created);
  }

  Http2Session& client() { return *session; }

  /// Delivers server bytes to the client, `chunk` bytes per receive() (0: all at once).
  void to_client(std::string_view bytes) {
    if (chunk == 0) {
      if (!bytes.empty()) session->receive(as_bytes(bytes), bytes.size(), ++now);
      return;
    }
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      const size_t n = std::min(chunk, bytes.size() - at);
      session->receive(as_bytes(bytes.substr(at, n)), n, ++now);
    }
  }

  /// Moves bytes both ways until neither side has anything to say. Returns the rounds taken.
  int pump(int max_rounds = 100000) {
    int rounds = 0;
    for (; rounds < max_rounds; ++rounds) {
      std::string up;
      session->pending_output(up);
      server.feed(up);
      const std::string down = server.drain();
      to_client(down);
      if (up.empty() && down.empty()) break;
    }
    EXPECT_LT(rounds, max_rounds) << "the exchange did not settle";
    return rounds;
  }

  int32_t submit(const OutRequest& request, uint64_t token, std::string_view scheme = "https") {
    return session->submit(request, scheme, token, ++now);
  }

  const Completion& of(uint64_t token) const {
    for (const auto& c : completions)
      if (c.token == token) return c;
    ADD_FAILURE() << "no completion for token " << token;
    static const Completion kNone;
    return kNone;
  }

  /// Every token completed exactly once, and nothing else did.
  void expect_each_once(const std::vector<uint64_t>& tokens) const {
    for (uint64_t t : tokens) {
      auto it = counts.find(t);
      EXPECT_TRUE(it != counts.end() && it->second == 1)
          << "token " << t << " completed " << (it == counts.end() ? 0 : it->second) << " times";
    }
    EXPECT_EQ(completions.size(), tokens.size());
  }

  static const uint8_t* as_bytes(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
  }

  TestServer server;
  std::unique_ptr<Http2Session> session;
  std::vector<Completion> completions;
  std::map<uint64_t, int> counts;
  std::function<void(Completion&)> also;  // runs inside on_complete, after recording
  int64_t now = 1'000'000;
  size_t chunk = 0;
};

OutRequest get(std::string path, Headers headers = {}) {
  OutRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.authority = "example.com";
  r.headers = std::move(headers);
  return r;
}

OutRequest post(std::string path, std::string body) {
  OutRequest r = get(std::move(path));
  r.method = "POST";
  r.body = std::move(body);
  return r;
}

std::string pattern(size_t size, uint32_t seed = 1) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(Http2Session, SimpleGet) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    s.respond(r.id, 200, {{"content-type", "text/plain"}, {"x-trace", "abc"}}, "hello world");
  });
  EXPECT_TRUE(h.client().want_write());  // the preface and SETTINGS
  EXPECT_TRUE(h.client().can_submit());
  const int64_t sent_at = h.now;
  EXPECT_EQ(h.submit(get("/hello?x=1", {{"accept", "*/*"}}), 7), 1);
  EXPECT_EQ(h.client().open_streams(), 1u);
  h.pump();

  h.expect_each_once({7});
  const Completion& c = h.of(7);
  EXPECT_EQ(c.error, ErrorKind::kNone);
  EXPECT_TRUE(c.has_response);
  EXPECT_EQ(c.response.status, 200);
  EXPECT_EQ(c.response.headers,
            (Headers{{":status", "200"}, {"content-type", "text/plain"}, {"x-trace", "abc"}}));
  EXPECT_EQ(c.response.body, "hello world");
  EXPECT_EQ(c.response.body_size, 11u);
  EXPECT_EQ(c.response.framing, traffic::Framing::kHttp2);
  EXPECT_EQ(c.flags, 0u);
  EXPECT_GT(c.response_start, sent_at);
  EXPECT_GE(c.response_end, c.response_start);
  EXPECT_LE(c.response_end, h.now);

  const ServerRequest& r = h.server.requests.at(1);
  ASSERT_GE(r.headers.size(), 5u);
  EXPECT_EQ(r.headers[0].name, ":method");
  EXPECT_EQ(r.get(":method"), "GET");
  EXPECT_EQ(r.get(":scheme"), "https");
  EXPECT_EQ(r.get(":authority"), "example.com");
  EXPECT_EQ(r.get(":path"), "/hello?x=1");
  EXPECT_EQ(r.get("accept"), "*/*");
  EXPECT_EQ(r.count("content-length"), 0u);
  EXPECT_TRUE(r.body.empty());

  EXPECT_EQ(h.client().open_streams(), 0u);
  EXPECT_TRUE(h.client().alive());
  EXPECT_TRUE(h.client().can_submit());
  EXPECT_FALSE(h.client().want_write());
  EXPECT_EQ(h.client().failure(), "");
}

TEST(Http2Session, SchemeAndEmptyPath) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 204); });
  EXPECT_EQ(h.submit(get(""), 1, "http"), 1);
  h.pump();
  h.expect_each_once({1});
  EXPECT_EQ(h.of(1).response.status, 204);
  EXPECT_TRUE(h.of(1).response.body.empty());
  EXPECT_EQ(h.server.requests.at(1).get(":scheme"), "http");
  EXPECT_EQ(h.server.requests.at(1).get(":path"), "/");
}

TEST(Http2Session, PostLargeBodyHonoursFlowControl) {
  ServerConfig sc;
  sc.initial_window = 1024;  // the server's stream window: the upload must pause and resume
  Harness h({}, sc, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 201, {}, "created"); });
  h.pump();  // the handshake: the client learns the server's window

  const std::string body = pattern(1 << 20);
  ASSERT_EQ(h.submit(post("/upload", body), 3), 1);
  std::string first;
  h.client().pending_output(first);
  // HEADERS and no more DATA than the server's 1024-byte window.
  EXPECT_GT(first.size(), 1024u);
  EXPECT_LT(first.size(), 1024u + 512u);
  h.server.feed(first);
  h.to_client(h.server.drain());
  const int rounds = h.pump();
  EXPECT_GT(rounds, 500);  // about one window per round trip

  h.expect_each_once({3});
  const ServerRequest& r = h.server.requests.at(1);
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(r.get(":method"), "POST");
  EXPECT_EQ(r.get("content-length"), "1048576");
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_TRUE(r.body == body);
  EXPECT_EQ(h.of(3).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(3).response.status, 201);
  EXPECT_EQ(h.of(3).response.body, "created");
}

TEST(Http2Session, LargeResponseIsNotThrottledAndIsCappedAtMaxBody) {
  const std::string big = pattern(5 << 20, 9);
  Http2Options options;
  options.max_body = 1 << 20;
  Harness h(options, {}, [&](TestServer& s, ServerRequest& r) {
    s.respond(r.id, 200, {{"content-length", std::to_string(big.size())}}, big);
  });
  ASSERT_EQ(h.submit(get("/big"), 1), 1);
  std::string up;
  h.client().pending_output(up);
  h.server.feed(up);
  const std::string down = h.server.drain();
  // Our SETTINGS and connection WINDOW_UPDATE let the server send all 5 MiB in one flight.
  EXPECT_GT(down.size(), big.size());
  h.to_client(down);
  h.pump();

  h.expect_each_once({1});
  const Completion& c = h.of(1);
  EXPECT_EQ(c.error, ErrorKind::kNone);
  EXPECT_EQ(c.response.status, 200);
  EXPECT_EQ(c.response.body.size(), size_t{1} << 20);
  EXPECT_TRUE(c.response.body == big.substr(0, 1 << 20));
  EXPECT_EQ(c.response.body_size, big.size());
  EXPECT_NE(c.flags & traffic::kFlagResponseBodyTruncated, 0u);
}

TEST(Http2Session, LargeResponseKeptWholeUnderMaxBody) {
  const std::string big = pattern(5 << 20, 4);
  Http2Options options;
  options.max_body = 8 << 20;
  Harness h(options, {}, [&](TestServer& s, ServerRequest& r) { s.respond(r.id, 200, {}, big); });
  ASSERT_EQ(h.submit(get("/big"), 1), 1);
  h.pump();
  h.expect_each_once({1});
  EXPECT_EQ(h.of(1).response.body_size, big.size());
  EXPECT_TRUE(h.of(1).response.body == big);
  EXPECT_EQ(h.of(1).flags, 0u);
}

TEST(Http2Session, SmallWindowsAreReopenedAutomatically) {
  const std::string body = pattern(1 << 20, 5);
  Http2Options options;
  options.stream_window = 65535;
  options.connection_window = 65535;
  Harness h(options, {}, [&](TestServer& s, ServerRequest& r) { s.respond(r.id, 200, {}, body); });
  ASSERT_EQ(h.submit(get("/"), 1), 1);
  const int rounds = h.pump();
  EXPECT_GT(rounds, 10);  // WINDOW_UPDATE after WINDOW_UPDATE
  h.expect_each_once({1});
  EXPECT_TRUE(h.of(1).response.body == body);
}

TEST(Http2Session, TrailersAreAppendedToHeaders) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") == "/grpc") {
      s.respond(r.id, 200, {{"content-type", "application/grpc"}}, std::string("\0\0\0\0\2hi", 7),
                {{"grpc-status", "0"}, {"grpc-message", "OK"}});
    } else {
      // Trailers without a body.
      s.respond(r.id, 200, {{"content-type", "application/grpc"}}, "",
                {{"grpc-status", "5"}, {"grpc-message", "not found"}});
    }
  });
  ASSERT_GT(h.submit(post("/grpc", "x"), 1), 0);
  ASSERT_GT(h.submit(post("/empty", "y"), 2), 0);
  h.pump();
  h.expect_each_once({1, 2});
  const Completion& c = h.of(1);
  EXPECT_EQ(c.error, ErrorKind::kNone);
  EXPECT_EQ(c.response.headers, (Headers{{":status", "200"},
                                         {"content-type", "application/grpc"},
                                         {"grpc-status", "0"},
                                         {"grpc-message", "OK"}}));
  EXPECT_EQ(c.response.body, std::string("\0\0\0\0\2hi", 7));
  const Completion& e = h.of(2);
  EXPECT_EQ(e.error, ErrorKind::kNone);
  const traffic::Header* status = traffic::find_header(e.response.headers, "grpc-status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->value, "5");
  EXPECT_EQ(e.response.headers.back().value, "not found");
  EXPECT_TRUE(e.response.body.empty());
}

std::string body_for(int i) {
  return "stream " + std::to_string(i) + ";" +
         std::string(size_t(i) * 613 % 40000 + 1, 'a' + i % 26);
}

TEST(Http2Session, HundredConcurrentStreamsInterleaved) {
  Harness h({}, {}, nullptr);  // the server answers when told
  h.pump();
  std::vector<uint64_t> tokens;
  for (int i = 0; i < 100; ++i) {
    const int32_t id = h.submit(get("/" + std::to_string(i)), 1000 + i);
    EXPECT_EQ(id, 2 * i + 1);
    tokens.push_back(1000 + i);
  }
  EXPECT_EQ(h.client().open_streams(), 100u);
  EXPECT_FALSE(h.client().can_submit());  // our own max_concurrent_streams (100)
  EXPECT_EQ(h.submit(get("/101"), 9999), 0);
  h.pump();
  ASSERT_EQ(h.server.requests.size(), 100u);
  // Answered in a scrambled order; nghttp2's scheduler interleaves the DATA of all of them.
  for (int k = 0; k < 100; ++k) {
    const int i = (k * 37) % 100;
    ASSERT_EQ(h.server.requests.at(2 * i + 1).get(":path"), "/" + std::to_string(i));
    h.server.respond(2 * i + 1, 200, {{"x-i", std::to_string(i)}}, body_for(i));
  }
  h.pump();
  h.expect_each_once(tokens);
  for (int i = 0; i < 100; ++i) {
    const Completion& c = h.of(1000 + i);
    EXPECT_EQ(c.error, ErrorKind::kNone);
    EXPECT_EQ(c.response.body, body_for(i)) << i;
    const traffic::Header* x = traffic::find_header(c.response.headers, "x-i");
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(x->value, std::to_string(i));
  }
  EXPECT_EQ(h.client().open_streams(), 0u);
  EXPECT_TRUE(h.client().can_submit());
}

TEST(Http2Session, ServerConcurrencyLimit) {
  ServerConfig sc;
  sc.max_concurrent_streams = 2;
  Harness h({}, sc, nullptr);
  h.pump();
  EXPECT_TRUE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/a"), 1), 1);
  EXPECT_TRUE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/b"), 2), 3);
  EXPECT_FALSE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/c"), 3), 0);
  h.pump();
  EXPECT_EQ(h.server.requests.size(), 2u);
  EXPECT_FALSE(h.client().can_submit());
  h.server.respond(1, 200);
  h.pump();
  EXPECT_EQ(h.counts[1], 1);
  EXPECT_EQ(h.client().open_streams(), 1u);
  EXPECT_TRUE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/c"), 3), 5);
  EXPECT_FALSE(h.client().can_submit());
  h.pump();
  h.server.respond(3, 200);
  h.server.respond(5, 200);
  h.pump();
  h.expect_each_once({1, 2, 3});
}

TEST(Http2Session, OwnConcurrencyLimit) {
  Http2Options options;
  options.max_concurrent_streams = 1;
  Harness h(options, {}, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 200); });
  EXPECT_EQ(h.submit(get("/a"), 1), 1);
  EXPECT_FALSE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/b"), 2), 0);
  h.pump();
  EXPECT_TRUE(h.client().can_submit());
  h.expect_each_once({1});
}

TEST(Http2Session, ResetStreamsCompleteWithReset) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    const std::string path = r.get(":path");
    if (path == "/refuse") s.reset(r.id, NGHTTP2_REFUSED_STREAM);
    if (path == "/partial") s.headers(r.id, 200, {{"x", "1"}});
    if (path == "/ok") s.respond(r.id, 200, {}, "fine");
  });
  ASSERT_EQ(h.submit(get("/refuse"), 1), 1);
  ASSERT_EQ(h.submit(get("/partial"), 2), 3);
  ASSERT_EQ(h.submit(get("/ok"), 3), 5);
  h.pump();
  EXPECT_EQ(h.counts.count(2), 0u);  // a response in progress is held
  EXPECT_EQ(h.client().open_streams(), 1u);
  h.server.reset(3, NGHTTP2_INTERNAL_ERROR);
  h.pump();
  h.expect_each_once({1, 2, 3});
  EXPECT_EQ(h.of(1).error, ErrorKind::kReset);
  EXPECT_FALSE(h.of(1).has_response);
  EXPECT_EQ(h.of(2).error, ErrorKind::kReset);
  EXPECT_TRUE(h.of(2).has_response);
  EXPECT_EQ(h.of(2).response.status, 200);
  EXPECT_NE(h.of(2).response_end, traffic::kNoTime);
  EXPECT_EQ(h.of(3).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(3).response.body, "fine");
  // A stream reset is not the connection's failure.
  EXPECT_TRUE(h.client().alive());
  EXPECT_TRUE(h.client().can_submit());
  EXPECT_EQ(h.client().failure(), "");
}

TEST(Http2Session, CancelEndsOneStreamAndTheServerSeesTheReset) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") == "/fast") s.respond(r.id, 200, {}, "fast");
    // "/stall" gets no answer: the client's timeout cancels it.
  });
  ASSERT_EQ(h.submit(get("/stall"), 1), 1);
  ASSERT_EQ(h.submit(get("/fast"), 2), 3);
  h.pump();
  EXPECT_EQ(h.counts.count(1), 0u);
  h.client().cancel(1, ErrorKind::kTimeout, ++h.now);
  h.client().cancel(1, ErrorKind::kTimeout, ++h.now);   // twice: ignored
  h.client().cancel(99, ErrorKind::kTimeout, ++h.now);  // unknown: ignored
  h.pump();
  h.expect_each_once({1, 2});
  EXPECT_EQ(h.of(1).error, ErrorKind::kTimeout);
  EXPECT_EQ(h.of(2).error, ErrorKind::kNone);
  EXPECT_EQ(h.client().open_streams(), 0u);
  // The server got RST_STREAM for stream 1: a late answer to it is dropped, and the session
  // goes on.
  EXPECT_TRUE(h.server.was_reset(1));
  EXPECT_TRUE(h.client().alive());
  ASSERT_EQ(h.submit(get("/fast"), 3), 5);
  h.pump();
  EXPECT_EQ(h.of(3).response.body, "fast");
}

TEST(Http2Session, MalformedResponseResetsOnlyItsStream) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") == "/bad") {
      s.respond(r.id, 200, {{"X-Upper", "1"}}, "x");  // upper case: malformed in HTTP/2
    } else {
      s.respond(r.id, 200, {}, "good");
    }
  });
  ASSERT_GT(h.submit(get("/bad"), 1), 0);
  h.pump();
  ASSERT_GT(h.submit(get("/good"), 2), 0);
  h.pump();
  h.expect_each_once({1, 2});
  EXPECT_EQ(h.of(1).error, ErrorKind::kProtocol);
  EXPECT_EQ(h.of(2).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(2).response.body, "good");
  EXPECT_TRUE(h.client().alive());
}

TEST(Http2Session, GoawayRefusesLaterStreams) {
  Harness h({}, {}, nullptr);
  h.pump();
  ASSERT_EQ(h.submit(get("/1"), 1), 1);
  ASSERT_EQ(h.submit(get("/2"), 2), 3);
  ASSERT_EQ(h.submit(get("/3"), 3), 5);
  h.pump();
  ASSERT_EQ(h.server.requests.size(), 3u);
  h.server.goaway(1);
  const std::string down = h.server.drain();
  // Submitted but not yet sent when the GOAWAY arrives: refused as well.
  ASSERT_EQ(h.submit(get("/4"), 4), 7);
  h.to_client(down);
  for (uint64_t t : {2, 3, 4}) {
    EXPECT_EQ(h.counts[t], 1) << t;
    EXPECT_EQ(h.of(t).error, ErrorKind::kReset) << t;
    EXPECT_FALSE(h.of(t).has_response) << t;
  }
  EXPECT_EQ(h.counts.count(1), 0u);
  EXPECT_FALSE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/5"), 5), 0);
  EXPECT_TRUE(h.client().alive());  // stream 1 is still to be answered
  EXPECT_EQ(h.client().open_streams(), 1u);
  EXPECT_EQ(h.client().failure(), "goaway");
  h.pump();
  EXPECT_EQ(h.server.requests.count(7), 0u);  // the refused request never left
  h.server.respond(1, 200, {}, "last");
  h.pump();
  h.expect_each_once({1, 2, 3, 4});
  EXPECT_EQ(h.of(1).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(1).response.body, "last");
  EXPECT_FALSE(h.client().alive());
  EXPECT_EQ(h.client().open_streams(), 0u);
}

TEST(Http2Session, GarbageFailsEveryOpenStream) {
  Harness h({}, {}, nullptr);
  h.pump();
  ASSERT_EQ(h.submit(get("/a"), 1), 1);
  ASSERT_EQ(h.submit(post("/b", pattern(200000)), 2), 3);
  h.pump();
  const std::string garbage(64, '\xff');
  h.client().receive(Harness::as_bytes(garbage), garbage.size(), ++h.now);
  h.expect_each_once({1, 2});
  EXPECT_EQ(h.of(1).error, ErrorKind::kProtocol);
  EXPECT_EQ(h.of(2).error, ErrorKind::kProtocol);
  EXPECT_EQ(h.client().failure(), "protocol");
  EXPECT_FALSE(h.client().alive());
  EXPECT_FALSE(h.client().can_submit());
  EXPECT_EQ(h.submit(get("/c"), 3), 0);
  EXPECT_EQ(h.client().open_streams(), 0u);
  // The server is told why (GOAWAY with PROTOCOL_ERROR or FRAME_SIZE_ERROR).
  std::string up;
  h.client().pending_output(up);
  h.server.feed(up);
  EXPECT_EQ(h.server.goaways_received, 1);
  EXPECT_NE(h.server.goaway_error, 0u);
  // Nothing after completes anything again.
  h.client().receive(Harness::as_bytes(garbage), garbage.size(), ++h.now);
  h.client().close(ErrorKind::kTruncated, ++h.now);
  h.expect_each_once({1, 2});
}

TEST(Http2Session, NotHttp2AtAll) {
  Harness h({}, {}, nullptr);
  ASSERT_EQ(h.submit(get("/"), 1), 1);
  std::string up;
  h.client().pending_output(up);
  const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  h.client().receive(Harness::as_bytes(reply), reply.size(), ++h.now);
  h.expect_each_once({1});
  EXPECT_EQ(h.of(1).error, ErrorKind::kProtocol);
  EXPECT_EQ(h.client().failure(), "protocol");
  EXPECT_FALSE(h.client().alive());
}

TEST(Http2Session, CloseCompletesEveryOpenStreamOnce) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") == "/slow") s.headers(r.id, 200, {{"x", "1"}});
  });
  ASSERT_GT(h.submit(get("/slow"), 1), 0);
  ASSERT_GT(h.submit(get("/never"), 2), 0);
  h.pump();
  ASSERT_GT(h.submit(get("/unsent"), 3), 0);  // not even sent
  EXPECT_EQ(h.client().open_streams(), 3u);
  const int64_t end = ++h.now;
  h.client().close(ErrorKind::kTruncated, end);
  h.expect_each_once({1, 2, 3});
  for (uint64_t t : {1, 2, 3}) {
    EXPECT_EQ(h.of(t).error, ErrorKind::kTruncated) << t;
  }
  EXPECT_TRUE(h.of(1).has_response);
  EXPECT_EQ(h.of(1).response.status, 200);
  EXPECT_EQ(h.of(1).response_end, end);
  EXPECT_FALSE(h.of(2).has_response);
  EXPECT_EQ(h.of(2).response_end, traffic::kNoTime);
  EXPECT_FALSE(h.client().alive());
  EXPECT_FALSE(h.client().can_submit());
  EXPECT_FALSE(h.client().want_write());
  EXPECT_EQ(h.submit(get("/after"), 4), 0);
  std::string up;
  h.client().pending_output(up);
  EXPECT_TRUE(up.empty());
  h.client().close(ErrorKind::kReset, ++h.now);
  h.expect_each_once({1, 2, 3});
}

TEST(Http2Session, CloseKeepsAResponseThatWasWhole) {
  // The server answers in full at the request's HEADERS while the upload is still going.
  ServerConfig sc;
  sc.initial_window = 1024;
  Harness h({}, sc, nullptr, [](TestServer& s, ServerRequest& r) {
    if (!r.ended) s.respond(r.id, 200, {}, "early");
  });
  h.pump();
  ASSERT_EQ(h.submit(post("/up", pattern(1 << 20)), 1), 1);
  std::string up;
  h.client().pending_output(up);
  h.server.feed(up);
  h.to_client(h.server.drain());
  EXPECT_EQ(h.counts.count(1), 0u);  // the stream stays open while the body is sent
  h.client().close(ErrorKind::kTruncated, ++h.now);
  h.expect_each_once({1});
  EXPECT_EQ(h.of(1).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(1).response.body, "early");
}

TEST(Http2Session, InterimResponsesAreSkipped) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    s.headers(r.id, 100);
    s.headers(r.id, 103, {{"link", "</a.css>; rel=preload"}});
  });
  ASSERT_EQ(h.submit(get("/page"), 1), 1);
  h.pump();
  const int64_t interim_at = h.now;
  EXPECT_TRUE(h.completions.empty());
  h.server.respond(1, 200, {{"content-type", "text/html"}}, "<html>");
  h.pump();
  h.expect_each_once({1});
  const Completion& c = h.of(1);
  EXPECT_EQ(c.error, ErrorKind::kNone);
  EXPECT_EQ(c.response.status, 200);
  EXPECT_EQ(c.response.headers, (Headers{{":status", "200"}, {"content-type", "text/html"}}));
  EXPECT_EQ(c.response.body, "<html>");
  EXPECT_GT(c.response_start, interim_at);  // the final response's, like capture's
  EXPECT_EQ(c.response_end, c.response_start);
}

TEST(Http2Session, ResponseHeadersAreBounded) {
  // 103 after 103, each with 60 KB of fields: past the 256 KiB a response may hold in headers.
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") != "/flood") return s.respond(r.id, 200, {}, "ok");
    for (int i = 0; i < 6; ++i) s.headers(r.id, 103, {{"link", std::string(60000, 'l')}});
    s.respond(r.id, 200, {}, "never");
  });
  ASSERT_GT(h.submit(get("/flood"), 1), 0);
  h.pump();
  ASSERT_GT(h.submit(get("/fine"), 2), 0);
  h.pump();
  h.expect_each_once({1, 2});
  EXPECT_EQ(h.of(1).error, ErrorKind::kOther);
  EXPECT_FALSE(h.of(1).has_response);
  EXPECT_EQ(h.of(2).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(2).response.body, "ok");
  EXPECT_TRUE(h.client().alive());
}

TEST(Http2Session, HeadersAreLowerCasedAndCleaned) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 200); });
  OutRequest rq = post("/p", "abc");
  rq.headers = {{"X-Custom-Header", "Value"},
                {"Accept-Encoding", "gzip"},
                {"Connection", "keep-alive"},
                {"Keep-Alive", "5"},
                {"Transfer-Encoding", "chunked"},
                {"Upgrade", "h2c"},
                {"TE", "trailers"},
                {"Te", "gzip"},
                {"X-Bad", "a\r\nb"},
                {"X-Nul", std::string("a\0b", 3)},
                {"Bad Name", "x"},
                {":path", "/evil"},
                {"Host", "other.example"},
                {"Content-Length", "99"},
                {"X-Trim", "  padded \t"},
                {"X-Empty", ""}};
  ASSERT_EQ(h.submit(rq, 1), 1);
  h.pump();
  h.expect_each_once({1});
  const ServerRequest& r = h.server.requests.at(1);
  std::vector<std::string> names;
  for (const auto& hd : r.headers) {
    if (hd.name[0] != ':') names.push_back(hd.name);
    for (char ch : hd.name) EXPECT_FALSE(ch >= 'A' && ch <= 'Z') << hd.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"x-custom-header", "accept-encoding", "te", "x-trim",
                                             "x-empty", "content-length"}));
  EXPECT_EQ(r.get("x-custom-header"), "Value");
  EXPECT_EQ(r.get("te"), "trailers");
  EXPECT_EQ(r.get("x-trim"), "padded");
  EXPECT_EQ(r.get("content-length"), "3");
  EXPECT_EQ(r.count(":path"), 1u);
  EXPECT_EQ(r.get(":path"), "/p");
  EXPECT_EQ(r.get(":authority"), "example.com");
  EXPECT_EQ(r.body, "abc");
}

TEST(Http2Session, HostStandsInForAMissingAuthority) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 200); });
  OutRequest rq = get("/", {{"Host", "h.example:8080"}});
  rq.authority.clear();
  ASSERT_EQ(h.submit(rq, 1), 1);
  h.pump();
  h.expect_each_once({1});
  EXPECT_EQ(h.server.requests.at(1).get(":authority"), "h.example:8080");
  EXPECT_EQ(h.server.requests.at(1).count("host"), 0u);
}

TEST(Http2Session, CallbackMaySubmit) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) { s.respond(r.id, 200, {}, "n"); });
  h.also = [&](Completion& c) {
    if (c.token < 5) {
      EXPECT_GT(h.submit(get("/next"), c.token + 1), 0);
    }
  };
  ASSERT_EQ(h.submit(get("/first"), 1), 1);
  h.pump();
  h.expect_each_once({1, 2, 3, 4, 5});
  for (uint64_t t = 1; t <= 5; ++t) {
    EXPECT_EQ(h.of(t).error, ErrorKind::kNone);
  }
}

TEST(Http2Session, CallbackMayClose) {
  Harness h({}, {}, [](TestServer& s, ServerRequest& r) {
    if (r.get(":path") == "/first") s.respond(r.id, 200);
  });
  h.also = [&](Completion& c) {
    if (c.token == 1) h.client().close(ErrorKind::kCancelled, h.now);
  };
  ASSERT_GT(h.submit(get("/other"), 2), 0);
  ASSERT_GT(h.submit(get("/first"), 1), 0);
  ASSERT_GT(h.submit(get("/other"), 3), 0);
  h.pump();
  h.expect_each_once({1, 2, 3});
  EXPECT_EQ(h.of(1).error, ErrorKind::kNone);
  EXPECT_EQ(h.of(2).error, ErrorKind::kCancelled);
  EXPECT_EQ(h.of(3).error, ErrorKind::kCancelled);
}

// What a completion says, without the instants (which depend on how the bytes were split).
using Summary =
    std::tuple<uint64_t, ErrorKind, bool, int, Headers, std::string, uint64_t, uint32_t>;

std::vector<Summary> run_split(size_t chunk) {
  const std::string big = pattern(50000, 3);
  Http2Options options;
  options.max_body = 30000;
  Harness h(options, {}, [&](TestServer& s, ServerRequest& r) {
    const std::string path = r.get(":path");
    if (path == "/a") {
      s.headers(r.id, 103, {{"link", "</x>"}});
      s.respond(r.id, 200, {{"content-length", "50000"}}, big);
    } else if (path == "/b") {
      s.respond(r.id, 200, {{"content-type", "application/grpc"}}, "grpc", {{"grpc-status", "0"}});
    } else if (path == "/c") {
      s.reset(r.id, NGHTTP2_CANCEL);
    } else {
      s.respond(r.id, 204, {{"x-d", "d"}});
    }
  });
  h.chunk = chunk;
  EXPECT_GT(h.submit(get("/a"), 1), 0);
  EXPECT_GT(h.submit(post("/b", "req"), 2), 0);
  EXPECT_GT(h.submit(get("/c"), 3), 0);
  EXPECT_GT(h.submit(get("/d"), 4), 0);
  h.pump();
  h.expect_each_once({1, 2, 3, 4});
  std::vector<Summary> out;
  for (const Completion& c : h.completions) {
    out.emplace_back(c.token, c.error, c.has_response, c.response.status, c.response.headers,
                     c.response.body, c.response.body_size, c.flags);
  }
  std::sort(out.begin(), out.end(),
            [](const Summary& a, const Summary& b) { return std::get<0>(a) < std::get<0>(b); });
  return out;
}

TEST(Http2Session, SameResultWhateverTheSplit) {
  const std::vector<Summary> whole = run_split(0);
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_EQ(std::get<3>(whole[0]), 200);
  EXPECT_EQ(std::get<6>(whole[0]), 50000u);
  EXPECT_EQ(std::get<5>(whole[0]).size(), 30000u);
  EXPECT_EQ(std::get<7>(whole[0]), uint32_t{traffic::kFlagResponseBodyTruncated});
  EXPECT_EQ(std::get<4>(whole[1]).back(), (traffic::Header{"grpc-status", "0"}));
  EXPECT_EQ(std::get<1>(whole[2]), ErrorKind::kReset);
  EXPECT_EQ(std::get<3>(whole[3]), 204);
  for (size_t chunk : {1, 2, 3, 5, 7, 9, 13, 17, 64, 100, 1000, 9000, 16393}) {
    EXPECT_EQ(run_split(chunk), whole) << "chunk " << chunk;
  }
}

TEST(Http2Session, DestroyedWithOpenStreamsDoesNotCallBack) {
  int calls = 0;
  {
    auto created = Http2Session::create({}, [&](Completion&) { ++calls; });
    ASSERT_TRUE(created.has_value());
    auto& s = **created;
    EXPECT_GT(s.submit(get("/"), "https", 1, 1), 0);
    std::string out;
    s.pending_output(out);
    EXPECT_GT(out.size(), 24u);
    EXPECT_EQ(out.substr(0, 24), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  }
  EXPECT_EQ(calls, 0);
}

// nghttp2's allocator (h2_mem.h): every size gets at least what it asked for, realloc keeps the
// bytes, calloc zeroes, small blocks are reused by the thread and big ones are not cached.
TEST(Http2Memory, BlocksHoldTheirSizeAndAreReused) {
  nghttp2_mem* m = h2mem::mem();
  std::vector<void*> blocks;
  for (size_t size : {0, 1, 15, 16, 17, 255, 511, 512, 513, 4096, 100000}) {
    auto* p = static_cast<unsigned char*>(m->malloc(size, m->mem_user_data));
    ASSERT_NE(p, nullptr);
    EXPECT_GE(h2mem::capacity(p), size);
    std::memset(p, 0xAB, size);  // the whole size is writable (ASan: a larger one is not)
    blocks.push_back(p);
  }
  // realloc: grows keeping the bytes, shrinks in place.
  auto* r = static_cast<unsigned char*>(m->malloc(10, m->mem_user_data));
  for (int i = 0; i < 10; ++i) r[i] = static_cast<unsigned char>(i);
  r = static_cast<unsigned char*>(m->realloc(r, 3000, m->mem_user_data));
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(r[i], i);
  EXPECT_EQ(m->realloc(r, 5, m->mem_user_data), r);
  m->free(r, m->mem_user_data);
  // calloc zeroes, also a reused block that held bytes.
  for (void* p : blocks) m->free(p, m->mem_user_data);
  auto* z = static_cast<unsigned char*>(m->calloc(4, 4, m->mem_user_data));
  for (int i = 0; i < 16; ++i) EXPECT_EQ(z[i], 0);
  m->free(z, m->mem_user_data);
  EXPECT_EQ(m->calloc(SIZE_MAX / 2, 4, m->mem_user_data), nullptr);  // overflow
  // The last small block freed is the next one of its class.
  void* a = m->malloc(100, m->mem_user_data);
  m->free(a, m->mem_user_data);
  EXPECT_EQ(m->malloc(97, m->mem_user_data), a);
  m->free(a, m->mem_user_data);
  // The cache of a class is bounded.
  std::vector<void*> many;
  for (size_t i = 0; i < 3 * h2mem::kKeep; ++i) many.push_back(m->malloc(64, m->mem_user_data));
  for (void* p : many) m->free(p, m->mem_user_data);
  EXPECT_EQ(h2mem::cache.free[64 / 16 - 1].size, h2mem::kKeep);
}

// The request's field checks give nghttp2's verdicts (nghttp2_check_header_name on the
// lower-cased name, nghttp2_check_header_value): every byte at every place of short strings, and
// random strings.
TEST(Http2Fields, ChecksAgreeWithNghttp2) {
  auto ours_name = [](std::string_view n, std::string& lower) {
    lower.clear();
    bool bad = n.empty();
    for (char c : n) {
      const char l = bytes::kH2NameLower[static_cast<unsigned char>(c)];
      bad = bad || l == 0;
      lower.push_back(l != 0 ? l : c);
    }
    return !bad;
  };
  auto theirs_name = [](std::string_view n) {
    std::string l(n);
    for (auto& c : l) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return nghttp2_check_header_name(reinterpret_cast<const uint8_t*>(l.data()), l.size()) != 0;
  };
  auto theirs_value = [](std::string_view v) {
    return nghttp2_check_header_value(reinterpret_cast<const uint8_t*>(v.data()), v.size()) != 0;
  };
  std::string lower;
  size_t good_names = 0, bad_values = 0;
  auto check = [&](const std::string& s) {
    const bool name_ok = ours_name(s, lower);
    // Names with a leading ':' never reach the check (build_headers() skips pseudo-headers);
    // nghttp2 takes them as pseudo-header names.
    if (s.empty() || s[0] != ':') {
      ASSERT_EQ(name_ok, theirs_name(s)) << ::testing::PrintToString(s);
    }
    if (name_ok) {
      std::string want(s);
      for (auto& c : want) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      ASSERT_EQ(lower, want);
    }
    ASSERT_EQ(bytes::h2_value_ok(s), theirs_value(s)) << ::testing::PrintToString(s);
    good_names += name_ok;
    bad_values += !theirs_value(s);
  };
  test::for_byte_cases(17, {'a', 'Z', ' ', '\t', '\x80'}, 11, 30, 6, check);
  EXPECT_GT(good_names, 1000u);
  EXPECT_GT(bad_values, 1000u);
}

}  // namespace
}  // namespace twin::replay
