#pragma once
// Protocol Buffers' wire format (protobuf.dev/programming-guides/encoding) and what a service's
// schema says of its messages, read from a FileDescriptorSet: shared by the scrubber, which
// rewrites messages field by field, and the comparator, which compares them so. libprotobuf
// would need generated code, or its descriptor pool and dynamic messages, for what is a few
// dozen lines of varints here; the readers are written here, and small.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace twin::traffic {

/// A varint at `at` (moved past it); false past the end or past 64 bits.
bool read_varint(std::string_view in, size_t& at, uint64_t& value);
void put_varint(uint64_t value, std::string& out);

/// One field of a message: its number and wire type, and where its bytes are.
struct WireField {
  uint32_t number = 0;
  uint8_t wire = 0;
  size_t length_at = 0;  // where a length-delimited field's length begins (after the tag)
  size_t value_at = 0;   // where its bytes begin
  size_t end = 0;
};

/// Reads the field at `at` and moves past it. False when the bytes there are not a field: a
/// bad tag, field number 0 or past 2^29 - 1, a group (wire types 3 and 4, long deprecated) or
/// the wire types 6 and 7 that do not exist, or a value that runs past the end.
bool next_field(std::string_view in, size_t& at, WireField& f);

/// Calls fn(field, its varint value, its length-delimited bytes) for each field of `in`; false when
/// `in` does not parse.
template <typename Fn>
bool each_field(std::string_view in, Fn&& fn) {
  size_t at = 0;
  WireField f;
  while (at < in.size()) {
    if (!next_field(in, at, f)) return false;
    uint64_t value = 0;
    if (f.wire == 0) {
      size_t v = f.length_at;
      read_varint(in, v, value);
    }
    fn(f, value, f.wire == 2 ? in.substr(f.value_at, f.end - f.value_at) : std::string_view());
  }
  return true;
}

/// What a schema says of the messages of a service: read from a FileDescriptorSet, which
/// `protoc --descriptor_set_out=FILE --include_imports` writes (descriptor.proto's
/// FileDescriptorSet, FileDescriptorProto, DescriptorProto, FieldDescriptorProto,
/// ServiceDescriptorProto, MethodDescriptorProto: the fields read are those, by number).
/// With it a message's fields are named (user.addresses[].street), so key names and rules by
/// name reach them, and a string is known from a nested message without a guess.
class ProtobufSchema {
 public:
  struct FieldType {
    std::string name;
    uint8_t type = 0;  // FieldDescriptorProto.Type: 9 string, 11 message, 12 bytes, …
    bool repeated = false;
    int message = -1;  // a message field's type: an index into messages()
  };
  struct MessageType {
    std::string full_name;                               // "shop.v1.User"
    std::vector<std::pair<uint32_t, FieldType>> fields;  // sorted by number
    /// A map field's entry (MessageOptions.map_entry): `map<K, V> m = 4` is the repeated
    /// message field 4 of entries {1: key, 2: value}, in any order on the wire.
    bool map_entry = false;
    const FieldType* field(uint32_t number) const;
  };
  static constexpr uint8_t kDouble = 1;
  static constexpr uint8_t kFloat = 2;
  static constexpr uint8_t kInt64 = 3;
  static constexpr uint8_t kUint64 = 4;
  static constexpr uint8_t kInt32 = 5;
  static constexpr uint8_t kFixed64 = 6;
  static constexpr uint8_t kFixed32 = 7;
  static constexpr uint8_t kString = 9;
  static constexpr uint8_t kMessage = 11;
  static constexpr uint8_t kBytes = 12;
  static constexpr uint8_t kUint32 = 13;
  static constexpr uint8_t kSfixed32 = 15;
  static constexpr uint8_t kSfixed64 = 16;
  static constexpr uint8_t kSint32 = 17;
  static constexpr uint8_t kSint64 = 18;

  /// Adds the messages and services of a FileDescriptorSet. On failure (not a descriptor set,
  /// a field of a type it does not define) the message says what and where, and nothing of
  /// this set was added.
  bool add(std::string_view descriptor_set, std::string& error);
  /// add() for the FileDescriptorSet in the file at `path`, whose bytes are left in `bytes`; on
  /// failure `error` says what went wrong (cannot open or read it, or why it is not a
  /// descriptor set), without the file's name.
  bool add_file(const std::string& path, std::string& bytes, std::string& error);
  /// The message called `full_name` ("shop.v1.User", or ".shop.v1.User"), or nullptr.
  const MessageType* message(std::string_view full_name) const;
  /// The input and output messages of the method a gRPC or Connect request path names
  /// ("/shop.v1.Users/Get", a query after it ignored); nullptr for a method not in the schema.
  std::pair<const MessageType*, const MessageType*> method(std::string_view path) const;
  const std::vector<MessageType>& messages() const { return messages_; }
  bool empty() const { return messages_.empty(); }

 private:
  std::vector<MessageType> messages_;
  std::vector<std::pair<std::string, int>> by_name_;  // sorted: full name, index
  // "shop.v1.Users/Get" → input, output message indexes (sorted by path)
  std::vector<std::pair<std::string, std::pair<int, int>>> methods_;
  // message fields to resolve again when more messages come: (message, number, type name)
  std::vector<std::tuple<size_t, uint32_t, std::string>> pending_;
};

}  // namespace twin::traffic
