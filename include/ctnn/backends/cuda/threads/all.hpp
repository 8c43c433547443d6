// The per-thread work of every CUDA kernel; plain C++ (see hd.hpp).
#pragma once
#include "activation.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "conv_general.hpp"
#include "conv_transpose.hpp"
#include "hd.hpp"
#include "linear.hpp"
#include "misc.hpp"
#include "pool.hpp"
#include "squeeze_excite.hpp"
#include "train.hpp"
#include "upsample.hpp"
