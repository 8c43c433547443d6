// ctnn: a neural network is a type. Include this one header.
#pragma once
// First, so compilers name it include/ctnn/diagnostics.hpp in a shape error, not by a
// ../../layers/.. path through the headers that reach it first.
#include "diagnostics.hpp"

#include "backend.hpp"
#include "error.hpp"
#include "layer.hpp"
#include "layers/avgpool.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/frozen.hpp"
#include "layers/global_avg_pool.hpp"
#include "layers/input.hpp"
#include "layers/leaky_relu.hpp"
#include "layers/linear.hpp"
#include "layers/maxpool.hpp"
#include "layers/relu.hpp"
#include "layers/sigmoid.hpp"
#include "layers/softmax.hpp"
#include "layers/tanh.hpp"
// after the layers, so a layer's own error names it by include/ctnn/layers/<file>
#include "backends/default.hpp"
#include "random.hpp"
#include "sequential.hpp"
#include "shape.hpp"
