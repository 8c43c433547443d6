// ctnn I/O: weights in and out (safetensors, PyTorch state_dict names) and trunk transfer.
// Not part of ctnn.hpp, so nets that never touch files do not pay for nlohmann-json.
#pragma once
#include "ctnn.hpp"
#include "io/safetensors.hpp"
