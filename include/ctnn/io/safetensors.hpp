// Weights in and out: the safetensors format, with PyTorch's nn.Sequential state_dict names, and
// transfer of a trained trunk. One header per concern:
//   safetensors/format.hpp    reading and validating a file (safetensors::file)
//   safetensors/encode.hpp    writing named tensors (safetensors::encode, safetensors::save)
//   safetensors/describe.hpp  the net's description in "__metadata__"
//   safetensors/net.hpp       load_safetensors / save_safetensors for a net
//   transfer.hpp              copy_layers<Count>(trained, fresh)
//   atomic_file.hpp           the atomic writer every file ctnn writes goes through
#pragma once
#include "safetensors/describe.hpp"
#include "safetensors/encode.hpp"
#include "safetensors/format.hpp"
#include "safetensors/net.hpp"
#include "transfer.hpp"
