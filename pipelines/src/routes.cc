#include "routes.h"

#include <algorithm>
#include <cctype>

namespace twin::cli {
namespace {

bool is_identifier(std::string_view seg) {
  if (seg.empty()) return false;
  auto all = [&](auto pred) {
    return std::all_of(seg.begin(), seg.end(),
                       [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  if (all([](unsigned char c) { return std::isdigit(c) != 0; })) return true;
  if (seg.size() >= 16 && all([](unsigned char c) { return std::isxdigit(c) != 0 || c == '-'; })) {
    return true;  // UUIDs and long hex ids
  }
  return seg.find('@') != std::string_view::npos;
}

}  // namespace

std::string route_key(std::string_view method, std::string_view target) {
  std::string out(method);
  out += ' ';
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') {
    out += target.empty() ? "/" : "{absolute}";
    return out;
  }
  size_t pos = 0;
  while (pos < target.size()) {
    size_t next = target.find('/', pos + 1);
    if (next == std::string_view::npos) next = target.size();
    std::string_view seg = target.substr(pos + 1, next - pos - 1);
    out += '/';
    out += is_identifier(seg) ? std::string_view("{id}") : seg;
    pos = next;
  }
  return out;
}

}  // namespace twin::cli
