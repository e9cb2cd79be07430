// The replay engine: workers (one io_context each), their connections, the result writer, and
// run() wiring them to the planner (replay.h).

#include <fcntl.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include "plan.h"
#include "planner.h"
#include "twin/replay/http1.h"
#include "twin/replay/http2.h"
#include "twin/replay/replay.h"
#include "twin/traffic/archive.h"

namespace twin::replay {
namespace detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// The epoll descriptor of an io_context's reactor (Asio 1.74 on Linux), so that a worker waits
// on its own epoll set and on Asio's at once: Asio's set is a member of the worker's (an epoll
// descriptor is readable while it has events) and the worker blocks in its own epoll_wait
// (Worker::run). Asio's reactor cost a plain-TCP connection two recvfrom per request in a
// closed loop (the read is tried at once, finds nothing, and is tried again on readiness), or
// an epoll_ctl per request to re-arm the descriptor when it waited for readiness instead; in an
// edge-triggered set of the worker's own a connection is registered once and read once per
// response. Asio does not hand its descriptor out, so it is read from the reactor's private
// member through an explicit instantiation, which may name a private member. If a Boost
// release changes the member, this fails to compile rather than misbehave.
static_assert(std::is_same_v<asio::detail::reactor, asio::detail::epoll_reactor>,
              "the replay worker needs Asio's epoll reactor (Linux)");
int epoll_fd_of(const asio::detail::epoll_reactor& reactor);
template <auto Member>
struct EpollFdTap {
  friend int epoll_fd_of(const asio::detail::epoll_reactor& reactor) { return reactor.*Member; }
};
template struct EpollFdTap<&asio::detail::epoll_reactor::epoll_fd_>;

traffic::Endpoint to_endpoint(const tcp::endpoint& ep) {
  traffic::Endpoint out;
  auto addr = ep.address();
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

// Completed responses are counted per status class in an array (a string and a map lookup
// per response cost more than the rest of the bookkeeping), named when the stats are read.
constexpr std::string_view kStatusClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
using StatusCounts = std::array<uint64_t, std::size(kStatusClasses)>;

size_t status_class(int status) {
  if (status < 100 || status > 599) return std::size(kStatusClasses) - 1;
  return static_cast<size_t>(status / 100 - 1);
}

/// What run() resolves once and shares, read-only, with every worker.
struct TargetSetup {
  const Target* target = nullptr;
  std::vector<tcp::endpoint> endpoints;
  ssl::context* tls = nullptr;  // null for cleartext targets
};

/// Recorded exchanges on their way to the writer: the first `used` of `items`. The rest are
/// exchanges of an earlier batch, kept with their buffers to be written over (Worker::record).
struct ResultBatch {
  std::vector<traffic::Exchange> items;
  size_t used = 0;
};

/// Results on their way to the writer thread. Bounded: a worker that finds it full waits (and
/// counts the stall), so a slow disk slows the replay visibly instead of growing memory.
///
/// Written batches come back (pop() takes the writer's last one), and a worker's push() leaves
/// it one of them to fill: the exchanges' strings are allocated once and reused, instead of
/// allocated by a worker and freed by the writer's thread, which glibc's malloc makes dear.
class ResultQueue {
 public:
  explicit ResultQueue(size_t limit) : limit_(limit) {}
  void push(ResultBatch& batch, std::atomic<uint64_t>& stalls) {
    std::unique_lock lock(mutex_);
    if (queued_ >= limit_) {
      stalls.fetch_add(1, std::memory_order_relaxed);
      space_.wait(lock, [&] { return queued_ < limit_ || closed_; });
    }
    queued_ += batch.used;
    batches_.push_back(std::move(batch));
    if (!spare_.empty()) {
      batch = std::move(spare_.back());
      spare_.pop_back();
    } else {
      batch = {};
      batch.items.reserve(256);  // Worker::flush_results hands over 256 at a time
    }
    batch.used = 0;
    ready_.notify_one();
  }
  /// Takes the next batch into `out`, after keeping what `out` held (a written batch) for reuse.
  /// False when closed and empty.
  bool pop(ResultBatch& out) {
    for (auto& e : out.items) {
      // Bodies over 8 KiB are let go (outside the lock): the spare batches then hold at most
      // about 32 MiB, and a bigger body's allocation is small beside its copy.
      shed(e.request.body, kKeepResultBody);
      if (e.response) shed(e.response->body, kKeepResultBody);
    }
    std::unique_lock lock(mutex_);
    if (!out.items.empty() && spare_.size() < kSpareBatches) spare_.push_back(std::move(out));
    ready_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return false;
    out = std::move(batches_.front());
    batches_.pop_front();
    queued_ -= out.used;
    space_.notify_all();
    return true;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
    space_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  static constexpr size_t kSpareBatches = 8;
  static constexpr size_t kKeepResultBody = 8u << 10;
  std::deque<ResultBatch> batches_;
  std::vector<ResultBatch> spare_;
  size_t queued_ = 0;
  size_t limit_;
  bool closed_ = false;
};

struct Shared {
  const Options& options;
  std::vector<TargetSetup> targets;
  int64_t epoch_offset = 0;  // steady ns + this = ns since the Unix epoch
  std::atomic<bool>& stop;
  std::atomic<bool> input_done{false};
  std::atomic<uint64_t> next_id{1};
  std::atomic<uint64_t> record_stalls{0};
  ResultQueue* results = nullptr;
  int64_t warmup_end = 0;
  // Pre-opened connections not yet ready or failed; the schedule starts when none are left.
  std::atomic<size_t> preconnecting{0};
};

class Worker;

/// One request in flight to one target.
struct Flight {
  uint32_t item = 0;  // slot in the worker's item table
  uint32_t target = 0;
  int64_t released = 0;  // when it was free to go (due, its session's turn)
  int64_t sent = 0;
  int64_t written = traffic::kNoTime;
  int64_t deadline = 0;
  int32_t stream = 0;
  bool retried = false;
  bool counted = false;  // holds a place in its session's in-flight count
  // When it was held for its session's previous request: the instant that one completed. A
  // real client sends the next request of a session only then, so latency counts from
  // max(intended, this), and the wait shows in held_by_order instead.
  int64_t order_released = 0;
  // What is sent: `request`, prepared for this flight, or, when the planner prepared the item's
  // request for every target (--loop, Prepared), that, and `request` is unused.
  OutRequest request;
  const Prepared* prepared = nullptr;
};

enum class ConnState { kConnecting, kHandshake, kReady, kClosed };

class Connection {
 public:
  Connection(Worker& worker, uint32_t target, uint64_t id);
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);  // closed by close() normally
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  void start();
  /// Whether it can take another request now.
  bool has_capacity() const;
  /// Sends `flight` at `now` (the dispatcher's clock reading: the send lag it recorded and the
  /// request_start of the result are then one instant).
  void send(uint32_t flight, int64_t now);
  /// Closes the socket; in-flight requests end with `error`.
  void close(traffic::ErrorKind error);
  /// Deadlines: connect, request timeouts.
  void sweep(int64_t now);
  bool reapable() const { return state_ == ConnState::kClosed && ops_ == 0; }
  bool idle() const { return state_ == ConnState::kReady && in_flight_.empty(); }
  ConnState state() const { return state_; }
  uint32_t target() const { return target_; }
  uint64_t id() const { return id_; }
  uint64_t owner = 0;  // the captured session this connection serves; 0 = pool
  int64_t last_used = 0;
  uint64_t served = 0;
  bool preopened = false;      // opened before the schedule started (--preconnect)
  bool preconnecting = false;  // … and not yet ready or failed
  bool h2_listed = false;      // in the worker's h2_ready_ list

 private:
  void on_connected(const error_code& ec);
  void on_ready();
  void read();
  void on_read(const error_code& ec, size_t n);
  /// The stream ended (eof: the peer closed it) or failed: what the parser has is finished.
  void read_ended(bool eof, int64_t now);
  void handle_bytes(const char* data, size_t n, int64_t now);
  void write_pending();
  void h1_write();
  bool write_now();
  /// Out of the socket's buffer after write_now() could not send it all: a plain-TCP
  /// connection waits for EPOLLOUT, one over TLS hands it to Asio.
  void write_later();
  void written(int64_t now);
  /// Plain TCP: the connection's socket is the worker's own (fd_), in its epoll set.
  bool raw() const { return fd_ >= 0; }
  /// Worker::run: epoll reported `events` for fd_.
  void on_events(uint32_t events);
  void complete(Completion& c, bool connection_failed);
  void fail(traffic::ErrorKind error, bool reset);

  Worker& w_;
  uint32_t target_;
  uint64_t id_;
  ConnState state_ = ConnState::kConnecting;
  tcp::socket socket_;  // while connecting, and for TLS
  int fd_ = -1;         // plain TCP once connected: released from socket_ (raw())
  bool write_failed_ = false;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  bool h2_ = false;
  bool reading_ = false;
  bool writing_ = false;
  int ops_ = 0;
  int64_t connect_deadline_ = 0;
  traffic::Endpoint local_, remote_;
  std::string out_;
  std::string tls_buf_;
  // HTTP/1.1: one request at a time.
  std::unique_ptr<Http1ResponseParser> h1_;
  // HTTP/2
  std::unique_ptr<Http2Session> h2s_;
  std::vector<uint32_t> in_flight_;  // flight slots
  bool got_bytes_ = false;           // any response byte since the current request was sent
  uint64_t seq_ = 0;
  friend class Worker;
};

class Worker {
 public:
  Worker(Shared& shared, size_t index, Inbox& inbox)
      : shared_(shared), index_(index), inbox_(inbox), tick_(io_) {
    size_t n = shared_.targets.size();
    stats_.resize(n);
    status_counts_.assign(n, StatusCounts{});
    interval_.resize(1);
    ready_.resize(n);
    pools_.resize(n);
    conn_count_.resize(n, 0);
    connecting_.resize(n, 0);
    h2_conns_.resize(n);
    h2_ready_.resize(n);
    for (size_t t = 0; t < n; ++t) head_memos_.push_back(make_http1_head_memo());
    for (size_t t = 0; t < n; ++t) stats_[t].name = shared_.targets[t].target->name;
    read_buf_.resize(64 << 10);
    dispatch_due_.assign(n, 0);
    // The worker's epoll set: its plain-TCP connections (edge-triggered, registered once),
    // the wake eventfd, the schedule's timerfd, and Asio's own set (the tick, TLS
    // connections, connects).
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = this;
    bool ok = ep_ >= 0 && wake_fd_ >= 0 && ::epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0;
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ev.data.ptr = &timer_fd_;
    ok = ok && timer_fd_ >= 0 && ::epoll_ctl(ep_, EPOLL_CTL_ADD, timer_fd_, &ev) == 0;
    ev.data.ptr = nullptr;
    ok = ok &&
         ::epoll_ctl(ep_, EPOLL_CTL_ADD,
                     epoll_fd_of(asio::use_service<asio::detail::epoll_reactor>(io_)), &ev) == 0;
    ok_ = ok;
    if (shared_.options.mode == Mode::kMax) {
      size_t total = shared_.options.connections ? shared_.options.connections : 64;
      size_t workers = std::max<size_t>(shared_.options.threads, 1);
      max_conns_ = total / workers + (index_ < total % workers ? 1 : 0);
    } else {
      size_t workers = std::max<size_t>(shared_.options.threads, 1);
      max_conns_ = std::max<size_t>(shared_.options.max_connections / workers, 1);
    }
  }

  ~Worker() {
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
    if (ep_ >= 0) ::close(ep_);
  }
  /// False when the worker could not be set up (no eventfd, timerfd or epoll set): the run
  /// cannot start.
  bool ok() const { return ok_; }
  void run();
  int epoll() const { return ep_; }
  /// Called after starting or cancelling anything of Asio's outside its handlers: Asio queues
  /// what completes at once without waking its reactor then, so run() polls it next.
  void asio_used() { asio_due_ = true; }
  /// Soon, from run(): dispatch(t) (coalesced), a connection's failure.
  void defer_dispatch(uint32_t t) {
    dispatch_due_[t] = 1;
    deferred_ = true;
  }
  void defer_failure(Connection& conn) {
    ++conn.ops_;  // not reaped meanwhile
    failing_.push_back(&conn);
    deferred_ = true;
  }
  /// From any thread: the inbox has items, or preconnect() was called. Through an eventfd
  /// in the worker's epoll set: only the worker's thread touches its io_context (see io_),
  /// and a second wake before the first is handled costs nothing.
  void wake() {
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
      const uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }
  }
  /// From any thread: opens `per_target[t]` connections to each target t before the schedule
  /// starts, into the pool; Shared::preconnecting (already counted by the caller) counts each
  /// down when it is ready, fails, or is not opened (the per-worker connection cap).
  void preconnect(std::vector<size_t> per_target) {
    {
      std::lock_guard lock(remote_mutex_);
      preconnects_.push_back(std::move(per_target));
    }
    wake();
  }
  void open_preconnects() {
    std::vector<std::vector<size_t>> all;
    {
      std::lock_guard lock(remote_mutex_);
      all.swap(preconnects_);
    }
    for (const auto& per_target : all) {
      for (uint32_t t = 0; t < per_target.size(); ++t) {
        for (size_t i = 0; i < per_target[t]; ++i) {
          if (conn_count_[t] >= max_conns_ || finishing_) {
            shared_.preconnecting.fetch_sub(1, std::memory_order_release);
            continue;
          }
          Connection* c = open(t);
          c->preopened = true;
          c->preconnecting = true;
          ++stats_[t].preconnected;
        }
      }
    }
  }
  asio::io_context& io() { return io_; }
  const Shared& shared() const { return shared_; }
  std::vector<TargetStats>& stats() {
    for (size_t t = 0; t < stats_.size(); ++t) {
      for (size_t k = 0; k < std::size(kStatusClasses); ++k) {
        if (status_counts_[t][k] == 0) continue;
        stats_[t].statuses[std::string(kStatusClasses[k])] += status_counts_[t][k];
        status_counts_[t][k] = 0;
      }
    }
    return stats_;
  }
  std::atomic<uint64_t> sent{0}, completed{0}, errors{0}, recent_p99{0};

  // Called by connections.
  Flight& flight(uint32_t slot) { return flights_[slot]; }
  Item& item(uint32_t slot) { return items_[slot].item; }
  /// Plain-TCP connections read into it as epoll reports them, one at a time, and parse what
  /// they read at once: no connection holds a read buffer of its own.
  char* read_buffer() { return read_buf_.data(); }
  size_t read_buffer_size() const { return read_buf_.size(); }
  size_t max_body() const { return shared_.options.max_body; }
  const std::shared_ptr<Http1HeadMemo>& head_memo(uint32_t target) const {
    return head_memos_[target];
  }
  /// `conn` is null for a request that never reached a connection.
  void finished(uint32_t flight, Completion& c, const Connection* conn);
  void retry(uint32_t flight);
  void connection_ready(Connection& conn) {
    --connecting_[conn.target()];
    if (conn.preconnecting) {
      conn.preconnecting = false;
      shared_.preconnecting.fetch_sub(1, std::memory_order_release);
    }
    if (conn.h2_) {
      h2_conns_[conn.target()].push_back(&conn);
      h2_room(conn);
    } else if (conn.owner == 0)
      pools_[conn.target()].push_back(&conn);
    dispatch_all();
  }
  /// An HTTP/2 connection may have a free stream (it became ready, a stream ended, frames came
  /// in): listed for pick() if it has one.
  void h2_room(Connection& conn) {
    if (conn.h2_listed || !conn.has_capacity()) return;
    conn.h2_listed = true;
    h2_ready_[conn.target()].push_back(&conn);
  }
  /// `error` is why a connection that never became ready failed (kConnect, kTls, kTimeout).
  void connection_closed(Connection& conn, bool failed_to_connect, traffic::ErrorKind error);
  void connection_idle(Connection& conn);
  int64_t epoch(int64_t steady) const {
    return steady == traffic::kNoTime ? traffic::kNoTime : steady + shared_.epoch_offset;
  }

 private:
  struct ItemSlot {
    Item item;
    uint32_t refs = 0;  // targets still to complete
  };
  struct SessionState {
    std::vector<uint32_t> in_flight;         // per target
    std::vector<std::deque<uint32_t>> held;  // per target: flights waiting for their turn
    std::vector<Connection*> home;           // per target
    int64_t last_active = 0;
  };

  void arm_tick();
  void on_tick();
  void take_inbox();
  void arm_timer();
  void release_due();
  void release(uint32_t item_slot);
  void enqueue(uint32_t flight_slot);
  void dispatch_all();
  void refill();
  void dispatch(uint32_t target);
  Connection* pick(uint32_t target, uint64_t sid, SessionState* session, size_t unowned_waiting);
  Connection* open(uint32_t target);
  /// Opens a connection for requests without a session if fewer than they need are opening.
  bool open_for(uint32_t target, size_t unowned_waiting);
  void finish_item(uint32_t item_slot);
  void fail_flight(uint32_t flight_slot, traffic::ErrorKind error);
  /// Ends an item that was never released, for every target, as kCancelled; its flights get
  /// their request prepared first, so that the results record what was not sent.
  void cancel_item(uint32_t item_slot, int64_t now);
  void record(Flight& f, const Item& item, Completion& c, const Connection* conn);
  void flush_results(bool force);
  bool done() const;
  uint32_t new_flight();
  /// A new flight of the item to target `t`, released at `now`, with its request prepared.
  uint32_t prepared_flight(uint32_t item_slot, uint32_t t, int64_t now);
  /// The instant latency counts from: the schedule's, or later when session order held the
  /// request; the actual send in closed-loop mode.
  int64_t intended_of(const Flight& f, const Item& item) const {
    if (shared_.options.mode == Mode::kMax || item.intended == 0) return f.sent;
    return std::max(item.intended, f.order_released);
  }
  SessionState& session(uint64_t id);

  Shared& shared_;
  size_t index_;
  Inbox& inbox_;
  // One thread runs it, and only that thread touches it: other threads wake the worker through
  // an eventfd (wake()). So neither the reactor's per-descriptor locks nor the scheduler's
  // are needed (a lock and an unlock per start and completion of every read, per post, per
  // run of a handler). run() polls it when its epoll set has events or asio_used() was called.
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  int ep_ = -1;       // the worker's epoll set (run())
  int wake_fd_ = -1;  // written by wake(), from any thread; in ep_
  bool ok_ = false;
  bool asio_due_ = true;
  bool deferred_ = false;
  std::vector<uint8_t> dispatch_due_;  // per target (defer_dispatch)
  std::vector<Connection*> failing_;   // defer_failure
  void run_deferred();
  std::atomic<bool> wake_pending_{false};
  std::mutex remote_mutex_;
  std::vector<std::vector<size_t>> preconnects_;  // from preconnect(), under remote_mutex_
  void on_wake();
  asio::steady_timer tick_;
  // The schedule's timer: a timerfd in ep_, set to the next item's instant (absolute,
  // CLOCK_MONOTONIC, the clock of now_ns()). Through Asio a timer cost two more epoll_wait and
  // a timerfd_settime per request at a fixed rate (its poll, its timer queue).
  int timer_fd_ = -1;
  bool timer_armed_ = false;
  int64_t timer_at_ = 0;
  void set_timer(int64_t at);
  void on_timer();
  std::vector<char> read_buf_;
  std::vector<std::shared_ptr<Http1HeadMemo>> head_memos_;  // per target (http1.h)
  static constexpr size_t kSpareRequests = 4096;

  std::vector<Item> incoming_;
  std::vector<std::unique_ptr<traffic::Request>> spare_requests_;  // for the planner (Inbox::spare)
  std::deque<uint32_t> scheduled_;                                 // item slots by intended instant
  std::vector<ItemSlot> items_;
  std::vector<uint32_t> free_items_;
  std::vector<Flight> flights_;
  std::vector<uint32_t> free_flights_;
  std::vector<std::deque<uint32_t>> ready_;      // per target: flights waiting for a connection
  std::vector<std::vector<Connection*>> pools_;  // per target: idle connections with no owner
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<size_t> conn_count_;
  std::vector<size_t> connecting_;
  std::vector<std::vector<Connection*>> h2_conns_;  // per target: open HTTP/2 connections
  // Per target: HTTP/2 connections that had a free stream when last listed (h2_room); pick()
  // drops the ones it finds full. Scanning every connection for a free stream, twice per
  // completion in a closed loop, had cost more than the rest of dispatching.
  std::vector<std::vector<Connection*>> h2_ready_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  size_t max_conns_ = 1;
  uint32_t turn_ = 0;  // dispatch_all: the target that goes first
  uint64_t next_conn_ = 1;
  std::unordered_map<uint64_t, SessionState> sessions_;
  size_t waiting_ = 0;

  std::vector<TargetStats> stats_;
  std::vector<StatusCounts> status_counts_;  // per target, folded into stats_ by stats()
  std::vector<traffic::Histogram> interval_;
  ResultBatch batch_;
  int64_t last_flush_ = 0;
  int64_t last_p99_ = 0;
  bool finishing_ = false;
  friend class Connection;
};

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Worker& worker, uint32_t target, uint64_t id)
    : w_(worker), target_(target), id_(id), socket_(worker.io()) {}

void Connection::start() {
  const auto& setup = w_.shared().targets[target_];
  connect_deadline_ = now_ns() + static_cast<int64_t>(w_.shared().options.connect_timeout * 1e9);
  ++ops_;
  w_.asio_used();
  asio::async_connect(socket_, setup.endpoints, [this](const error_code& ec, const tcp::endpoint&) {
    --ops_;
    on_connected(ec);
  });
}

void Connection::on_connected(const error_code& ec) {
  if (state_ == ConnState::kClosed) return;
  if (ec) {
    fail(traffic::ErrorKind::kConnect, false);
    return;
  }
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  // Non-blocking once and for all: write_now and read() call the socket directly (an ioctl
  // per read when it was set each time).
  socket_.non_blocking(true, ignored);
  local_ = to_endpoint(socket_.local_endpoint(ignored));
  remote_ = to_endpoint(socket_.remote_endpoint(ignored));
  const auto& setup = w_.shared().targets[target_];
  if (setup.tls) {
    state_ = ConnState::kHandshake;
    tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *setup.tls);
    SSL* ssl = tls_->native_handle();
    const auto& host = setup.target->host;
    boost::system::error_code parse_ec;
    asio::ip::make_address(host, parse_ec);
    if (parse_ec) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI only for names
    if (!w_.shared().options.tls.insecure) SSL_set1_host(ssl, host.c_str());
    ++ops_;
    tls_->async_handshake(ssl::stream_base::client, [this](const error_code& ec) {
      --ops_;
      if (state_ == ConnState::kClosed) return;
      if (ec) {
        fail(traffic::ErrorKind::kTls, false);
        return;
      }
      const unsigned char* alpn = nullptr;
      unsigned len = 0;
      SSL_get0_alpn_selected(tls_->native_handle(), &alpn, &len);
      h2_ = len == 2 && alpn[0] == 'h' && alpn[1] == '2';
      if (w_.shared().targets[target_].target->scheme == Scheme::kH2 && !h2_) {
        fail(traffic::ErrorKind::kTls, false);  // h2:// demands HTTP/2
        return;
      }
      tls_buf_.resize(16 << 10);
      on_ready();
    });
    return;
  }
  h2_ = setup.target->scheme == Scheme::kH2c;
  // Plain TCP: the socket leaves Asio for the worker's epoll set, edge-triggered, registered
  // once (Worker::run). EPOLLOUT is reported only when the socket's buffer, once full, has
  // room again.
  const int fd = socket_.release(ignored);
  if (fd < 0) {
    fail(traffic::ErrorKind::kConnect, false);
    return;
  }
  fd_ = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = this;
  if (::epoll_ctl(w_.epoll(), EPOLL_CTL_ADD, fd_, &ev) != 0) {
    fail(traffic::ErrorKind::kConnect, false);
    return;
  }
  on_ready();
}

void Connection::on_ready() {
  state_ = ConnState::kReady;
  last_used = now_ns();  // an open connection not yet used is not idle for long
  if (h2_) {
    Http2Options opts;
    opts.max_body = w_.max_body();
    // Closed loop: like h2load -m, a fixed number of streams per connection.
    if (w_.shared().options.mode == Mode::kMax)
      opts.max_concurrent_streams = static_cast<uint32_t>(w_.shared().options.streams);
    auto created = Http2Session::create(opts, [this](Completion& c) {
      uint32_t slot = static_cast<uint32_t>(c.token);
      auto it = std::find(in_flight_.begin(), in_flight_.end(), slot);
      if (it != in_flight_.end()) in_flight_.erase(it);
      w_.h2_room(*this);  // before finished(): its dispatch may use the free stream
      w_.finished(slot, c, this);
    });
    if (!created) {
      fail(traffic::ErrorKind::kProtocol, false);
      return;
    }
    h2s_ = std::move(*created);
  } else {
    h1_ = std::make_unique<Http1ResponseParser>(w_.max_body(), false, w_.head_memo(target_));
  }
  read();
  write_pending();
  w_.connection_ready(*this);
}

bool Connection::has_capacity() const {
  if (state_ != ConnState::kReady) return false;
  if (h2_) return h2s_ && h2s_->alive() && h2s_->can_submit();
  return in_flight_.empty();
}

void Connection::send(uint32_t slot, int64_t now) {
  Flight& f = w_.flight(slot);
  Item& item = w_.item(f.item);
  f.sent = now;
  f.deadline = now + static_cast<int64_t>(w_.shared().options.timeout * 1e9);
  in_flight_.push_back(slot);
  last_used = now;
  ++served;
  const char* scheme = w_.shared().targets[target_].target->tls() ? "https" : "http";
  if (h2_) {
    int32_t stream = f.prepared ? h2s_->submit(*f.prepared, scheme, slot, now)
                                : h2s_->submit(f.request, scheme, slot, now);
    if (stream <= 0) {
      in_flight_.pop_back();
      w_.retry(slot);
      return;
    }
    f.stream = stream;
    write_pending();
  } else {
    got_bytes_ = false;
    h1_->start(slot, item.head);
    out_.clear();
    if (f.prepared)
      out_.append(f.prepared->http1());  // never empty for a target that speaks HTTP/1.1
    else
      serialize_http1(f.request, out_);
    h1_write();
  }
  read();  // a response is awaited (no-op while a read is pending)
}

bool Connection::write_now() {
  // A request usually fits the socket's buffer: sent straight away. What does not go (the
  // buffer is full) is left in out_ for write_later().
  if (tls_) return false;
  if (!raw()) return false;
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) write_failed_ = true;
    return false;
  }
  return true;
}

void Connection::written(int64_t now) {
  if (h2_) {
    for (auto slot : in_flight_) {
      auto& f = w_.flight(slot);
      if (f.written == traffic::kNoTime) f.written = now;
    }
  } else if (!in_flight_.empty()) {
    w_.flight(in_flight_.front()).written = now;
  }
}

void Connection::write_later() {
  writing_ = true;
  if (raw()) {
    // The rest goes on EPOLLOUT (on_events); a failure is handled from the worker's loop, not
    // inside the send() or dispatch that wrote.
    if (write_failed_) w_.defer_failure(*this);
    return;
  }
  if (!tls_) {  // not reached: a connection is either raw() or over TLS once ready
    w_.defer_failure(*this);
    return;
  }
  ++ops_;
  w_.asio_used();
  asio::async_write(*tls_, asio::buffer(out_), [this](const error_code& ec, size_t) {
    --ops_;
    writing_ = false;
    if (state_ == ConnState::kClosed) return;
    if (ec) {
      fail(traffic::ErrorKind::kReset, true);
      return;
    }
    written(now_ns());
    write_pending();
  });
}

void Connection::h1_write() {
  if (writing_ || state_ == ConnState::kClosed) return;
  if (write_now()) {
    written(now_ns());
    return;
  }
  write_later();
}

void Connection::write_pending() {
  if (!h2_ || !h2s_ || writing_ || state_ == ConnState::kClosed) return;
  for (;;) {
    out_.clear();
    h2s_->pending_output(out_);
    if (out_.empty()) {
      if (!h2s_->alive() && in_flight_.empty()) close(traffic::ErrorKind::kNone);
      return;
    }
    if (!write_now()) break;
    written(now_ns());
  }
  write_later();
}

void Connection::read() {
  // A plain-TCP connection is always in the worker's epoll set (on_events).
  if (raw() || reading_ || state_ == ConnState::kClosed || !tls_) return;
  reading_ = true;
  ++ops_;
  w_.asio_used();
  tls_->async_read_some(asio::buffer(tls_buf_),
                        [this](const error_code& ec, size_t n) { on_read(ec, n); });
}

void Connection::on_read(const error_code& ec, size_t n) {
  --ops_;
  reading_ = false;
  if (state_ == ConnState::kClosed) return;
  int64_t now = now_ns();
  if (ec) {
    read_ended(ec == asio::error::eof || ec == ssl::error::stream_truncated, now);
    return;
  }
  handle_bytes(tls_buf_.data(), n, now);
  read();
}

void Connection::on_events(uint32_t events) {
  if (state_ == ConnState::kClosed) return;
  if ((events & EPOLLOUT) && writing_) {
    if (write_now()) {
      writing_ = false;
      written(now_ns());
      write_pending();  // HTTP/2: what the session has next
    } else if (write_failed_) {
      fail(traffic::ErrorKind::kReset, true);
      return;
    }
    if (state_ == ConnState::kClosed) return;
  }
  constexpr uint32_t kReadable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  if (!(events & kReadable)) return;
  // Edge-triggered: read until a read comes back short (the socket had no more; bytes that
  // come later are a new event) or, once the peer has closed or failed, until the end.
  const bool to_end = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
  char* buf = w_.read_buffer();
  const size_t size = w_.read_buffer_size();
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, size, 0);
    if (n > 0) {
      handle_bytes(buf, static_cast<size_t>(n), now_ns());
      if (state_ == ConnState::kClosed) return;
      if (static_cast<size_t>(n) < size && !to_end) return;
      continue;
    }
    if (n == 0) {
      read_ended(true, now_ns());
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    read_ended(false, now_ns());
    return;
  }
}

void Connection::read_ended(bool eof, int64_t now) {
  if (!h2_ && h1_ && !in_flight_.empty()) {
    // A response delimited by the close, or cut off.
    auto status = h1_->finish(now, !eof);
    if (status == Http1ResponseParser::Status::kDone) {
      uint32_t slot = in_flight_.front();
      in_flight_.clear();
      w_.finished(slot, h1_->completion(), this);
      close(traffic::ErrorKind::kNone);
      return;
    }
  }
  fail(eof ? traffic::ErrorKind::kTruncated : traffic::ErrorKind::kReset, !eof);
}

void Connection::handle_bytes(const char* data, size_t n, int64_t now) {
  if (n > 0) got_bytes_ = true;
  if (h2_) {
    h2s_->receive(reinterpret_cast<const uint8_t*>(data), n, now);
    w_.h2_room(*this);  // SETTINGS may have raised the limit
    write_pending();
    return;
  }
  while (n > 0) {
    if (in_flight_.empty()) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      fail(traffic::ErrorKind::kProtocol, false);
      return;
    }
    auto feed = h1_->feed(data, n, now);
    data += feed.consumed;
    n -= feed.consumed;
    if (feed.status == Http1ResponseParser::Status::kNeedMore) return;
    uint32_t slot = in_flight_.front();
    in_flight_.clear();
    bool keep = feed.status == Http1ResponseParser::Status::kDone && h1_->keep_alive();
    w_.finished(slot, h1_->completion(), this);
    if (!keep) {
      close(traffic::ErrorKind::kNone);
      return;
    }
    if (n > 0) {
      fail(traffic::ErrorKind::kProtocol, false);
      return;
    }
    w_.connection_idle(*this);
  }
}

void Connection::fail(traffic::ErrorKind error, bool /*reset*/) { close(error); }

void Connection::close(traffic::ErrorKind error) {
  if (state_ == ConnState::kClosed) return;
  bool never_ready = state_ != ConnState::kReady;
  state_ = ConnState::kClosed;
  if (preconnecting) {
    preconnecting = false;
    w_.shared_.preconnecting.fetch_sub(1, std::memory_order_release);
  }
  if (raw()) {
    // Out of the epoll set first: a copy of the descriptor in a child process would keep it
    // there, reporting events for a connection that is gone.
    ::epoll_ctl(w_.epoll(), EPOLL_CTL_DEL, fd_, nullptr);
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
    writing_ = false;
  } else {
    error_code ignored;
    w_.asio_used();
    socket_.cancel(ignored);
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  if (error == traffic::ErrorKind::kNone) error = traffic::ErrorKind::kTruncated;
  auto flights = std::move(in_flight_);
  in_flight_.clear();
  int64_t now = now_ns();
  for (auto slot : flights) {
    Flight& f = w_.flight(slot);
    // A reused connection that the server closed before answering anything: the request most
    // likely crossed the close; send it once more on a fresh connection.
    // A pre-opened connection waited idle before its first request, like a reused one.
    if (!got_bytes_ && (served > 1 || preopened) && !f.retried && !h2_ &&
        (error == traffic::ErrorKind::kTruncated || error == traffic::ErrorKind::kReset)) {
      f.retried = true;
      w_.retry(slot);
      continue;
    }
    Completion c;
    c.token = slot;
    c.error = error;
    if (h1_ && !h2_) {
      // What the parser has (a partial response) is kept.
      h1_->finish(now, error == traffic::ErrorKind::kReset);
      c = std::move(h1_->completion());
      c.token = slot;
      // Our own reasons (the request's time is up, the run is stopping) win over what the
      // parser makes of the cut-off response.
      if (c.error == traffic::ErrorKind::kNone || error == traffic::ErrorKind::kTimeout ||
          error == traffic::ErrorKind::kCancelled)
        c.error = error;
    }
    w_.finished(slot, c, this);
  }
  if (h2s_) h2s_->close(error, now);  // completes streams it still knows (none normally)
  w_.connection_closed(*this, never_ready, error);
}

void Connection::sweep(int64_t now) {
  if (state_ == ConnState::kClosed) return;
  if (state_ != ConnState::kReady) {
    if (now > connect_deadline_) {
      fail(traffic::ErrorKind::kConnect, false);
    }
    return;
  }
  for (auto slot : in_flight_) {
    if (now > w_.flight(slot).deadline) {
      if (h2_) {
        // One stream timed out: only it fails (RST_STREAM); the connection goes on.
        h2s_->cancel(w_.flight(slot).stream, traffic::ErrorKind::kTimeout, now);
        write_pending();
      } else {
        close(traffic::ErrorKind::kTimeout);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Worker

void Worker::arm_tick() {
  tick_.expires_after(std::chrono::milliseconds(20));
  tick_.async_wait([this](const error_code& ec) {
    if (!ec) on_tick();
  });
}

void Worker::on_tick() {
  int64_t now = now_ns();
  if (shared_.stop.load(std::memory_order_relaxed) && !finishing_) {
    finishing_ = true;
    // Everything not yet sent is cancelled; in-flight requests end now as kCancelled.
    while (!scheduled_.empty()) {
      uint32_t s = scheduled_.front();
      scheduled_.pop_front();
      inbox_.queued.fetch_sub(1, std::memory_order_relaxed);
      cancel_item(s, now);
    }
    for (uint32_t t = 0; t < ready_.size(); ++t) {
      auto q = std::move(ready_[t]);
      ready_[t].clear();
      for (auto fs : q) fail_flight(fs, traffic::ErrorKind::kCancelled);
    }
    for (auto& [id, s] : sessions_)
      for (auto& q : s.held) {
        auto held = std::move(q);
        q.clear();
        for (auto fs : held) fail_flight(fs, traffic::ErrorKind::kCancelled);
      }
    for (auto& c : conns_) c->close(traffic::ErrorKind::kCancelled);
  }
  take_inbox();
  release_due();
  for (auto& c : conns_) c->sweep(now);
  // Reap closed connections whose handlers have all run.
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(),
                              [](const std::unique_ptr<Connection>& c) { return c->reapable(); }),
               conns_.end());
  // Forget sessions idle for a while; their home connections go back to the pool. Pool
  // connections unused for long are closed.
  if (now - last_p99_ > 1'000'000'000) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto& s = it->second;
      bool busy = false;
      for (size_t t = 0; t < s.in_flight.size(); ++t)
        busy = busy || s.in_flight[t] > 0 || !s.held[t].empty();
      if (!busy && now - s.last_active > 2'000'000'000) {
        for (size_t t = 0; t < s.home.size(); ++t) {
          if (s.home[t] && s.home[t]->owner == it->first) {
            s.home[t]->owner = 0;
            if (s.home[t]->idle()) pools_[t].push_back(s.home[t]);
          }
        }
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& c : conns_)
      if (c->idle() && c->owner == 0 && now - c->last_used > 10'000'000'000)
        c->close(traffic::ErrorKind::kNone);
    recent_p99.store(interval_[0].quantile(0.99), std::memory_order_relaxed);
    interval_[0].clear();
    last_p99_ = now;
  }
  flush_results(now - last_flush_ > 100'000'000);
  if (done()) {
    flush_results(true);
    for (auto& c : conns_) c->close(traffic::ErrorKind::kNone);
    tick_.cancel();
    set_timer(0);
    // run() returns once the io_context has run the closes' handlers and stopped.
    guard_.reset();
    return;
  }
  arm_tick();
}

bool Worker::done() const {
  if (!shared_.input_done.load(std::memory_order_acquire)) return false;
  if (inbox_.queued.load(std::memory_order_acquire) != 0) return false;
  if (!scheduled_.empty()) return false;
  for (const auto& q : ready_)
    if (!q.empty()) return false;
  for (const auto& c : conns_)
    if (!c->in_flight_.empty()) return false;
  for (const auto& [id, s] : sessions_)
    for (const auto& q : s.held)
      if (!q.empty()) return false;
  return true;
}

void Worker::run() {
  guard_.emplace(io_.get_executor());
  arm_tick();
  constexpr int kEvents = 128;
  constexpr size_t kAsioBatch = 8;
  epoll_event events[kEvents];
  for (;;) {
    // Asio's handlers run inside poll_one(); what they defer (a dispatch after a completion),
    // and the connections' own events, outside. Asio's set is a member of ep_, so a timer due,
    // a TLS connection's bytes or a connect's end show there as an event (data.ptr null).
    if (asio_due_) {
      // A few handlers at a time, then the connections' events: a run of Asio's handlers
      // (connects completing, each sending a request and opening the next connection for the
      // requests still waiting) must not keep responses unread, which keeps their connections
      // busy and has more opened. What is left runs after those events (epoll_wait does not
      // block then).
      asio_due_ = false;
      size_t ran = 0;
      while (ran < kAsioBatch && io_.poll_one()) ++ran;
      if (io_.stopped()) break;
      if (ran == kAsioBatch) asio_due_ = true;
    }
    if (deferred_) run_deferred();
    int n = ::epoll_wait(ep_, events, kEvents, deferred_ || asio_due_ ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Only a broken ep_ gets here (EBADF, EINVAL): the run cannot go on.
      spdlog::critical("replay worker {}: epoll_wait: {}", index_, std::strerror(errno));
      std::abort();
    }
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == nullptr)
        asio_due_ = true;
      else if (tag == this)
        on_wake();
      else if (tag == &timer_fd_)
        on_timer();
      else
        static_cast<Connection*>(tag)->on_events(events[i].events);
    }
  }
}

void Worker::run_deferred() {
  // What runs here may defer more (a failure's completions dispatch): until nothing is left.
  while (deferred_) {
    deferred_ = false;
    if (!failing_.empty()) {
      auto failing = std::move(failing_);
      failing_.clear();
      for (Connection* c : failing) {
        --c->ops_;
        c->fail(traffic::ErrorKind::kReset, true);  // no-op if it closed meanwhile
      }
    }
    for (uint32_t t = 0; t < dispatch_due_.size(); ++t) {
      if (!dispatch_due_[t]) continue;
      dispatch_due_[t] = 0;
      dispatch(t);
    }
  }
}

void Worker::on_wake() {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  // Cleared before looking: a wake after this writes again.
  wake_pending_.store(false, std::memory_order_release);
  take_inbox();
  open_preconnects();
}

void Worker::take_inbox() {
  {
    std::lock_guard lock(inbox_.mutex);
    incoming_.swap(inbox_.items);
    if (inbox_.spare.empty()) inbox_.spare.swap(spare_requests_);
  }
  if (incoming_.empty()) return;
  for (auto& it : incoming_) {
    uint32_t slot;
    if (free_items_.empty()) {
      slot = static_cast<uint32_t>(items_.size());
      items_.emplace_back();
    } else {
      slot = free_items_.back();
      free_items_.pop_back();
    }
    // A free slot still holds its last request, if it owned one: it goes back to the planner.
    std::swap(items_[slot].item, it);
    if (it.owned && spare_requests_.size() < kSpareRequests)
      spare_requests_.push_back(std::move(it.owned));
    items_[slot].refs = static_cast<uint32_t>(stats_.size());
    if (finishing_) {
      // Stopping: what arrives now is cancelled at once.
      inbox_.queued.fetch_sub(1, std::memory_order_relaxed);
      cancel_item(slot, now_ns());
      continue;
    }
    // The planner hands items over in intended order per worker, except across a loop's
    // restart where they still are; keep the deque sorted by inserting from the back.
    auto pos = scheduled_.end();
    int64_t at = items_[slot].item.intended;
    while (pos != scheduled_.begin() && items_[*(pos - 1)].item.intended > at) --pos;
    scheduled_.insert(pos, slot);
  }
  incoming_.clear();
  release_due();
}

void Worker::set_timer(int64_t at) {
  itimerspec spec{};  // all zero: disarmed
  if (at > 0) {
    spec.it_value.tv_sec = static_cast<time_t>(at / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(at % 1'000'000'000);
  }
  ::timerfd_settime(timer_fd_, at > 0 ? TFD_TIMER_ABSTIME : 0, &spec, nullptr);
  timer_armed_ = at > 0;
  timer_at_ = at;
}

void Worker::arm_timer() {
  if (scheduled_.empty() || finishing_) return;
  // An instant already past fires at once (a timerfd set to an absolute time before now).
  const int64_t at = std::max<int64_t>(items_[scheduled_.front()].item.intended, 1);
  if (timer_armed_ && timer_at_ <= at) return;
  set_timer(at);
}

void Worker::on_timer() {
  uint64_t expirations;
  [[maybe_unused]] auto n = ::read(timer_fd_, &expirations, sizeof expirations);
  // A later set_timer() may have moved the instant on since the expiry was reported: what is
  // due is released either way, and the timer is set again for what is not.
  timer_armed_ = false;
  release_due();
}

void Worker::release_due() {
  int64_t now = now_ns();
  // Release what is due; in closed-loop mode only as many as there are free connections'
  // worth, so that requests do not pile up in the ready queues.
  while (!scheduled_.empty()) {
    uint32_t slot = scheduled_.front();
    Item& item = items_[slot].item;
    if (shared_.options.mode == Mode::kMax) {
      refill();
      break;
    } else if (item.intended > now) {
      break;
    }
    scheduled_.pop_front();
    inbox_.queued.fetch_sub(1, std::memory_order_relaxed);
    release(slot);
  }
  dispatch_all();
  if (!scheduled_.empty() && shared_.options.mode != Mode::kMax) {
    arm_timer();  // sets it again if the front is due before the armed instant
  }
}

Worker::SessionState& Worker::session(uint64_t id) {
  auto [it, fresh] = sessions_.try_emplace(id);
  if (fresh) {
    size_t n = stats_.size();
    it->second.in_flight.assign(n, 0);
    it->second.held.resize(n);
    it->second.home.assign(n, nullptr);
  }
  return it->second;
}

uint32_t Worker::new_flight() {
  uint32_t slot;
  if (free_flights_.empty()) {
    slot = static_cast<uint32_t>(flights_.size());
    flights_.emplace_back();
  } else {
    slot = free_flights_.back();
    free_flights_.pop_back();
  }
  Flight& f = flights_[slot];
  f.sent = 0;
  f.written = traffic::kNoTime;
  f.stream = 0;
  f.retried = false;
  f.counted = false;
  f.order_released = 0;
  return slot;
}

uint32_t Worker::prepared_flight(uint32_t item_slot, uint32_t t, int64_t now) {
  const Item& item = items_[item_slot].item;
  uint32_t fs = new_flight();
  Flight& f = flights_[fs];
  f.item = item_slot;
  f.target = t;
  f.released = now;
  if (item.prepared) {
    f.prepared = &item.prepared[t];
    stats_[t].invalid_headers += f.prepared->invalid();
    return fs;
  }
  // A free flight still holds an earlier request (record() swaps strings): this one goes over it.
  f.prepared = nullptr;
  stats_[t].invalid_headers += prepare(item.req(), item.body_truncated, *shared_.targets[t].target,
                                       shared_.options.rewrite, f.request);
  return fs;
}

void Worker::release(uint32_t item_slot) {
  Item& item = items_[item_slot].item;
  int64_t now = now_ns();
  for (uint32_t t = 0; t < stats_.size(); ++t) {
    uint32_t fs = prepared_flight(item_slot, t, now);
    Flight& f = flights_[fs];
    if (item.session != 0) {
      auto& s = session(item.session);
      s.last_active = now;
      bool must_wait = !s.held[t].empty() || (item.wait_previous && s.in_flight[t] > 0);
      if (must_wait) {
        if (waiting_ >= shared_.options.max_waiting) {
          ++stats_[t].overflow;
          fail_flight(fs, traffic::ErrorKind::kCancelled);
          continue;
        }
        ++waiting_;
        ++stats_[t].held_by_order;
        s.held[t].push_back(fs);
        continue;
      }
      ++s.in_flight[t];
      f.counted = true;
    }
    enqueue(fs);
  }
}

void Worker::enqueue(uint32_t fs) {
  Flight& f = flights_[fs];
  if (ready_[f.target].size() >= shared_.options.max_waiting) {
    ++stats_[f.target].overflow;
    fail_flight(fs, traffic::ErrorKind::kCancelled);
    return;
  }
  ready_[f.target].push_back(fs);
}

void Worker::dispatch_all() {
  // Paired replay: the targets take turns going first. On shared hardware the one that always
  // got its copy of an exchange last would wait for a core on every CPU-bound request and look
  // slower than it is.
  const auto n = static_cast<uint32_t>(ready_.size());
  if (n == 0) return;
  const uint32_t first = turn_++ % n;
  for (uint32_t k = 0; k < n; ++k) dispatch((first + k) % n);
}

constexpr size_t kPrefetchAhead = 8;

void Worker::refill() {
  // Closed loop: keep about two requests per connection released, no more, so that the ready
  // queues stay short and the planner's pacing (it counts what is not yet released) holds.
  if (shared_.options.mode != Mode::kMax || finishing_) return;
  size_t limit = 2 * std::max<size_t>(max_conns_, 1) * shared_.options.streams;
  while (!scheduled_.empty()) {
    size_t waiting = 0;
    for (auto& q : ready_) waiting = std::max(waiting, q.size());
    if (waiting >= limit) break;
    uint32_t slot = scheduled_.front();
    scheduled_.pop_front();
    inbox_.queued.fetch_sub(1, std::memory_order_relaxed);
    // A later pass of --loop reads what is sent from the planner's copy, tens of MB read once
    // a pass: each item's first touch of it was a miss to memory (prepared_flight() 4 % of
    // the worker's user time). Fetched a few items ahead, it is in the cache when released.
    if (scheduled_.size() > 2 * kPrefetchAhead)
      __builtin_prefetch(&items_[scheduled_[2 * kPrefetchAhead]]);  // read at the next step
    if (scheduled_.size() > kPrefetchAhead)
      if (const auto* p =
              reinterpret_cast<const char*>(items_[scheduled_[kPrefetchAhead]].item.prepared))
        for (int line = 0; line < 4; ++line) __builtin_prefetch(p + 64 * line);
    release(slot);
  }
}

void Worker::dispatch(uint32_t t) {
  refill();
  auto& q = ready_[t];
  // Requests go in order, but one that must wait (its session's connection is still being
  // opened, or no connection is free) does not hold back the ones behind it. The scan is
  // bounded so that a long queue behind a dead target costs little.
  size_t scanned = 0;
  size_t unowned_waiting = 0;
  for (size_t i = 0; i < q.size() && scanned < 256; ++scanned) {
    uint32_t fs = q[i];
    Flight& f = flights_[fs];
    Item& item = items_[f.item].item;
    SessionState* s = item.session ? &session(item.session) : nullptr;
    if (!s) ++unowned_waiting;
    Connection* c = pick(t, item.session, s, unowned_waiting);
    if (!c && !s) {
      // No connection for a request without a session: none for those behind it either (they
      // all are without one: closed loop, --no-order). Open what they need and stop; a scan
      // of the whole queue (times every HTTP/2 connection) per completion made a closed loop
      // with thousands of streams in flight 4x slower than h2load.
      size_t behind = std::min(q.size() - i - 1, size_t{255} - scanned);
      while (open_for(t, unowned_waiting + behind)) {
      }
      break;
    }
    if (!c) {
      ++i;
      continue;
    }
    q.erase(q.begin() + static_cast<std::ptrdiff_t>(i));
    if (!s) --unowned_waiting;
    int64_t now = now_ns();
    if (now - f.released > 1'000'000) ++stats_[t].waited_for_connection;
    // Send lag: how late the engine is against the schedule (after session order), whatever
    // the cause — a late timer, a busy thread, no free connection. Not in closed-loop mode,
    // which has no schedule.
    if (!item.warmup && shared_.options.mode != Mode::kMax) {
      f.sent = now;
      int64_t base = intended_of(f, item);
      stats_[t].send_lag.record(static_cast<uint64_t>(std::max<int64_t>(0, now - base)));
    }
    if (!item.warmup) ++stats_[t].sent;  // the warm-up is counted apart (warmup)
    sent.fetch_add(1, std::memory_order_relaxed);
    c->send(fs, now);
  }
}

Connection* Worker::pick(uint32_t t, uint64_t sid, SessionState* s, size_t unowned_waiting) {
  // The session's own connection first: captured connections map onto replay connections.
  if (s && s->home[t]) {
    Connection* home = s->home[t];
    if (home->has_capacity()) return home;
    if (home->state() == ConnState::kConnecting || home->state() == ConnState::kHandshake)
      return nullptr;  // it takes the request once it is open
  }
  auto& pool = pools_[t];
  while (!pool.empty()) {
    Connection* c = pool.back();
    pool.pop_back();
    if (!c->has_capacity() || c->owner != 0) continue;
    if (s && !s->home[t]) {
      s->home[t] = c;
      c->owner = sid;
    }
    return c;
  }
  // HTTP/2: a connection with a free stream will do (a connection carries many sessions).
  auto& ready = h2_ready_[t];
  while (!ready.empty()) {
    Connection* c = ready.back();
    if (c->has_capacity()) return c;  // it stays listed while it has room
    ready.pop_back();
    c->h2_listed = false;
  }
  if (conn_count_[t] >= max_conns_) return nullptr;
  if (s) {
    if (!s->home[t]) {
      Connection* c = open(t);
      s->home[t] = c;
      c->owner = sid;
    } else if (s->home[t]->state() == ConnState::kReady) {
      open(t);  // its home is busy (pipelined or concurrent capture): one more to the pool
    }
    return nullptr;
  }
  open_for(t, unowned_waiting);
  return nullptr;
}

bool Worker::open_for(uint32_t t, size_t unowned_waiting) {
  // Without a session: one connection opening per request waiting without one, but at most
  // kMaxOpening at a time. The first connection free takes the request, an existing one or a
  // new one; on a loaded host a hiccup of a few ms otherwise opened a connection for each of
  // the hundreds of requests due meanwhile, and the connects (the target's accepts on shared
  // cores) made the next hiccup longer: 2,000 connections and 40 ms late at 20,000/s.
  constexpr size_t kMaxOpening = 16;
  if (conn_count_[t] >= max_conns_ || connecting_[t] >= std::min(unowned_waiting, kMaxOpening))
    return false;
  open(t);
  return true;
}

Connection* Worker::open(uint32_t t) {
  auto conn = std::make_unique<Connection>(*this, t, (uint64_t{index_} << 40) | next_conn_++);
  Connection* c = conn.get();
  conns_.push_back(std::move(conn));
  ++conn_count_[t];
  ++connecting_[t];
  ++stats_[t].connections_opened;
  c->start();
  return c;
}

void Worker::connection_idle(Connection& conn) {
  uint32_t t = conn.target();
  if (conn.owner == 0 && !conn.h2_) pools_[t].push_back(&conn);
  dispatch(t);
}

void Worker::connection_closed(Connection& conn, bool failed_to_connect, traffic::ErrorKind error) {
  uint32_t t = conn.target();
  --conn_count_[t];
  auto& h2 = h2_conns_[t];
  h2.erase(std::remove(h2.begin(), h2.end(), &conn), h2.end());
  if (conn.h2_listed) {
    auto& ready = h2_ready_[t];
    ready.erase(std::remove(ready.begin(), ready.end(), &conn), ready.end());
    conn.h2_listed = false;
  }
  auto& pool = pools_[t];
  pool.erase(std::remove(pool.begin(), pool.end(), &conn), pool.end());
  SessionState* owner = nullptr;
  if (conn.owner != 0) {
    auto it = sessions_.find(conn.owner);
    if (it != sessions_.end() && it->second.home[t] == &conn) {
      owner = &it->second;
      owner->home[t] = nullptr;
    }
  }
  if (failed_to_connect) {
    --connecting_[t];
    ++stats_[t].connections_failed;
    // The requests this connection was opened for fail as it did (connect, tls, timeout): its
    // session's waiting requests, or, for a connection of no session, the first request that
    // waits without one. A client does not retry a refused connection forever.
    if (error == traffic::ErrorKind::kCancelled || finishing_) {
      // the run is stopping: the tick cancels what waits
    } else {
      auto& q = ready_[t];
      std::vector<uint32_t> failed;
      for (size_t i = 0; i < q.size();) {
        const Item& item = items_[flights_[q[i]].item].item;
        bool mine = owner ? item.session == conn.owner : item.session == 0;
        if (mine) {
          failed.push_back(q[i]);
          q.erase(q.begin() + static_cast<std::ptrdiff_t>(i));
          if (!owner) break;
        } else {
          ++i;
        }
      }
      for (auto fs : failed) fail_flight(fs, error);
    }
  }
  defer_dispatch(t);
}

void Worker::retry(uint32_t fs) {
  ready_[flights_[fs].target].push_front(fs);
  defer_dispatch(flights_[fs].target);
}

void Worker::cancel_item(uint32_t item_slot, int64_t now) {
  for (uint32_t t = 0; t < stats_.size(); ++t)
    fail_flight(prepared_flight(item_slot, t, now), traffic::ErrorKind::kCancelled);
}

void Worker::fail_flight(uint32_t fs, traffic::ErrorKind error) {
  Completion c;
  c.token = fs;
  c.error = error;
  finished(fs, c, nullptr);
}

void Worker::finished(uint32_t fs, Completion& c, const Connection* conn) {
  Flight& f = flights_[fs];
  uint32_t t = f.target;
  uint32_t item_slot = f.item;
  Item& item = items_[item_slot].item;
  auto& st = stats_[t];
  int64_t now = now_ns();
  if (c.response_end == traffic::kNoTime) c.response_end = now;
  bool ok = c.error == traffic::ErrorKind::kNone && c.has_response;
  if (!ok && c.error == traffic::ErrorKind::kNone) c.error = traffic::ErrorKind::kProtocol;
  if (item.warmup) {
    ++st.warmup;
  } else {
    if (ok) {
      ++st.completed;
      ++status_counts_[t][status_class(c.response.status)];
      completed.fetch_add(1, std::memory_order_relaxed);
      int64_t base = intended_of(f, item);
      uint64_t latency = static_cast<uint64_t>(std::max<int64_t>(0, c.response_end - base));
      st.latency.record(latency);
      if (t == 0) interval_[0].record(latency);
      if (f.sent)
        st.service.record(static_cast<uint64_t>(std::max<int64_t>(0, c.response_end - f.sent)));
      st.response_bytes += c.response.body_size;
      if (c.flags & traffic::kFlagResponseBodyTruncated) ++st.truncated_bodies;
    } else {
      ++st.errors[std::string(traffic::to_string(c.error))];
      errors.fetch_add(1, std::memory_order_relaxed);
    }
    if (shared_.results) record(f, item, c, conn);
  }
  // The session's next request may go now.
  if (item.session != 0 && f.counted) {
    auto it = sessions_.find(item.session);
    if (it != sessions_.end()) {
      auto& s = it->second;
      if (s.in_flight[t] > 0) --s.in_flight[t];
      s.last_active = now;
      auto& held = s.held[t];
      while (!held.empty() && !finishing_) {
        uint32_t next = held.front();
        const Item& ni = items_[flights_[next].item].item;
        if (ni.wait_previous && s.in_flight[t] > 0) break;
        held.pop_front();
        --waiting_;
        flights_[next].released = now;
        flights_[next].order_released = now;
        ++s.in_flight[t];
        flights_[next].counted = true;
        enqueue(next);
      }
    }
  }
  // The flight's and the item's requests keep their buffers for the next ones (prepare()
  // and the planner's decoding reuse them); only big bodies are let go.
  shed(f.request.body);
  free_flights_.push_back(fs);
  if (--items_[item_slot].refs == 0) {
    if (auto& owned = items_[item_slot].item.owned) shed(owned->body);
    free_items_.push_back(item_slot);
  }
  defer_dispatch(t);
}

void Worker::record(Flight& f, const Item& item, Completion& c, const Connection* conn) {
  // A slot of a written batch is written over: every field is set, and the strings keep their
  // buffers (ResultQueue). The flight's request is done with (finished() frees the flight next):
  // its strings are swapped in, and the slot's old ones go to the next prepare().
  if (batch_.used == batch_.items.size()) batch_.items.emplace_back();
  traffic::Exchange& e = batch_.items[batch_.used++];
  e.id = shared_.next_id.fetch_add(1, std::memory_order_relaxed);
  e.origin_id = item.origin_id;
  e.target.assign(stats_[f.target].name);
  e.flags = 0;
  if (conn) {
    e.session = conn->id();
    e.seq = conn->seq_;
    const_cast<Connection*>(conn)->seq_++;
    e.protocol = conn->h2_ ? traffic::Protocol::kHttp2 : traffic::Protocol::kHttp11;
    e.client = conn->local_;
    e.server = conn->remote_;
  } else {
    e.session = 0;
    e.seq = 0;
    e.protocol = traffic::Protocol::kUnknown;
    e.client = {};
    e.server = {};
  }
  e.stream = static_cast<uint32_t>(f.stream);
  e.time.intended = epoch(intended_of(f, item));
  e.time.request_start = f.sent ? epoch(f.sent) : traffic::kNoTime;
  e.time.request_end = f.sent ? epoch(f.written) : traffic::kNoTime;
  e.time.response_start = epoch(c.response_start);
  e.time.response_end = c.has_response || c.response_start != traffic::kNoTime
                            ? epoch(c.response_end)
                            : traffic::kNoTime;
  auto& r = e.request;
  std::string_view body;
  if (const Prepared* p = f.prepared) {
    // The planner's copy stays: written over the slot's strings, which keep their buffers.
    traffic::overwrite(r.method, p->method());
    traffic::overwrite(r.target, p->path());
    traffic::overwrite(r.authority, p->authority());
    r.headers.resize(p->headers());
    for (size_t i = 0; i < p->headers(); ++i) {
      traffic::overwrite(r.headers[i].name, p->name(i));
      traffic::overwrite(r.headers[i].value, p->value(i));
    }
    body = p->body();
  } else {
    r.method.swap(f.request.method);
    r.target.swap(f.request.path);
    r.authority.swap(f.request.authority);
    r.headers.swap(f.request.headers);
    body = f.request.body;
  }
  r.body_size = body.size();
  size_t keep = std::min(body.size(), shared_.options.max_body);
  r.body.assign(body.data(), keep);
  if (keep < body.size()) e.flags |= traffic::kFlagRequestBodyTruncated;
  r.framing = body.empty()        ? traffic::Framing::kNone
              : conn && conn->h2_ ? traffic::Framing::kHttp2
                                  : traffic::Framing::kContentLength;
  if (c.has_response) {
    // Swapped, not moved: the parser gets this slot's old response to parse the next one
    // into, with its buffers (HTTP/1.1 reuses its header slots).
    if (!e.response) e.response.emplace();
    std::swap(*e.response, c.response);
  } else {
    e.response.reset();
    e.flags |= traffic::kFlagNoResponse;
  }
  e.error = c.error;
  e.flags |= c.flags;
}

void Worker::flush_results(bool force) {
  if (!shared_.results || batch_.used == 0) return;
  if (!force && batch_.used < 256) return;
  shared_.results->push(batch_, shared_.record_stalls);
  last_flush_ = now_ns();
}

}  // namespace detail

namespace {

using detail::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

// The planner and the writer work ahead of or behind the workers, through bounded queues;
// the workers (sockets, timestamps) and, on a shared machine, the target are what must not
// wait for a core. These two threads take a lower priority (nice +5; on Linux it is per
// thread), so that they run in the gaps. Failure changes nothing but the scheduling.
void yield_to_io() {
  [[maybe_unused]] int ignored =
      setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 5);
}

nlohmann::json histogram_ms(const traffic::Histogram& h, bool full) {
  auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  nlohmann::json j = nlohmann::json::object();
  j["count"] = h.count();
  j["p50"] = ms(h.quantile(0.50));
  if (full) j["p90"] = ms(h.quantile(0.90));
  j["p99"] = ms(h.quantile(0.99));
  if (full) {
    j["p99.9"] = ms(h.quantile(0.999));
    j["mean"] = h.mean() / 1e6;
    j["min"] = ms(h.min());
  }
  j["max"] = ms(h.max());
  return j;
}

Result<std::unique_ptr<ssl::context>> make_tls(const Target& target, const TlsOptions& opts) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (opts.insecure) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!opts.ca_file.empty()) {
      ctx->load_verify_file(opts.ca_file, ec);
      if (ec) return fail(opts.ca_file + ": cannot load CA certificates: " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
    }
  }
  if (!opts.cert_file.empty()) {
    ctx->use_certificate_chain_file(opts.cert_file, ec);
    if (ec) return fail(opts.cert_file + ": cannot load the client certificate: " + ec.message());
    const std::string& key = opts.key_file.empty() ? opts.cert_file : opts.key_file;
    ctx->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) return fail(key + ": cannot load the client key: " + ec.message());
  }
  // ALPN: https:// lets the server choose, h2:// offers HTTP/2 only.
  static const unsigned char kBoth[] = "\x02h2\x08http/1.1";
  static const unsigned char kH2[] = "\x02h2";
  if (target.scheme == Scheme::kH2)
    SSL_CTX_set_alpn_protos(ctx->native_handle(), kH2, sizeof kH2 - 1);
  else
    SSL_CTX_set_alpn_protos(ctx->native_handle(), kBoth, sizeof kBoth - 1);
  return ctx;
}

}  // namespace

nlohmann::json Summary::to_json() const {
  nlohmann::json j;
  j["planned"] = planned;
  j["skipped"] = {{"filtered", skipped_filtered},
                  {"truncated_body", skipped_truncated},
                  {"no_request", skipped_no_request}};
  j["loops"] = loops;
  j["loops_from_memory"] = loops_from_memory;
  j["loop_cache"] = {{"requests_bytes", loop_cache_bytes}, {"prepared_bytes", loop_prepared_bytes}};
  j["recorded"] = recorded;
  j["record_stalls"] = record_stalls;
  j["input_damage"] = input_damage;
  j["elapsed_s"] = elapsed;
  j["measured_s"] = duration_measured;
  j["interrupted"] = interrupted;
  auto& ts = j["targets"] = nlohmann::json::object();
  for (const auto& t : targets) {
    nlohmann::json o;
    o["sent"] = t.sent;
    o["completed"] = t.completed;
    uint64_t errs = 0;
    for (const auto& [k, v] : t.errors) errs += v;
    o["errors"] = errs;
    o["errors_by_kind"] = t.errors;
    o["statuses"] = t.statuses;
    o["warmup"] = t.warmup;
    o["rate"] = duration_measured > 0 ? static_cast<double>(t.completed) / duration_measured : 0.0;
    o["latency_ms"] = histogram_ms(t.latency, true);
    o["service_ms"] = histogram_ms(t.service, true);
    o["send_lag_ms"] = histogram_ms(t.send_lag, false);
    o["connections"] = {{"opened", t.connections_opened},
                        {"failed", t.connections_failed},
                        {"preconnected", t.preconnected}};
    o["response_bytes"] = t.response_bytes;
    o["truncated_bodies"] = t.truncated_bodies;
    o["held_by_order"] = t.held_by_order;
    o["waited_for_connection"] = t.waited_for_connection;
    o["overflow"] = t.overflow;
    o["invalid_headers"] = t.invalid_headers;
    ts[t.name] = std::move(o);
  }
  return j;
}

Result<Summary> run(const Options& options_in, const Hooks& hooks) {
  using namespace detail;
  Options options = options_in;
  if (options.targets.empty()) return fail("replay: no --target given");
  if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
  if (options.mode == Mode::kMax && options.connections == 0) options.connections = 64;
  if (options.mode == Mode::kMax)
    options.threads = std::min(options.threads, std::max<size_t>(options.connections, 1));

  // Resolve every target once, here: workers connect only to these addresses.
  std::vector<std::unique_ptr<ssl::context>> tls;
  std::vector<TargetSetup> setups;
  {
    asio::io_context io;
    tcp::resolver resolver(io);
    for (const auto& t : options.targets) {
      TargetSetup s;
      s.target = &t;
      boost::system::error_code ec;
      auto results = resolver.resolve(t.host, std::to_string(t.port), ec);
      if (ec)
        return fail("--target " + t.name + ": cannot resolve '" + t.host + "': " + ec.message());
      for (const auto& r : results) s.endpoints.push_back(r.endpoint());
      if (s.endpoints.empty())
        return fail("--target " + t.name + ": no address for '" + t.host + "'");
      if (t.tls()) {
        auto ctx = make_tls(t, options.tls);
        if (!ctx) return tl::unexpected(ctx.error());
        s.tls = ctx->get();
        tls.push_back(std::move(*ctx));
      }
      setups.push_back(std::move(s));
    }
  }

  std::atomic<bool> local_stop{false};
  std::atomic<bool>& stop = hooks.stop ? *hooks.stop : local_stop;

  // The results archive and its writer thread.
  traffic::WriterPtr writer;
  std::unique_ptr<ResultQueue> results;
  std::atomic<uint64_t> recorded{0};
  std::string write_error;
  if (!options.output.empty()) {
    traffic::WriterOptions wo;
    wo.metadata = options.extra_metadata;
    auto w = traffic::Writer::open(options.output, wo);
    if (!w) return tl::unexpected(w.error());
    writer = std::move(*w);
    results = std::make_unique<ResultQueue>(65536);
  }
  std::thread writer_thread;
  if (writer) {
    writer_thread = std::thread([&] {
      yield_to_io();
      detail::ResultBatch batch;
      while (results->pop(batch)) {
        for (size_t i = 0; i < batch.used; ++i) {
          const auto& e = batch.items[i];
          if (!write_error.empty()) break;
          auto r = writer->append(e);
          if (!r) {
            write_error = r.error().message;
            stop.store(true);
          } else {
            recorded.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
    });
  }

  Shared shared{options, setups, 0, stop};
  shared.results = results.get();
  int64_t steady0 = now_ns();
  int64_t wall0 = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  shared.epoch_offset = wall0 - steady0;

  std::vector<Inbox> inboxes(options.threads);
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(shared, i, inboxes[i]));
    if (!workers.back()->ok())
      return tl::unexpected(
          twin::Error{std::string("replay: cannot set up a worker's epoll set, eventfd or "
                                  "timerfd: ") +
                      std::strerror(errno)});
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Pre-opened connections: the schedule waits for them (at most the connect timeout).
  if (options.mode != Mode::kMax) {
    size_t total = 0;
    std::vector<std::vector<size_t>> per_worker(workers.size(),
                                                std::vector<size_t>(options.targets.size(), 0));
    for (size_t t = 0; t < options.targets.size(); ++t) {
      const bool h2 =
          options.targets[t].scheme == Scheme::kH2c || options.targets[t].scheme == Scheme::kH2;
      size_t n = 0;
      if (options.preconnect >= 0)
        n = static_cast<size_t>(options.preconnect);
      else if (!options.keep_order)
        n = h2 ? workers.size() : 32;
      n = std::min(n, options.max_connections);
      for (size_t i = 0; i < workers.size(); ++i)
        per_worker[i][t] = n / workers.size() + (i < n % workers.size() ? 1 : 0);
      total += n;
    }
    if (total > 0) {
      shared.preconnecting.store(total);
      for (size_t i = 0; i < workers.size(); ++i) workers[i]->preconnect(per_worker[i]);
      const int64_t deadline = now_ns() + static_cast<int64_t>(options.connect_timeout * 1e9);
      while (shared.preconnecting.load(std::memory_order_acquire) > 0 && !stop.load() &&
             now_ns() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }

  // The schedule starts when the planner has its first request (a little ahead of the clock).
  Planner planner(options, inboxes, -1, stop);
  planner.on_wake([&](size_t i) { workers[i]->wake(); });
  Result<void> planned_ok;
  std::thread planner_thread([&] {
    yield_to_io();
    planned_ok = planner.run();
    shared.input_done.store(true, std::memory_order_release);
    for (auto& w : workers) w->wake();
  });

  // The main thread reports progress until the workers are done.
  std::atomic<size_t> running{threads.size()};
  std::thread waiter([&] {
    for (auto& t : threads) t.join();
    running.store(0);
  });
  int64_t last_progress = now_ns();
  while (running.load() != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int64_t now = now_ns();
    if (hooks.on_progress &&
        now - last_progress >= static_cast<int64_t>(hooks.progress_interval * 1e9)) {
      last_progress = now;
      Progress p;
      p.planned = planner.planned();
      p.total = planner.total_hint() * options.targets.size();
      for (auto& w : workers) {
        p.sent += w->sent.load(std::memory_order_relaxed);
        p.completed += w->completed.load(std::memory_order_relaxed);
        p.errors += w->errors.load(std::memory_order_relaxed);
        p.p99_ns = std::max(p.p99_ns, w->recent_p99.load(std::memory_order_relaxed));
      }
      p.seconds = planner.started() ? static_cast<double>(now - planner.start()) / 1e9 : 0;
      hooks.on_progress(p);
    }
  }
  waiter.join();
  planner_thread.join();
  int64_t end = now_ns();
  int64_t start = planner.started() ? planner.start() : end;
  int64_t warmup_end = start + static_cast<int64_t>(options.warmup * 1e9);

  Summary summary;
  for (size_t t = 0; t < options.targets.size(); ++t) {
    TargetStats merged;
    merged.name = options.targets[t].name;
    for (auto& w : workers) {
      auto& s = w->stats()[t];
      merged.sent += s.sent;
      merged.completed += s.completed;
      merged.warmup += s.warmup;
      for (auto& [k, v] : s.errors) merged.errors[k] += v;
      for (auto& [k, v] : s.statuses) merged.statuses[k] += v;
      merged.connections_opened += s.connections_opened;
      merged.connections_failed += s.connections_failed;
      merged.preconnected += s.preconnected;
      merged.response_bytes += s.response_bytes;
      merged.truncated_bodies += s.truncated_bodies;
      merged.held_by_order += s.held_by_order;
      merged.waited_for_connection += s.waited_for_connection;
      merged.overflow += s.overflow;
      merged.invalid_headers += s.invalid_headers;
      merged.latency.merge(s.latency);
      merged.service.merge(s.service);
      merged.send_lag.merge(s.send_lag);
    }
    summary.targets.push_back(std::move(merged));
  }
  workers.clear();
  summary.planned = planner.planned();
  summary.skipped_filtered = planner.skipped_filtered();
  summary.skipped_truncated = planner.skipped_truncated();
  summary.skipped_no_request = planner.skipped_no_request();
  summary.loops = planner.loops();
  summary.loops_from_memory = planner.loops_from_memory();
  summary.loop_cache_bytes = planner.cache_bytes();  // the planner's thread has ended
  summary.loop_prepared_bytes = planner.prepared_bytes();
  summary.input_damage = planner.damage();
  summary.record_stalls = shared.record_stalls.load();
  summary.elapsed = static_cast<double>(end - start) / 1e9;
  summary.duration_measured =
      std::max(0.0, static_cast<double>(end - std::max(start, warmup_end)) / 1e9);
  summary.interrupted = stop.load() && hooks.stop && hooks.stop->load();

  if (writer) {
    results->close();
    writer_thread.join();
    summary.recorded = recorded.load();
    if (!write_error.empty()) return fail(write_error);
    auto meta = options.extra_metadata;
    meta["replay"] = summary.to_json();
    if (auto r = writer->put_metadata(meta); !r) return tl::unexpected(r.error());
    if (auto r = writer->close(); !r) return tl::unexpected(r.error());
  }
  if (!planned_ok) return tl::unexpected(planned_ok.error());
  return summary;
}

}  // namespace twin::replay
