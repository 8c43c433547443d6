// Saving and loading an int8_net: one safetensors file (written atomically) with the quantized
// weights as I8, biases and zero points as I32, scales and multipliers as F32, under the node
// paths of summary() ("2.0.body.0.0.weight"), plus the input's "input.scale" and
// "input.zero_point". Its metadata records the format and the node layout (summary()'s text):
// a file made for another net or architecture, a missing tensor, or one of another dtype or
// shape is refused with a ctnn::error naming the file, and the net is left as it was.
#pragma once
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "../io/safetensors/format.hpp"
#include "int8_net.hpp"

namespace ctnn {

namespace quant::detail {

inline const char* dtype_name(stored s) { return s == stored::i8 ? "I8" : s == stored::i32 ? "I32" : "F32"; }
inline safetensors::dtype dtype_of(stored s) {
    return s == stored::i8 ? safetensors::dtype::I8 : s == stored::i32 ? safetensors::dtype::I32 : safetensors::dtype::F32;
}

/// A tensor to save or fill: where its bytes are in the net.
struct slot {
    std::string name;
    stored type;
    std::vector<std::size_t> shape;
    void* data;
    std::size_t bytes;
};

inline std::vector<char> encode(const std::vector<slot>& slots, const std::map<std::string, std::string>& meta) {
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = meta;
    std::vector<char> data;
    for (const slot& s : slots) {
        const std::size_t begin = data.size();
        data.insert(data.end(), static_cast<const char*>(s.data), static_cast<const char*>(s.data) + s.bytes);
        header[s.name] = {{"dtype", dtype_name(s.type)}, {"shape", s.shape}, {"data_offsets", {begin, data.size()}}};
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<char> out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t(text.size()) >> (8 * i)) & 0xFF));
    out.insert(out.end(), text.begin(), text.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

}  // namespace quant::detail

/// The friend of int8_net that reaches its nodes.
template <class Net, class Kern>
struct quant_io {
    using Q = int8_net<Net, Kern>;
    static constexpr const char* format = "ctnn.int8.v1";

    static std::vector<quant::detail::slot> slots(Q& q) {
        std::vector<quant::detail::slot> s;
        auto add = [&](const std::string& name, quant::stored t, std::vector<std::size_t> shape, void* data, std::size_t bytes) {
            s.push_back({name, t, std::move(shape), data, bytes});
        };
        add("input.scale", quant::stored::f32, {1}, &q.in_qp_.scale, 4);
        add("input.zero_point", quant::stored::i32, {1}, &q.in_qp_.zero_point, 4);
        q.seq_.tensors("", add);
        return s;
    }
    static std::string layout() {  // (not the kernel set: a file serves every build)
        std::string s = "input " + to_string(Q::in) + "\n";
        Q::seq::lines("", s);
        return s;
    }

    static void save(Q& q, const std::string& path) {
        if (!q.ready_) throw error("ctnn::int8_net::save: \"" + path + "\": the net is not quantized or loaded");
        const std::vector<char> bytes = quant::detail::encode(slots(q), {{"format", format}, {"layout", layout()}, {"method", q.method_}});
        detail::write_file_atomically(path, bytes, "ctnn::int8_net::save", "int8 net");
    }

    static void load(Q& q, const std::string& path) {
        const safetensors::file f = safetensors::file::read(path);
        const auto fail = [&](const std::string& why) { throw error("ctnn::int8_net::load: \"" + path + "\": " + why); };
        const auto& meta = f.metadata();
        const auto fmt = meta.find("format");
        if (fmt == meta.end() || fmt->second != format) fail("not a ctnn int8 net (no metadata format=" + std::string(format) + ")");
        const auto lay = meta.find("layout");
        if (lay == meta.end() || lay->second != layout()) fail("made for another net (its node layout differs from this net's)");
        Q tmp;  // filled first, so a refused file leaves q as it was
        const auto all = slots(tmp);
        if (f.tensors().size() != all.size()) fail("holds " + std::to_string(f.tensors().size()) + " tensors, this net has " + std::to_string(all.size()));
        for (const quant::detail::slot& s : all) {
            const safetensors::tensor_info* t = f.find(s.name);
            if (!t) fail("has no tensor \"" + s.name + "\"");
            if (t->type != quant::detail::dtype_of(s.type) || t->shape != s.shape)
                fail("tensor \"" + s.name + "\" is " + std::string(safetensors::to_string(t->type)) + " " +
                     safetensors::shape_string(t->shape) + ", expected " + quant::detail::dtype_name(s.type) + " " +
                     safetensors::shape_string(s.shape));
            std::memcpy(s.data, f.bytes(*t).data(), s.bytes);  // (little-endian, as the format is)
        }
        const auto m = meta.find("method");
        tmp.method_ = m == meta.end() ? "" : m->second;
        tmp.out_qp_ = tmp.seq_.loaded(tmp.in_qp_);
        tmp.ready_ = true;
        q = std::move(tmp);
    }
};

template <std::size_t... D, class... Ls, class Kern>
void int8_net<Sequential<Input<D...>, Ls...>, Kern>::save(const std::string& path) {
    quant_io<Sequential<Input<D...>, Ls...>, Kern>::save(*this, path);
}
template <std::size_t... D, class... Ls, class Kern>
void int8_net<Sequential<Input<D...>, Ls...>, Kern>::load(const std::string& path) {
    quant_io<Sequential<Input<D...>, Ls...>, Kern>::load(*this, path);
}

}  // namespace ctnn
