// ctnn::error — the one exception type every run-time failure in ctnn throws.
#pragma once
#include <stdexcept>
#include <string>

namespace ctnn {

/// Thrown for every run-time failure: bad files, bad labels, non-finite losses, bad arguments.
/// The message names the file (when there is one) and the problem.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace ctnn
