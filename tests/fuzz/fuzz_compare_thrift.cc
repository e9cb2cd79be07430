// Fuzz target for the comparator's reading of Apache Thrift bodies (compare/src/tape_thrift.cc
// over twin/traffic/thrift.h's walk, through ResponseDiffer in compare/src/diff.cc): bytes a
// target sent back, untrusted. The input is
//   byte 0     options: bit 0 the compact protocol (else binary), bit 1 a tiny max_depth, bit 2 a
//              tiny max_paths, bit 3 the second body unlabelled (read in the first one's
//              protocol), bit 4 both labelled application/x-thrift (binary, else compact)
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Properties:
//   - a response never differs from itself; the paths are sorted, distinct and start with '$';
//     one way's paths are empty only when the other way's are;
//   - where the walk reads both bodies and Apache Thrift's own C++ library (libthrift) reads
//     them too, the same way and to their last byte, the paths are those of compare_ref.h's
//     differ over the values libthrift read, mapped as tape.h documents (fields by id, sets in
//     any order, maps by key or as [key, value] pairs in any order).
// libthrift reads with string and container limits of the body's size, so that bytes it reads
// otherwise than the walk cannot make it allocate gigabytes.
//
// Run with -DTWIN_FUZZ=ON (clang); new inputs go to the first directory:
//   build-fuzz/bin/fuzz_compare_thrift -max_len=4096 /tmp/ct-corpus
//       tests/fuzz/corpus/compare_thrift
// then merge into the checked-in corpus (-merge=1), which ctest replays.

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "compare_ref.h"
#include "twin/compare/diff.h"
#include "twin/traffic/thrift.h"

namespace {

using apache::thrift::protocol::TProtocol;
using apache::thrift::protocol::TType;
using apache::thrift::transport::TMemoryBuffer;
using compare_ref::Ref;
using compare_ref::response;
using twin::traffic::ThriftProtocol;
using twin::traffic::ThriftReading;
using namespace apache::thrift::protocol;  // T_STRUCT, …

// How the walk reads `body` in `protocol` (kAny: it does not).
ThriftReading reading_of(const std::string& body, ThriftProtocol protocol) {
  twin::traffic::ThriftHandler none;
  return twin::traffic::walk_thrift(body, protocol, none).reading;
}

Ref number(std::string text, bool integer) {
  Ref r;
  r.kind = Ref::kNumber;
  r.text = std::move(text);
  r.integer = integer;
  r.typed = true;
  return r;
}

// A double's text as the tape writes it: the shortest that reads back, every NaN "nan".
std::string double_text(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, std::isnan(d) ? std::nan("") : d);
  return std::string(buf, r.ptr);
}

class RefReader {
 public:
  RefReader(TProtocol& p, bool compact) : p_(p), compact_(compact) {}

  Ref value(TType t) {
    Ref r;
    switch (t) {
      case T_BOOL: {
        bool v = false;
        p_.readBool(v);
        r.kind = v ? Ref::kTrue : Ref::kFalse;
        return r;
      }
      case T_BYTE: {
        int8_t v = 0;
        p_.readByte(v);
        return number(std::to_string(v), true);
      }
      case T_I16: {
        int16_t v = 0;
        p_.readI16(v);
        return number(std::to_string(v), true);
      }
      case T_I32: {
        int32_t v = 0;
        p_.readI32(v);
        return number(std::to_string(v), true);
      }
      case T_I64: {
        int64_t v = 0;
        p_.readI64(v);
        return number(std::to_string(v), true);
      }
      case T_DOUBLE: {
        double v = 0;
        p_.readDouble(v);
        return number(double_text(v), false);
      }
      case T_STRING: {
        r.kind = Ref::kString;
        p_.readBinary(r.text);
        return r;
      }
      case T_STRUCT: {
        r.kind = Ref::kObject;
        r.names = true;
        std::string name;
        p_.readStructBegin(name);
        for (;;) {
          TType ft;
          int16_t id = 0;
          p_.readFieldBegin(name, ft, id);
          if (ft == T_STOP) break;
          r.keys.push_back(std::to_string(id));
          r.items.push_back(value(ft));
          p_.readFieldEnd();
        }
        p_.readStructEnd();
        return r;
      }
      case T_LIST:
      case T_SET: {
        r.kind = Ref::kArray;
        r.any_order = t == T_SET;
        TType et;
        uint32_t n = 0;
        if (t == T_LIST) {
          p_.readListBegin(et, n);
        } else {
          p_.readSetBegin(et, n);
        }
        for (uint32_t i = 0; i < n; ++i) r.items.push_back(value(et));
        if (t == T_LIST) {
          p_.readListEnd();
        } else {
          p_.readSetEnd();
        }
        return r;
      }
      case T_MAP: {
        TType kt, vt;
        uint32_t n = 0;
        p_.readMapBegin(kt, vt, n);
        const bool by_key = (compact_ && n == 0) || kt == T_STRING || kt == T_BOOL ||
                            kt == T_BYTE || kt == T_I16 || kt == T_I32 || kt == T_I64 ||
                            kt == T_DOUBLE;
        r.kind = by_key ? Ref::kObject : Ref::kArray;
        r.any_order = !by_key;
        for (uint32_t i = 0; i < n; ++i) {
          Ref k = value(kt);
          Ref v = value(vt);
          if (by_key) {
            r.keys.push_back(k.kind == Ref::kTrue    ? "true"
                             : k.kind == Ref::kFalse ? "false"
                                                     : k.text);
            r.items.push_back(std::move(v));
          } else {
            Ref pair;
            pair.kind = Ref::kArray;
            pair.items.push_back(std::move(k));
            pair.items.push_back(std::move(v));
            r.items.push_back(std::move(pair));
          }
        }
        p_.readMapEnd();
        return r;
      }
      default:
        throw apache::thrift::protocol::TProtocolException("a type the tape does not read");
    }
  }

 private:
  TProtocol& p_;
  bool compact_;
};

// `body` read by libthrift as the walk read it; false when libthrift does not read it whole.
bool read_ref(const std::string& body, ThriftProtocol protocol, ThriftReading reading, Ref& out) {
  auto buf =
      std::make_shared<TMemoryBuffer>(reinterpret_cast<uint8_t*>(const_cast<char*>(body.data())),
                                      static_cast<uint32_t>(body.size()), TMemoryBuffer::OBSERVE);
  const auto limit = static_cast<int32_t>(body.size());
  std::unique_ptr<TProtocol> p;
  const bool compact = protocol == ThriftProtocol::kCompact;
  if (compact) {
    p = std::make_unique<TCompactProtocolT<TMemoryBuffer>>(buf, limit, limit);
  } else {
    p = std::make_unique<TBinaryProtocolT<TMemoryBuffer>>(buf, limit, limit, false, true);
  }
  try {
    RefReader reader(*p, compact);
    if (reading == ThriftReading::kMessage || reading == ThriftReading::kOldMessage) {
      std::string name;
      TMessageType type;
      int32_t seq = 0;
      p->readMessageBegin(name, type, seq);
    }
    out = reader.value(reading == ThriftReading::kList ? T_LIST : T_STRUCT);
  } catch (const apache::thrift::TException&) {
    return false;
  }
  return buf->available_read() == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  compare_ref::Input in;
  if (!compare_ref::split_input(data, size, in)) return 0;
  const uint8_t opt = in.opt;
  const bool compact = opt & 1;
  const bool either = opt & 16;
  twin::compare::DiffOptions options;
  if (opt & 2) options.max_depth = 2;
  if (opt & 4) options.max_paths = 2;
  const char* type = either    ? "application/x-thrift"
                     : compact ? "application/vnd.apache.thrift.compact"
                               : "application/vnd.apache.thrift.binary";
  twin::compare::ResponseDiffer differ(options);
  const auto a = response(in.first, type, 1);
  const auto b = response(in.second, (opt & 8) ? nullptr : type, 2);
  std::vector<std::string> ab;
  const bool whole = compare_ref::basic(differ, a, b, ab);

  // The protocol each body is read in: the one its type names; application/x-thrift, binary
  // when it reads so, else compact.
  const auto read = [&](const std::string& body, Ref& ref) {
    ThriftProtocol protocol = compact ? ThriftProtocol::kCompact : ThriftProtocol::kBinary;
    ThriftReading reading = reading_of(body, protocol);
    if (either) {
      protocol = ThriftProtocol::kBinary;
      reading = reading_of(body, protocol);
      if (reading == ThriftReading::kAny) {
        protocol = ThriftProtocol::kCompact;
        reading = reading_of(body, protocol);
      }
    }
    return reading != ThriftReading::kAny && read_ref(body, protocol, reading, ref);
  };
  Ref x, y;
  if (read(a.body, x) && read(b.body, y)) {
    std::set<std::string> want;
    if (a.body != b.body) {
      compare_ref::ref_compare(x, y, "$", 0, std::min<size_t>(options.max_depth, 1000), want);
    }
    compare_ref::check_paths(want, ab, whole, options);
  }
  return 0;
}
