// The HTTP/2 client session of the replayer (http2.h) over nghttp2's client session, sans I/O.
//
// What nghttp2 does for us: framing, HPACK, the connection preface, SETTINGS and their ACKs,
// flow control both ways (WINDOW_UPDATE is sent automatically as received DATA is consumed, and
// DATA is only asked of our provider when the peer's windows allow it), HTTP/2 message rules on
// the responses (pseudo-headers, lower-case names, content-length against DATA, 1xx handling).
//
// What we add: one record per submitted stream (the Completion being built, a copy of the request
// body), and the rule that every submitted stream completes exactly once. The stream table
// (`streams_`) is the one source of truth for that: a stream completes when it leaves the table,
// and every nghttp2 callback looks its stream up there by id, so a late callback for a stream
// that already completed (after close(), a protocol failure or a GOAWAY) finds nothing and does
// nothing. Completions are queued while nghttp2 is running and handed to the caller only after
// nghttp2_session_mem_recv / mem_send returned, so the callback may call submit() or close().
//
// The response as recorded: `headers` are the fields of the final HEADERS block as received
// (":status" first, names lower-case as HTTP/2 requires), followed by the trailer fields if a
// trailing HEADERS block came (gRPC's grpc-status and grpc-message live there), the same shape as
// capture's HTTP/2 analyzer records. Interim 1xx blocks (100, 103) are skipped; response_start is
// the receive() that brought the first frame of the final HEADERS block, as in capture, and
// response_end the one that brought END_STREAM.

#include "twin/replay/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bytes.h"
#include "h2_mem.h"
#include "plan.h"

namespace twin::replay {
namespace {

using traffic::ErrorKind;
using traffic::kNoTime;

constexpr uint32_t kMaxWindow = 0x7fffffffu;    // RFC 9113 6.9.1
constexpr uint32_t kMaxStreamId = 0x7fffffffu;  // RFC 9113 5.1.1
constexpr uint32_t kDefaultWindow = 65535;      // RFC 9113 6.9.2
constexpr size_t kMaxHeaderBytes = 256u << 10;  // per response, HPACK-sized (name+value+32)
constexpr size_t kKeepCapacity = 64u << 10;     // larger buffers are not kept for reuse
constexpr size_t kContentLengthDigits = 20;     // digits of the largest size_t

// An OutRequest read through the accessors a Prepared has, so that one submission reads both.
struct OutFields {
  const OutRequest& r;
  std::string_view method() const { return r.method; }
  std::string_view path() const { return r.path; }
  std::string_view authority() const { return r.authority; }
  std::string_view body() const { return r.body; }
  size_t headers() const { return r.headers.size(); }
  std::string_view name(size_t i) const { return r.headers[i].name; }
  std::string_view value(size_t i) const { return r.headers[i].value; }
};

struct SessionDelete {
  void operator()(nghttp2_session* p) const { nghttp2_session_del(p); }
};
struct CallbacksDelete {
  void operator()(nghttp2_session_callbacks* p) const { nghttp2_session_callbacks_del(p); }
};
struct OptionDelete {
  void operator()(nghttp2_option* p) const { nghttp2_option_del(p); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDelete>;
using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, CallbacksDelete>;
using OptionPtr = std::unique_ptr<nghttp2_option, OptionDelete>;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Fields that HTTP/2 forbids in a request (RFC 9113 8.2.2), and those we write ourselves
// (content-length, and host, which :authority carries). `name` is lower-case.
bool forbidden_field(std::string_view name, std::string_view value) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding",
      "upgrade",    "host",       "content-length",   "http2-settings"};
  for (std::string_view n : kNames)
    if (name == n) return true;
  return name == "te" && !iequals(value, "trailers");
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values at submit (no NO_COPY flags): the request may go away.
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

// -1 unless three digits (nghttp2 has checked :status already; this is belt and braces).
int parse_status(std::string_view v) {
  if (v.size() != 3) return -1;
  int status = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    status = status * 10 + (c - '0');
  }
  return status;
}

// Which kind of HEADERS block a stream is receiving.
enum class Block : uint8_t {
  kNone,
  kResponse,  // a response block whose :status is not known yet
  kInterim,   // 1xx: skipped
  kFinal,     // the response
  kTrailers,  // after the final block: appended to the headers
};

struct Stream {
  int32_t id = 0;
  Completion completion;
  std::string body;  // the request body, copied at submit; sent from `body_sent` on
  size_t body_sent = 0;
  size_t header_bytes = 0;
  size_t header_count = 0;       // response headers written so far (on_header; finish() trims)
  int64_t block_time = kNoTime;  // the receive() that brought the current HEADERS block
  Block block = Block::kNone;
  bool final_seen = false;                   // the final (non-1xx) HEADERS block began
  bool end_stream = false;                   // the response is complete
  bool rst_received = false;                 // the server reset the stream
  ErrorKind local_error = ErrorKind::kNone;  // why we reset the stream, if we did
};
using StreamPtr = std::unique_ptr<Stream>;

void reset_completion(Completion& c) {
  c.token = 0;
  traffic::Response& r = c.response;
  r.status = 0;
  r.reason.clear();
  // r.headers stay: on_header() writes over them in place, finish() trims what is left over.
  r.body.clear();
  if (r.body.capacity() > kKeepCapacity) std::string().swap(r.body);
  r.body_size = 0;
  r.framing = traffic::Framing::kNone;
  c.has_response = false;
  c.error = ErrorKind::kNone;
  c.flags = 0;
  c.response_start = kNoTime;
  c.response_end = kNoTime;
}

}  // namespace

class Http2Session::Impl {
 public:
  Impl(const Http2Options& options, OnComplete on_complete)
      : options_(options), on_complete_(std::move(on_complete)) {}

  ~Impl() {
    // Streams still open are dropped without a completion: the owner is going away, and calls
    // close() first when it wants them completed.
    session_.reset();
  }

  Result<void> init() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return fail("http2: out of memory");
    CallbacksPtr callbacks(cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Impl::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Impl::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Impl::on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Impl::on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Impl::on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &Impl::on_frame_not_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Impl::on_stream_close);

    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) return fail("http2: out of memory");
    OptionPtr option(opt);
    // Until the server's SETTINGS arrive nghttp2 assumes 100 concurrent streams (its default),
    // which is what can_submit() reads too; nothing to set here.

    nghttp2_session* s = nullptr;
    if (nghttp2_session_client_new3(&s, cbs, this, opt, h2mem::mem()) != 0) {
      return fail("http2: cannot create the client session");
    }
    session_.reset(s);

    const uint32_t stream_window = std::min(options_.stream_window, kMaxWindow);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
    };
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) {
      return fail("http2: cannot queue SETTINGS");
    }
    const uint32_t connection_window = std::min(options_.connection_window, kMaxWindow);
    if (connection_window > kDefaultWindow &&
        nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<int32_t>(connection_window)) != 0) {
      return fail("http2: cannot raise the connection window");
    }
    streams_.reserve(std::min<size_t>(options_.max_concurrent_streams, 1024) * 2);
    return {};
  }

  // `R`: an OutRequest (through OutFields) or the planner's Prepared, read the same way.
  template <class R>
  int32_t submit(const R& request, std::string_view scheme, uint64_t token, int64_t now) {
    if (!can_submit()) return 0;
    now_ = now;
    build_headers(request, scheme);

    StreamPtr st = acquire();
    st->completion.token = token;
    st->body.assign(request.body());
    nghttp2_data_provider provider{};
    provider.source.ptr = nullptr;  // the body is found by stream id (see read_body)
    provider.read_callback = &Impl::read_body;
    const int32_t id =
        nghttp2_submit_request(session_.get(), nullptr, nva_.data(), nva_.size(),
                               request.body().empty() ? nullptr : &provider, nullptr);
    if (id <= 0) {
      // Stream ids spent (the only failure left once can_submit() said yes, besides memory):
      // the connection has to be replaced, like after a GOAWAY.
      if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) exhausted_ = true;
      recycle(std::move(st));
      return 0;
    }
    st->id = id;
    streams_.emplace(id, std::move(st));
    return id;
  }

  void receive(const uint8_t* data, size_t size, int64_t now) {
    if (dead_ || closed_) return;  // nothing more is read from a failed session
    now_ = now;
    const ssize_t rv = nghttp2_session_mem_recv(session_.get(), data, size);
    if (rv < 0) {
      fail_session(rv == NGHTTP2_ERR_NOMEM ? ErrorKind::kOther : ErrorKind::kProtocol,
                   rv == NGHTTP2_ERR_NOMEM ? "internal" : "protocol");
    } else if (!goaway_ && !ids_spent() && !dead_ &&
               nghttp2_session_check_request_allowed(session_.get()) == 0) {
      // Most connection errors (a bad frame, SETTINGS expected, a HPACK error) do not make
      // mem_recv fail: nghttp2 queues a GOAWAY, ignores everything after and returns the length.
      // Without a GOAWAY received and with stream ids left, "no request allowed" means exactly
      // that. (After a GOAWAY, the GOAWAY we send is seen in on_frame_send instead.)
      fail_session(ErrorKind::kProtocol, "protocol");
    }
    deliver();
  }

  void pending_output(std::string& out) {
    if (closed_) return;
    for (;;) {
      for (;;) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
        if (n < 0) {
          fail_session(ErrorKind::kOther, "internal");
          break;
        }
        if (n == 0) break;
        out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      }
      // Streams can end while sending (RST_STREAM sent for a bad response, a request that could
      // not be sent). Their completions may submit new requests: send those too.
      if (done_.empty() || delivering_ || closed_) break;
      deliver();
    }
    deliver();
  }

  bool want_write() const { return !closed_ && nghttp2_session_want_write(session_.get()) != 0; }

  void close(ErrorKind error, int64_t now) {
    if (!closed_) {
      closed_ = true;
      now_ = now;
      complete_all(error);
    }
    deliver();
  }

  void cancel(int32_t id, ErrorKind error, int64_t now) {
    Stream* st = find(id);
    if (st == nullptr || closed_) return;
    now_ = now;
    // RST_STREAM(CANCEL) tells the server to stop; the stream completes now, and whatever the
    // server still sends for it is dropped (it is no longer in the table).
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    finish(id, error);
    deliver();
  }

  bool alive() const {
    if (dead_ || closed_) return false;
    return !((goaway_ || ids_spent()) && streams_.empty());
  }

  bool can_submit() const {
    if (dead_ || closed_ || goaway_ || ids_spent()) return false;
    const uint32_t remote = nghttp2_session_get_remote_settings(
        session_.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    const size_t limit = std::min(remote, options_.max_concurrent_streams);
    return streams_.size() < limit && nghttp2_session_check_request_allowed(session_.get()) != 0;
  }

  size_t open_streams() const { return streams_.size(); }

  std::string_view failure() const {
    if (failure_.empty() && ids_spent()) return "stream ids exhausted";
    return failure_;
  }

 private:
  static Impl& self(void* user_data) { return *static_cast<Impl*>(user_data); }

  // The connection has opened its last stream (2^31 - 1): like after a GOAWAY, it has to be
  // replaced once its streams are done.
  bool ids_spent() const {
    return exhausted_ || nghttp2_session_get_next_stream_id(session_.get()) > kMaxStreamId;
  }

  Stream* find(int32_t id) {
    // nghttp2 calls back once per header, frame and data chunk, mostly for the stream it called
    // back for last: that one is remembered (finish() forgets it).
    if (id == last_id_ && last_ != nullptr) return last_;
    auto it = streams_.find(id);
    if (it == streams_.end()) return nullptr;
    last_id_ = id;
    last_ = it->second.get();
    return last_;
  }

  // ---- requests ----

  template <class R>
  void build_headers(const R& r, std::string_view scheme) {
    nva_.clear();
    // Lower-cased names and the content-length value live in `names_`, reserved up front so that
    // the views in `nva_` stay put until nghttp2 has copied them.
    size_t need = kContentLengthDigits;
    const size_t headers = r.headers();
    for (size_t i = 0; i < headers; ++i) need += r.name(i).size();
    names_.clear();
    names_.reserve(need);

    std::string_view authority = r.authority();
    if (authority.empty()) {
      // No authority given: a Host header that slipped through is the next best thing.
      for (size_t i = 0; i < headers; ++i)
        if (iequals(r.name(i), "host")) authority = trim_ows(r.value(i));
    }
    const std::string_view method = r.method();
    const bool connect = method == "CONNECT";
    nva_.push_back(make_nv(":method", method));
    if (!connect) nva_.push_back(make_nv(":scheme", scheme));
    if (!authority.empty()) nva_.push_back(make_nv(":authority", authority));
    const std::string_view path = r.path().empty() ? std::string_view("/") : r.path();
    if (!connect) nva_.push_back(make_nv(":path", path));

    for (size_t i = 0; i < headers; ++i) {
      const std::string_view hname = r.name(i);
      if (hname.empty() || hname[0] == ':') continue;  // pseudo-headers are ours alone
      // Lower-cased and checked as nghttp2_check_header_name() would (bytes.h).
      const size_t start = names_.size();
      names_.resize(start + hname.size());
      char* out = names_.data() + start;
      bool bad_name = false;
      for (char c : hname) {
        const char l = bytes::kH2NameLower[static_cast<unsigned char>(c)];
        bad_name = bad_name || l == 0;
        *out++ = l;
      }
      const std::string_view name(names_.data() + start, hname.size());
      // Leading and trailing whitespace is not part of a field value (RFC 9110 5.5), and RFC 9113
      // servers reject it.
      const std::string_view value = trim_ows(r.value(i));
      if (bad_name || forbidden_field(name, value) || !bytes::h2_value_ok(value)) {
        // Not expressible in HTTP/2 (CR, LF, NUL, a space in a name, …): sending it would get the
        // stream reset by the server, and it would not be the captured request anyway.
        names_.resize(start);
        continue;
      }
      nva_.push_back(make_nv(name, value));
    }
    if (const size_t body = r.body().size(); body > 0) {
      const size_t start = names_.size();
      names_.resize(start + kContentLengthDigits);
      char* first = names_.data() + start;
      const auto [end, ec] = std::to_chars(first, first + kContentLengthDigits, body);
      (void)ec;  // 20 digits hold any size_t
      names_.resize(static_cast<size_t>(end - names_.data()));
      nva_.push_back(make_nv("content-length", std::string_view(first, end - first)));
    }
  }

  static ssize_t read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                           uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
    Stream* st = self(user_data).find(stream_id);
    // Completed already (close(), a protocol failure): reset the stream rather than send more.
    if (st == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t n = std::min(length, st->body.size() - st->body_sent);
    if (n > 0) std::memcpy(buf, st->body.data() + st->body_sent, n);
    st->body_sent += n;
    if (st->body_sent == st->body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // ---- responses ----

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Impl& impl = self(user_data);
    Stream* st = impl.find(frame->hd.stream_id);
    if (st == nullptr) return 0;
    st->block_time = impl.now_;
    st->block = st->final_seen ? Block::kTrailers : Block::kResponse;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                       void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Impl& impl = self(user_data);
    Stream* st = impl.find(frame->hd.stream_id);
    if (st == nullptr) return 0;
    // Memory is bounded by configuration, not by what the server sends.
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > kMaxHeaderBytes) {
      st->local_error = ErrorKind::kOther;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
    }
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (st->block == Block::kResponse && n == ":status") {
      // nghttp2 guarantees that pseudo-headers come first, so this decides the whole block.
      const int status = parse_status(v);
      if (status >= 100 && status < 200) {
        st->block = Block::kInterim;
        return 0;
      }
      st->block = Block::kFinal;
      st->final_seen = true;
      Completion& c = st->completion;
      c.has_response = true;
      c.response.status = std::max(status, 0);
      c.response.framing = traffic::Framing::kHttp2;
      c.response_start = st->block_time;
    }
    if (st->block == Block::kInterim || st->block == Block::kNone) return 0;
    // Written over in place: the slots are an earlier response's (the caller swaps the
    // response for one it is done with), strings with their buffers; past them, a spare one.
    traffic::Headers& headers = st->completion.response.headers;
    if (st->header_count < headers.size()) {
      traffic::Header& h = headers[st->header_count];
      traffic::overwrite(h.name, n);
      traffic::overwrite(h.value, v);
    } else if (impl.spare_headers_.empty()) {
      if (headers.capacity() == 0) headers.reserve(16);
      headers.push_back(traffic::Header{std::string(n), std::string(v)});
    } else {
      traffic::Header& h = headers.emplace_back(std::move(impl.spare_headers_.back()));
      impl.spare_headers_.pop_back();
      traffic::overwrite(h.name, n);
      traffic::overwrite(h.value, v);
    }
    ++st->header_count;
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                           size_t len, void* user_data) {
    Impl& impl = self(user_data);
    Stream* st = impl.find(stream_id);
    if (st == nullptr) return 0;
    Completion& c = st->completion;
    traffic::Response& r = c.response;
    const size_t room =
        impl.options_.max_body > r.body.size() ? impl.options_.max_body - r.body.size() : 0;
    const size_t keep = std::min(len, room);
    r.body.append(reinterpret_cast<const char*>(data), keep);
    r.body_size += len;
    if (keep < len) c.flags |= traffic::kFlagResponseBodyTruncated;
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Impl& impl = self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: {
        Stream* st = impl.find(frame->hd.stream_id);
        if (st == nullptr) break;
        if (frame->hd.type == NGHTTP2_HEADERS && st->block == Block::kFinal) {
          impl.reserve_body(*st);
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && st->final_seen) {
          st->end_stream = true;
          st->completion.response_end = impl.now_;
        }
        break;
      }
      case NGHTTP2_RST_STREAM:
        if (Stream* st = impl.find(frame->hd.stream_id)) st->rst_received = true;
        break;
      case NGHTTP2_GOAWAY:
        impl.on_goaway(frame->goaway.last_stream_id);
        break;
      default:
        break;
    }
    return 0;
  }

  // The body is sized once from content-length (capped at max_body) rather than grown.
  void reserve_body(Stream& st) {
    traffic::Response& r = st.completion.response;
    if (r.body.capacity() >= options_.max_body) return;
    const traffic::Header* cl = traffic::find_header(r.headers, "content-length");
    if (cl == nullptr) return;
    uint64_t length = 0;
    const char* first = cl->value.data();
    const char* last = first + cl->value.size();
    const auto [ptr, ec] = std::from_chars(first, last, length);
    if (ec != std::errc() || ptr != last) return;
    r.body.reserve(static_cast<size_t>(std::min<uint64_t>(length, options_.max_body)));
  }

  void on_goaway(int32_t last_stream_id) {
    goaway_ = true;
    if (failure_.empty()) failure_ = "goaway";
    // Streams above last_stream_id were not processed and never will be (RFC 9113 6.8): nghttp2
    // closes the open ones with REFUSED_STREAM right after this callback and drops the unsent
    // ones at the next mem_send; complete them all now, as resets.
    scratch_ids_.clear();
    for (const auto& [id, st] : streams_)
      if (id > last_stream_id) scratch_ids_.push_back(id);
    std::sort(scratch_ids_.begin(), scratch_ids_.end());
    for (int32_t id : scratch_ids_) finish(id, ErrorKind::kReset);
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Impl& impl = self(user_data);
    // We never send GOAWAY ourselves: nghttp2 does when the server broke the connection's rules.
    if (frame->hd.type == NGHTTP2_GOAWAY && !impl.dead_) {
      impl.fail_session(ErrorKind::kProtocol, "protocol");
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
      // nghttp2 resets a stream on its own when the server's frames on it were malformed.
      if (Stream* st = impl.find(frame->hd.stream_id)) {
        if (st->local_error == ErrorKind::kNone) st->local_error = ErrorKind::kProtocol;
      }
    }
    return 0;
  }

  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code,
                               void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Impl& impl = self(user_data);
    if (impl.find(frame->hd.stream_id) == nullptr) return 0;
    // A request that never left: refused by a GOAWAY or a closing session (a reset, the request
    // may be retried), or a header block nghttp2 cannot send (too large).
    const bool refused = lib_error_code == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ||
                         lib_error_code == NGHTTP2_ERR_SESSION_CLOSING ||
                         lib_error_code == NGHTTP2_ERR_STREAM_CLOSED ||
                         lib_error_code == NGHTTP2_ERR_STREAM_CLOSING;
    impl.finish(frame->hd.stream_id, refused ? ErrorKind::kReset : ErrorKind::kOther);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data) {
    Impl& impl = self(user_data);
    Stream* st = impl.find(stream_id);
    if (st == nullptr) return 0;
    ErrorKind error = ErrorKind::kNone;
    if (st->end_stream) {
      // The response is whole; a RST_STREAM(NO_ERROR, CANCEL) that stops our upload after it is
      // allowed (RFC 9113 8.1).
      error = ErrorKind::kNone;
    } else if (st->rst_received || error_code == NGHTTP2_REFUSED_STREAM ||
               error_code == NGHTTP2_NO_ERROR) {
      error = ErrorKind::kReset;
    } else if (st->local_error != ErrorKind::kNone) {
      error = st->local_error;
    } else {
      error = ErrorKind::kProtocol;  // nghttp2 reset it for a malformed response
    }
    impl.finish(stream_id, error);
    return 0;
  }

  // ---- completion ----

  // The first failure names the session's end ("protocol" still replaces an earlier "goaway").
  void fail_session(ErrorKind error, std::string_view why) {
    if (!dead_) failure_ = why;
    dead_ = true;
    complete_all(error);
  }

  void complete_all(ErrorKind error) {
    scratch_ids_.clear();
    for (const auto& [id, st] : streams_) scratch_ids_.push_back(id);
    std::sort(scratch_ids_.begin(), scratch_ids_.end());
    for (int32_t id : scratch_ids_) {
      // A response already whole only waited for our upload to end: it stands.
      const Stream* st = find(id);
      finish(id, st->end_stream ? ErrorKind::kNone : error);
    }
  }

  // Takes the stream out of the table (so that it completes once) and queues its completion.
  void finish(int32_t id, ErrorKind error) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    StreamPtr st = std::move(it->second);
    streams_.erase(it);
    if (last_ == st.get()) last_ = nullptr;
    Completion& c = st->completion;
    c.error = error;
    if (error != ErrorKind::kNone && c.has_response) c.response_end = now_;
    // Slots beyond this response's headers wait, with their buffers, for other responses.
    traffic::Headers& headers = c.response.headers;
    while (headers.size() > st->header_count) {
      if (spare_headers_.size() < kSpareHeaders)
        spare_headers_.push_back(std::move(headers.back()));
      headers.pop_back();
    }
    done_.push_back(std::move(st));
  }

  // Hands queued completions to the caller, outside nghttp2's callbacks. The callback may submit
  // or close; completions it causes are delivered by this same loop.
  void deliver() {
    if (delivering_) return;
    delivering_ = true;
    while (!done_.empty()) {
      batch_.swap(done_);
      for (StreamPtr& st : batch_) {
        if (on_complete_) on_complete_(st->completion);
        recycle(std::move(st));
      }
      batch_.clear();
    }
    delivering_ = false;
  }

  StreamPtr acquire() {
    if (pool_.empty()) return std::make_unique<Stream>();
    StreamPtr st = std::move(pool_.back());
    pool_.pop_back();
    return st;
  }

  // Keeps the stream's buffers for the next request, unless they grew large.
  void recycle(StreamPtr st) {
    // Its response's headers (maybe an earlier exchange's: the caller may swap the response
    // for one it is done with) stay with it, to be written over by the next response; a stream
    // that is let go leaves them for the others.
    if (pool_.size() >= options_.max_concurrent_streams) {
      for (auto& h : st->completion.response.headers)
        if (spare_headers_.size() < kSpareHeaders) spare_headers_.push_back(std::move(h));
      return;
    }
    reset_completion(st->completion);
    st->header_count = 0;
    st->body.clear();
    if (st->body.capacity() > kKeepCapacity) std::string().swap(st->body);
    st->id = 0;
    st->body_sent = 0;
    st->header_bytes = 0;
    st->block_time = kNoTime;
    st->block = Block::kNone;
    st->final_seen = false;
    st->end_stream = false;
    st->rst_received = false;
    st->local_error = ErrorKind::kNone;
    pool_.push_back(std::move(st));
  }

  Http2Options options_;
  OnComplete on_complete_;
  std::unordered_map<int32_t, StreamPtr> streams_;  // submitted, not yet completed
  int32_t last_id_ = 0;  // find()'s last answer, while that stream is in streams_
  Stream* last_ = nullptr;
  static constexpr size_t kSpareHeaders = 1024;
  traffic::Headers spare_headers_;  // of delivered responses, to be written over (on_header)
  std::vector<StreamPtr> done_;     // completed, not yet delivered
  std::vector<StreamPtr> batch_;    // being delivered
  std::vector<StreamPtr> pool_;     // for reuse
  std::vector<nghttp2_nv> nva_;
  std::string names_;
  std::vector<int32_t> scratch_ids_;
  int64_t now_ = kNoTime;
  std::string_view failure_;
  bool goaway_ = false;     // GOAWAY received: no new stream
  bool exhausted_ = false;  // stream ids spent
  bool dead_ = false;       // protocol or internal failure
  bool closed_ = false;     // close() was called
  bool delivering_ = false;
  // Last, so that it goes first: nghttp2 may call back while it is deleted.
  SessionPtr session_;
};

Result<std::unique_ptr<Http2Session>> Http2Session::create(const Http2Options& options,
                                                           OnComplete on_complete) {
  auto impl = std::make_unique<Impl>(options, std::move(on_complete));
  if (auto ok = impl->init(); !ok) return tl::unexpected(ok.error());
  std::unique_ptr<Http2Session> session(new Http2Session());
  session->impl_ = std::move(impl);
  return session;
}

Http2Session::~Http2Session() = default;

int32_t Http2Session::submit(const OutRequest& request, std::string_view scheme, uint64_t token,
                             int64_t now) {
  return impl_->submit(OutFields{request}, scheme, token, now);
}
int32_t Http2Session::submit(const detail::Prepared& request, std::string_view scheme,
                             uint64_t token, int64_t now) {
  return impl_->submit(request, scheme, token, now);
}
void Http2Session::receive(const uint8_t* data, size_t size, int64_t now) {
  impl_->receive(data, size, now);
}
void Http2Session::pending_output(std::string& out) { impl_->pending_output(out); }
bool Http2Session::want_write() const { return impl_->want_write(); }
void Http2Session::close(traffic::ErrorKind error, int64_t now) { impl_->close(error, now); }
void Http2Session::cancel(int32_t stream_id, traffic::ErrorKind error, int64_t now) {
  impl_->cancel(stream_id, error, now);
}
bool Http2Session::alive() const { return impl_->alive(); }
bool Http2Session::can_submit() const { return impl_->can_submit(); }
size_t Http2Session::open_streams() const { return impl_->open_streams(); }
std::string_view Http2Session::failure() const { return impl_->failure(); }

}  // namespace twin::replay
