#include "twin/scrubber/kind.h"

#include <array>

namespace twin::scrubber {
namespace {
constexpr std::array<std::string_view, kKindCount> kNames = {
    "none",   "email",  "card", "phone", "ssn",  "iban",    "ipv4", "ipv6",  "jwt",
    "bearer", "secret", "uuid", "dob",   "name", "address", "geo",  "custom"};
}  // namespace

std::string_view to_string(Kind kind) {
  auto i = static_cast<size_t>(kind);
  return i < kNames.size() ? kNames[i] : "none";
}

std::optional<Kind> parse_kind(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

}  // namespace twin::scrubber
