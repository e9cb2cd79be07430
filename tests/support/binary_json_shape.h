#pragma once
// The shape of a MessagePack or CBOR document as nlohmann/json reads it (its own reader, apart
// from scrubber/src/msgpack_cbor.cc): containers with their sizes and the kinds of what they
// hold, not the values (the three number types are one kind: a replacement may change which).
// "" when nlohmann/json does not read the bytes as exactly one document.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace twin::test {

inline void binary_json_shape_of(const nlohmann::ordered_json& j, std::string& out) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::object:
      out += "{" + std::to_string(j.size());
      for (const auto& [k, v] : j.items()) binary_json_shape_of(v, out);
      out += "}";
      break;
    case T::array:
      out += "[" + std::to_string(j.size());
      for (const auto& v : j) binary_json_shape_of(v, out);
      out += "]";
      break;
    case T::string:
      out += 's';
      break;
    case T::binary:
      out += 'b';
      break;
    case T::boolean:
      out += 't';
      break;
    case T::null:
      out += 'z';
      break;
    default:
      out += 'n';
      break;
  }
}

// (nlohmann's reader is recursive with no depth cap: give it documents of bounded depth)
inline std::string binary_json_shape(bool cbor, std::string_view s) {
  using json = nlohmann::ordered_json;
  const json j =
      cbor ? json::from_cbor(s.begin(), s.end(), true, false, json::cbor_tag_handler_t::ignore)
           : json::from_msgpack(s.begin(), s.end(), true, false);
  if (j.is_discarded()) return {};
  std::string out;
  binary_json_shape_of(j, out);
  return out;
}

}  // namespace twin::test
