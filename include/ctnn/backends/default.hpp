// The backend Sequential uses when none is named: the fastest one compiled in.
#pragma once
#include "../backend.hpp"
#include "reference/all.hpp"

namespace ctnn {
using default_backend = reference;
}  // namespace ctnn
