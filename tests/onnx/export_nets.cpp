// Saves each net of export_nets.hpp with ctnn::save_onnx: DIR/NAME.onnx, and DIR/NAME.io.safetensors
// with "x" (4 random inputs) and "y" (ctnn's outputs for them), which tests/onnx/check_export.py
// compares with onnxruntime's. BatchNorm running statistics are made random first, so that no
// BatchNorm is the identity.
//   export_nets DIR
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <ctnn/io.hpp>
#include <ctnn/io/onnx.hpp>

#include "export_nets.hpp"

template <class Net>
void save(const std::string& dir, const char* name) {
    auto net = std::make_unique<Net>(16);
    std::mt19937 g(16);
    std::uniform_real_distribution<float> mean(-0.2f, 0.2f), var(0.5f, 1.5f);
    net->for_each_tensor([&](const std::string& n, const ctnn::tensor_desc& d, float* p, ctnn::tensor_kind) {
        for (std::size_t i = 0; i < d.size(); ++i) {
            if (n.ends_with("running_mean")) p[i] = mean(g);
            if (n.ends_with("running_var")) p[i] = var(g);
        }
    });
    constexpr std::size_t batch = 4;
    std::vector<float> x(batch * Net::input_size), y(batch * Net::output_size);
    std::normal_distribution<float> normal;
    for (float& v : x) v = normal(g);
    net->forward(x.data(), y.data(), batch);
    ctnn::save_onnx(*net, dir + "/" + name + ".onnx");
    const auto shape = [](const ctnn::dims& d) {
        std::vector<std::size_t> s{batch};
        s.insert(s.end(), d.d, d.d + d.rank);
        return s;
    };
    const ctnn::safetensors::tensor_view t[] = {{"x", shape(Net::shapes[0]), x.data()}, {"y", shape(Net::shapes[Net::depth]), y.data()}};
    ctnn::safetensors::save(dir + "/" + name + ".io.safetensors", t);
    std::printf("saved %s/%s.onnx\n", dir.c_str(), name);
}

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
#define CTNN_SAVE(name, net, imported) save<net>(dir, #name);
    CTNN_ONNX_EXPORTED(CTNN_SAVE)
}
