#pragma once
// Errors on the data path are values: Result<T> over tl::expected (DESIGN.md).

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace twin {

/// A failure with a one-line message that names the file and the place, ready to print.
struct Error {
  std::string message;
};

template <typename T>
using Result = tl::expected<T, Error>;

/// Shorthand for returning a failure: `return fail("x.twin: offset 12: bad magic");`
inline tl::unexpected<Error> fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace twin
