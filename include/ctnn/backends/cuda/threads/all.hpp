// The per-thread work of every CUDA kernel; plain C++ (see hd.hpp).
#pragma once
#include "activation.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "hd.hpp"
#include "linear.hpp"
#include "misc.hpp"
#include "pool.hpp"
#include "train.hpp"
