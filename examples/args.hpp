// Command-line numbers for the examples: a malformed argument is a ctnn::error naming it.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>

#include <ctnn/error.hpp>

namespace examples {

/// s as a positive integer; `what` names the argument in the error.
inline std::size_t positive_arg(const char* s, const char* what) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (!end || *end || v <= 0 || errno == ERANGE)  // ERANGE: too large for a long, not LONG_MAX
        throw ctnn::error(std::string(what) + " must be a positive integer that fits in a long, got '" + s + "'");
    return static_cast<std::size_t>(v);
}

}  // namespace examples
