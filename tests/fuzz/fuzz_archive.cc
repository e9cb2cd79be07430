// Fuzz target: arbitrary bytes as a .twin file. The reader must never crash, never read out of
// bounds, and never allocate beyond its block limit; it either refuses the file at open or
// reads what it can and reports damage.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "twin/traffic/archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz.twin", 0);
  if (fd < 0) return 0;
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  twin::traffic::ReaderOptions options;
  options.max_block_size = 4u << 20;
  auto reader = twin::traffic::Reader::open(path, options);
  if (reader) {
    twin::traffic::Exchange e;
    for (int i = 0; i < 100000; ++i) {
      auto more = (*reader)->next(e);
      if (!more || !*more) break;
    }
    (void)(*reader)->final_metadata();
    (void)(*reader)->seek_time(0);
  }
  close(fd);
  return 0;
}
