// Softmax: over the features of a flat shape, or over the channels at each pixel of a C×H×W map;
// PyTorch's nn.Softmax(dim=1). For training a classifier use logits with ctnn::CrossEntropy
// instead (it fuses a numerically stable log-softmax).
#pragma once
#include <string>

#include "../layer.hpp"

namespace ctnn {

struct Softmax : layer_base {
    static constexpr std::string_view kind = "Softmax";
    static std::string name() { return "Softmax"; }
    static constexpr hparam_list hparams() { return {{"dim", 1}}; }
};

}  // namespace ctnn
