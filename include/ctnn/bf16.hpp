// bf16 inference: ctnn::bf16_net<Net> (a trained net converted, run, saved and loaded) and the
// cpu_bf16 / reference_bf16 backends it runs on. See docs/deploy.md, "bf16 inference".
#pragma once
#include "backends/bf16/all.hpp"
#include "bf16/net.hpp"
#include "bf16/safetensors.hpp"
