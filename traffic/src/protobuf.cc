// Protocol Buffers' wire format and FileDescriptorSets (twin/traffic/protobuf.h).

#include "twin/traffic/protobuf.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace twin::traffic {

bool read_varint(std::string_view in, size_t& at, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= in.size()) return false;
    const auto b = static_cast<uint8_t>(in[at++]);
    if (shift == 63 && b > 1) return false;  // past 64 bits
    value |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

void put_varint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

bool next_field(std::string_view in, size_t& at, WireField& f) {
  uint64_t tag = 0;
  if (!read_varint(in, at, tag)) return false;
  const uint64_t number = tag >> 3;
  if (number == 0 || number > (uint64_t{1} << 29) - 1) return false;
  f.number = static_cast<uint32_t>(number);
  f.wire = static_cast<uint8_t>(tag & 7);
  f.length_at = at;
  switch (f.wire) {
    case 0: {
      uint64_t v = 0;
      if (!read_varint(in, at, v)) return false;
      break;
    }
    case 1:
      if (in.size() - at < 8) return false;
      at += 8;
      break;
    case 5:
      if (in.size() - at < 4) return false;
      at += 4;
      break;
    case 2: {
      uint64_t length = 0;
      if (!read_varint(in, at, length) || length > in.size() - at) return false;
      f.value_at = at;
      at += static_cast<size_t>(length);
      break;
    }
    default:
      return false;
  }
  f.end = at;
  return true;
}

namespace {

// A name from a descriptor set for a message: printable ASCII, at most 64 bytes.
std::string printable(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (name.size() > 64) out += "...";
  return out;
}

struct RawField {
  uint32_t number = 0;
  ProtobufSchema::FieldType type;
  std::string type_name;  // a message field's, as written (".shop.v1.Address")
};
struct RawMessage {
  std::string full_name;
  bool map_entry = false;
  std::vector<RawField> fields;
};

// A DescriptorProto (and the ones nested in it) in `scope`.
bool read_message(std::string_view d, const std::string& scope, int depth,
                  std::vector<RawMessage>& out, std::string& error) {
  if (depth > 32) {
    error = "messages nested more than 32 deep";
    return false;
  }
  RawMessage m;
  std::vector<std::string_view> fields, nested, options;
  std::string name;
  if (!each_field(d, [&](const WireField& f, uint64_t, std::string_view bytes) {
        if (f.wire != 2) return;
        if (f.number == 1) name.assign(bytes);
        if (f.number == 2) fields.push_back(bytes);
        if (f.number == 3) nested.push_back(bytes);
        if (f.number == 7) options.push_back(bytes);  // MessageOptions
      })) {
    error = "a message descriptor does not parse";
    return false;
  }
  m.full_name = scope.empty() ? name : scope + "." + name;
  for (std::string_view o : options) {
    if (!each_field(o, [&](const WireField& f, uint64_t value, std::string_view) {
          if (f.number == 7 && f.wire == 0) m.map_entry = value != 0;  // map_entry
        })) {
      error = "the options of " + printable(m.full_name) + " do not parse";
      return false;
    }
  }
  for (std::string_view fd : fields) {
    RawField rf;
    bool has_number = false;
    if (!each_field(fd,
                    [&](const WireField& f, uint64_t value, std::string_view bytes) {
                      if (f.number == 1 && f.wire == 2) rf.type.name.assign(bytes);
                      if (f.number == 3 && f.wire == 0) {
                        rf.number = static_cast<uint32_t>(value);
                        has_number = true;
                      }
                      if (f.number == 4 && f.wire == 0) rf.type.repeated = value == 3;
                      if (f.number == 5 && f.wire == 0) rf.type.type = static_cast<uint8_t>(value);
                      if (f.number == 6 && f.wire == 2) rf.type_name.assign(bytes);
                    }) ||
        !has_number || rf.type.name.empty()) {
      error = "a field of " + printable(m.full_name) + " does not parse";
      return false;
    }
    m.fields.push_back(std::move(rf));
  }
  const std::string full = m.full_name;
  out.push_back(std::move(m));
  for (std::string_view n : nested) {
    if (!read_message(n, full, depth + 1, out, error)) return false;
  }
  return true;
}

}  // namespace

// ---- schema

const ProtobufSchema::FieldType* ProtobufSchema::MessageType::field(uint32_t number) const {
  auto it = std::lower_bound(fields.begin(), fields.end(), number,
                             [](const auto& f, uint32_t n) { return f.first < n; });
  return it != fields.end() && it->first == number ? &it->second : nullptr;
}

bool ProtobufSchema::add(std::string_view descriptor_set, std::string& error) {
  std::vector<std::string_view> files;
  if (!each_field(descriptor_set, [&](const WireField& f, uint64_t, std::string_view bytes) {
        if (f.number == 1 && f.wire == 2) files.push_back(bytes);
      })) {
    error = "not a FileDescriptorSet (protoc --descriptor_set_out): it does not parse";
    return false;
  }
  if (files.empty()) {
    error = "not a FileDescriptorSet (protoc --descriptor_set_out): no file in it";
    return false;
  }
  std::vector<RawMessage> raw;
  // (full method path, input type name, output type name)
  std::vector<std::tuple<std::string, std::string, std::string>> methods;
  for (std::string_view file : files) {
    std::string package;
    std::vector<std::string_view> message_types, services;
    if (!each_field(file, [&](const WireField& f, uint64_t, std::string_view bytes) {
          if (f.wire != 2) return;
          if (f.number == 2) package.assign(bytes);
          if (f.number == 4) message_types.push_back(bytes);
          if (f.number == 6) services.push_back(bytes);
        })) {
      error = "a file descriptor does not parse";
      return false;
    }
    for (std::string_view m : message_types) {
      if (!read_message(m, package, 0, raw, error)) return false;
    }
    for (std::string_view service : services) {
      std::string name;
      std::vector<std::string_view> ms;
      if (!each_field(service, [&](const WireField& f, uint64_t, std::string_view bytes) {
            if (f.wire != 2) return;
            if (f.number == 1) name.assign(bytes);
            if (f.number == 2) ms.push_back(bytes);
          })) {
        error = "a service descriptor does not parse";
        return false;
      }
      for (std::string_view md : ms) {
        std::string method, in, out;
        if (!each_field(md, [&](const WireField& f, uint64_t, std::string_view bytes) {
              if (f.wire != 2) return;
              if (f.number == 1) method.assign(bytes);
              if (f.number == 2) in.assign(bytes);
              if (f.number == 3) out.assign(bytes);
            })) {
          error = "a method descriptor of " + printable(name) + " does not parse";
          return false;
        }
        methods.emplace_back((package.empty() ? "" : package + ".") + name + "/" + method, in, out);
      }
    }
  }
  // Add, then resolve every message field's type by name, over everything added so far.
  const size_t first = messages_.size();
  for (RawMessage& m : raw) {
    MessageType t;
    t.full_name = std::move(m.full_name);
    t.map_entry = m.map_entry;
    for (RawField& f : m.fields) {
      f.type.message = -1;
      t.fields.emplace_back(f.number, std::move(f.type));
    }
    std::stable_sort(t.fields.begin(), t.fields.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    messages_.push_back(std::move(t));
  }
  for (size_t i = first; i < messages_.size(); ++i) {
    by_name_.emplace_back(messages_[i].full_name, static_cast<int>(i));
  }
  std::sort(by_name_.begin(), by_name_.end());
  pending_.reserve(pending_.size() + raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    for (const RawField& f : raw[i].fields) {
      if (!f.type_name.empty()) pending_.emplace_back(first + i, f.number, f.type_name);
    }
  }
  for (const auto& [index, number, name] : pending_) {
    auto& fields = messages_[index].fields;
    for (auto& [n, field] : fields) {
      if (n != number || field.type != kMessage) continue;
      const MessageType* m = message(name);
      field.message = m ? static_cast<int>(m - messages_.data()) : -1;
    }
  }
  for (auto& [path, in, out] : methods) {
    const MessageType* a = message(in);
    const MessageType* b = message(out);
    methods_.emplace_back(std::move(path),
                          std::pair{a ? static_cast<int>(a - messages_.data()) : -1,
                                    b ? static_cast<int>(b - messages_.data()) : -1});
  }
  std::sort(methods_.begin(), methods_.end());
  return true;
}

bool ProtobufSchema::add_file(const std::string& path, std::string& bytes, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open the descriptor set";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = "cannot read the descriptor set";
    return false;
  }
  bytes = std::move(text).str();
  return add(bytes, error);
}

const ProtobufSchema::MessageType* ProtobufSchema::message(std::string_view full_name) const {
  if (!full_name.empty() && full_name[0] == '.') full_name.remove_prefix(1);
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), full_name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  return it != by_name_.end() && it->first == full_name ? &messages_[size_t(it->second)] : nullptr;
}

std::pair<const ProtobufSchema::MessageType*, const ProtobufSchema::MessageType*>
ProtobufSchema::method(std::string_view path) const {
  path = path.substr(0, path.find('?'));
  if (path.empty() || path[0] != '/') return {nullptr, nullptr};
  path.remove_prefix(1);
  auto it = std::lower_bound(methods_.begin(), methods_.end(), path,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it == methods_.end() || it->first != path) return {nullptr, nullptr};
  auto at = [&](int i) { return i >= 0 ? &messages_[size_t(i)] : nullptr; };
  return {at(it->second.first), at(it->second.second)};
}

}  // namespace twin::traffic
