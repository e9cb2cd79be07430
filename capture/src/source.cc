#include "source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace twin::capture {

namespace {

std::string describe(const std::string& name) { return name == "-" ? "(stdin)" : name; }

constexpr size_t kReadChunk = 4u << 20;
constexpr uint32_t kMaxRecord = 16u << 20;  // a record longer than this is damage, not a packet

uint32_t load32(const char* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

PcapSource::~PcapSource() {
  if (has_program_) pcap_freecode(&program_);
  if (pcap_ != nullptr) pcap_close(pcap_);
  if (fd_ >= 0) ::close(fd_);
}

Result<PcapSourcePtr> PcapSource::open_file(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  PcapSourcePtr s(new PcapSource());
  s->name_ = path;
  if (path != "-") {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(path + ": cannot open: " + std::strerror(errno));
    s->fd_ = fd;
    struct stat st {};
    char header[24];
    ssize_t got = 0;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) got = ::pread(fd, header, sizeof header, 0);
    uint32_t magic = 0;
    if (got == 24) std::memcpy(&magic, header, 4);
    bool nano = false;
    bool swapped = false;
    bool classic = true;
    switch (magic) {
      case 0xa1b2c3d4:
        break;
      case 0xd4c3b2a1:
        swapped = true;
        break;
      case 0xa1b23c4d:
        nano = true;
        break;
      case 0x4d3cb2a1:
        nano = swapped = true;
        break;
      default:
        classic = false;
    }
    uint16_t vmajor = 0;
    std::memcpy(&vmajor, header + 4, 2);
    if (swapped) vmajor = static_cast<uint16_t>(vmajor >> 8 | vmajor << 8);
    if (classic && vmajor == 2) {
      s->own_ = true;
      s->swapped_ = swapped;
      s->nano_ = nano;
      // The link type field's upper bits carry FCS information (pcap spec); the type is below.
      const uint32_t linktype = load32(header + 20, swapped) & 0x03ffffffu;
      // libpcap speaks DLT values; they equal the file's LINKTYPE values for every type we
      // decode but raw IP (LINKTYPE_RAW 101 is DLT_RAW).
      s->linktype_ = linktype == 101 ? DLT_RAW : static_cast<int>(linktype);
      s->pcap_ = pcap_open_dead_with_tstamp_precision(
          s->linktype_, 262144, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
      if (s->pcap_ == nullptr) return fail(path + ": out of memory");
      s->offset_ = 24;
      s->buf_.resize(kReadChunk);
      if (::lseek(fd, 24, SEEK_SET) != 24) return fail(path + ": cannot seek");
      return s;
    }
    ::close(fd);
    s->fd_ = -1;
  }
  s->pcap_ =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (s->pcap_ == nullptr) {
    return fail(describe(path) + ": cannot read as pcap or pcapng: " + errbuf);
  }
  s->nano_ = pcap_get_tstamp_precision(s->pcap_) == PCAP_TSTAMP_PRECISION_NANO;
  s->linktype_ = pcap_datalink(s->pcap_);
  // A classic pcap file starts with a 24-byte header and each record with 16 bytes; pcapng has
  // variable blocks, so only pcap files get exact offsets in error messages.
  s->pcapng_ = pcap_major_version(s->pcap_) != 2;
  s->offset_ = 24;
  return s;
}

Result<PcapSourcePtr> PcapSource::open_live(const std::string& interface,
                                            const LiveOptions& options) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  PcapSourcePtr s(new PcapSource());
  s->name_ = interface;
  s->live_ = true;
  s->pcap_ = pcap_create(interface.c_str(), errbuf);
  if (s->pcap_ == nullptr) return fail("interface " + interface + ": " + errbuf);
  pcap_set_snaplen(s->pcap_, options.snaplen);
  pcap_set_promisc(s->pcap_, 0);
  pcap_set_timeout(s->pcap_, options.timeout_ms);
  pcap_set_immediate_mode(s->pcap_, options.immediate ? 1 : 0);
  s->timeout_ms_ = options.timeout_ms;
  pcap_set_buffer_size(s->pcap_, static_cast<int>(std::min<size_t>(options.buffer_size, 1u << 30)));
  pcap_set_tstamp_precision(s->pcap_, PCAP_TSTAMP_PRECISION_NANO);  // best effort
  const int rc = pcap_activate(s->pcap_);
  if (rc < 0) {
    std::string why = pcap_geterr(s->pcap_);
    if (why.empty()) why = pcap_statustostr(rc);
    return fail("interface " + interface + ": cannot capture: " + why);
  }
  s->nano_ = pcap_get_tstamp_precision(s->pcap_) == PCAP_TSTAMP_PRECISION_NANO;
  s->linktype_ = pcap_datalink(s->pcap_);
  if (pcap_setnonblock(s->pcap_, 1, errbuf) != 0) {
    return fail("interface " + interface + ": cannot make non-blocking: " + errbuf);
  }
  return s;
}

Result<void> PcapSource::set_filter(const std::string& filter) {
  if (filter.empty()) return {};
  filtered_ = true;
  if (own_) {
    if (pcap_compile(pcap_, &program_, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return fail("filter '" + filter + "': " + pcap_geterr(pcap_));
    }
    has_program_ = true;
    return {};
  }
  bpf_program program{};
  if (pcap_compile(pcap_, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return fail("filter '" + filter + "': " + pcap_geterr(pcap_));
  }
  const int rc = pcap_setfilter(pcap_, &program);
  pcap_freecode(&program);
  if (rc != 0) return fail("filter '" + filter + "': " + pcap_geterr(pcap_));
  return {};
}

bool PcapSource::fill(size_t need) {
  if (tail_ - head_ >= need) return true;
  if (head_ > 0) {
    std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
  }
  if (buf_.size() < need) buf_.resize(need);
  while (tail_ < need && !eof_) {
    const ssize_t n = ::read(fd_, buf_.data() + tail_, buf_.size() - tail_);
    if (n < 0) {
      if (errno == EINTR) continue;
      eof_ = true;
      error_ = describe(name_) + ": " + where() + ": read error: " + std::strerror(errno);
      return false;
    }
    if (n == 0) eof_ = true;
    tail_ += static_cast<size_t>(n);
  }
  return tail_ - head_ >= need;
}

std::string PcapSource::where() const {
  return "after packet " + std::to_string(packets_) + " (offset " + std::to_string(offset_) + ")";
}

PcapSource::Next PcapSource::next_own(RawPacket& packet) {
  for (;;) {
    if (!fill(16)) {
      if (!error_.empty()) return Next::kError;
      if (tail_ == head_) return Next::kEnd;
      error_ = describe(name_) + ": " + where() +
               ": truncated dump file; tried to read 16 header bytes, only got " +
               std::to_string(tail_ - head_);
      return Next::kError;
    }
    const char* h = buf_.data() + head_;
    const uint32_t sec = load32(h, swapped_);
    const uint32_t frac = load32(h + 4, swapped_);
    const uint32_t caplen = load32(h + 8, swapped_);
    const uint32_t len = load32(h + 12, swapped_);
    if (caplen > kMaxRecord) {
      error_ = describe(name_) + ": " + where() + ": invalid packet capture length " +
               std::to_string(caplen) + ", bigger than the maximum of " +
               std::to_string(kMaxRecord);
      return Next::kError;
    }
    if (!fill(16 + static_cast<size_t>(caplen))) {
      if (!error_.empty()) return Next::kError;
      error_ = describe(name_) + ": " + where() + ": truncated dump file; tried to read " +
               std::to_string(caplen) + " captured bytes, only got " +
               std::to_string(tail_ - head_ - 16);
      return Next::kError;
    }
    const auto* data = reinterpret_cast<const uint8_t*>(buf_.data() + head_ + 16);
    head_ += 16 + caplen;
    offset_ += 16 + caplen;
    ++packets_;  // records, filtered or not: error messages count records
    if (has_program_) {
      pcap_pkthdr ph{};
      ph.caplen = caplen;
      ph.len = len;
      if (pcap_offline_filter(&program_, &ph, data) == 0) continue;
    }
    packet.data = data;
    packet.caplen = caplen;
    packet.wirelen = len;
    packet.time = static_cast<int64_t>(sec) * 1'000'000'000 +
                  (nano_ ? static_cast<int64_t>(frac) : static_cast<int64_t>(frac) * 1000);
    return Next::kPacket;
  }
}

PcapSource::Next PcapSource::next(RawPacket& packet) {
  if (own_) return next_own(packet);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_, &header, &data);
  if (rc == 1) {
    ++packets_;
    offset_ += 16 + header->caplen;
    packet.data = data;
    packet.caplen = header->caplen;
    packet.wirelen = header->len;
    const int64_t sub =
        nano_ ? header->ts.tv_usec : static_cast<int64_t>(header->ts.tv_usec) * 1000;
    packet.time = static_cast<int64_t>(header->ts.tv_sec) * 1'000'000'000 + sub;
    return Next::kPacket;
  }
  if (rc == 0) {
    // Live and non-blocking: nothing now. Wait for the descriptor (a signal ends the wait).
    const int fd = pcap_get_selectable_fd(pcap_);
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, timeout_ms_);
    }
    return Next::kTimeout;
  }
  if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
  // A read error: say where. Unfiltered classic pcap: the offset of the record that failed,
  // computed; otherwise (pcapng, or a filter skipped records) the stream position, if any.
  std::string where = "after packet " + std::to_string(packets_);
  if (!live_) {
    long pos = -1;
    if (!pcapng_ && !filtered_) {
      pos = static_cast<long>(offset_);
    } else if (FILE* f = pcap_file(pcap_); f != nullptr) {
      pos = std::ftell(f);
    }
    if (pos >= 0) where += " (offset " + std::to_string(pos) + ")";
  }
  error_ =
      (live_ ? "interface " + name_ : describe(name_)) + ": " + where + ": " + pcap_geterr(pcap_);
  return Next::kError;
}

PcapSource::Stats PcapSource::stats() {
  if (!live_) return totals_;
  pcap_stat st{};
  if (pcap_stats(pcap_, &st) != 0) return totals_;
  // 32-bit counters: add the difference modulo 2^32.
  totals_.received += static_cast<unsigned>(st.ps_recv - last_recv_);
  totals_.dropped += static_cast<unsigned>(st.ps_drop - last_drop_);
  totals_.interface_dropped += static_cast<unsigned>(st.ps_ifdrop - last_ifdrop_);
  last_recv_ = st.ps_recv;
  last_drop_ = st.ps_drop;
  last_ifdrop_ = st.ps_ifdrop;
  return totals_;
}

}  // namespace twin::capture
