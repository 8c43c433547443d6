// Every reference kernel.
#pragma once
#include "activations.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "linear.hpp"
#include "pooling.hpp"
#include "shape_ops.hpp"
