// int8 inference: ctnn::quantize(net, images, n[, calibrate::percentile{p}]) -> int8_net<Net>
// (quant/int8_net.hpp; kernels in backends/int8/; docs/deploy.md, "int8 inference").
#pragma once
#include "quant/int8_net.hpp"
#include "quant/io.hpp"
