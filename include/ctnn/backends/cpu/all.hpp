// Every cpu kernel. Layers without one (LeakyReLU, Sigmoid, Tanh, AvgPool, GlobalAvgPool,
// BatchNorm, Dropout, Flatten, Softmax, strided Conv) run their reference kernel.
#pragma once
#include "activations.hpp"
#include "elementwise.hpp"
#include "conv.hpp"
#include "linear.hpp"
#include "pooling.hpp"
#include "tag.hpp"
