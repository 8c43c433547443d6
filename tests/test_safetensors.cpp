// safetensors I/O, PyTorch interop, hostile files, frozen layers and trunk transfer.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <ctnn/io.hpp>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace ctnn;

namespace {

// The PyTorch net of tools/make_safetensors_reference.py, as a ctnn type.
using RefNet = Sequential<Input<3, 12, 12>, Conv<3, 8, 3, 1, 1>, BatchNorm<8>, ReLU, MaxPool<2>, Conv<8, 16, 3>,
                          LeakyReLU<>, AvgPool<2>, Flatten, Linear<64, 32>, BatchNorm<32>, Tanh, Dropout<25>,
                          Linear<32, 10>>;
// The fuzz target's net (tests/fuzz/fuzz_safetensors.cpp).
using Tiny = Sequential<Input<4>, Linear<4, 3>, BatchNorm<3>, ReLU, Linear<3, 2>>;

const std::string data_dir = std::string(CTNN_TEST_DATA) + "/safetensors/";

/// A fresh, empty directory under the system temp directory.
fs::path temp_dir(const std::string& tag) {
    static int counter = 0;
    fs::path d = fs::temp_directory_path() /
                 ("ctnn_io_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

template <class Net>
void randomize(Net& net, std::uint64_t seed) {
    rng g(seed);
    for (float& p : net.params()) p = g.uniform(-1.0f, 1.0f);
    for (float& b : net.buffers()) b = g.uniform(0.5f, 1.5f);
}

template <class Net>
std::vector<float> snapshot(Net& net) {
    std::vector<float> v(net.params().begin(), net.params().end());
    v.insert(v.end(), net.buffers().begin(), net.buffers().end());
    return v;
}

// ---- building files by hand ------------------------------------------------------------------

std::vector<std::byte> file_bytes(const std::string& header, std::size_t data_bytes, std::uint64_t claimed_len) {
    std::vector<std::byte> b;
    for (int i = 0; i < 8; ++i) b.push_back(std::byte((claimed_len >> (8 * i)) & 0xFF));
    for (char c : header) b.push_back(std::byte(c));
    rng g(7);
    for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(std::byte(g.below(256)));
    return b;
}
std::vector<std::byte> file_bytes(const std::string& header, std::size_t data_bytes) {
    return file_bytes(header, data_bytes, header.size());
}

/// Expects from_bytes to fail with a message containing `what`; and, for a parseable file, a
/// load into Tiny to leave the net unchanged.
void expect_hostile(const std::vector<std::byte>& bytes, const std::string& what) {
    try {
        (void)safetensors::file::from_bytes(bytes, "hostile.safetensors");
        FAIL("accepted a hostile file; expected: " << what);
    } catch (const ctnn::error& e) {
        const std::string msg = e.what();
        INFO(msg);
        CHECK(msg.find("hostile.safetensors") != std::string::npos);
        CHECK(msg.find(what) != std::string::npos);
    }
}

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

}  // namespace

// ---- PyTorch -> ctnn ---------------------------------------------------------------------------

TEST_CASE("a PyTorch nn.Sequential exported to safetensors gives PyTorch's outputs in ctnn", "[safetensors]") {
    const auto io = safetensors::file::read(data_dir + "reference_io.safetensors");
    const auto x = io.to_floats(*io.find("input"));
    REQUIRE(x.size() == 5 * RefNet::input_size);
    const std::size_t n = x.size() / RefNet::input_size;

    const std::pair<const char*, const char*> cases[] = {
        {"reference_net.safetensors", "output"},
        {"reference_net_f16.safetensors", "output_f16"},
        {"reference_net_bf16.safetensors", "output_bf16"},
    };
    for (const auto& [net_file, out_name] : cases) {
        SECTION(net_file) {
            RefNet net(99);
            load_safetensors(net, data_dir + net_file);
            const auto want = io.to_floats(*io.find(out_name));
            REQUIRE(want.size() == n * RefNet::output_size);
            std::vector<float> got(want.size());
            net.forward(x.data(), got.data(), n);
            float worst = 0;
            for (std::size_t i = 0; i < got.size(); ++i)
                if (const float e = std::abs(got[i] - want[i]) / std::max(1.0f, std::abs(want[i])); !(e <= worst)) worst = e;  // (NaN too)
            INFO(net_file << ": max relative difference " << worst);
            CHECK(worst <= 1e-5f);
            // The BatchNorm running statistics came from PyTorch's training: 7 batches.
            net.for_each_tensor([&](const std::string& name, const tensor_desc&, float* d, tensor_kind) {
                if (name.ends_with("num_batches_tracked")) CHECK(*d == 7.0f);
            });
        }
    }
}

// ---- ctnn -> file -> ctnn ----------------------------------------------------------------------

TEST_CASE("save then load is exact, atomic and writes PyTorch's dtypes", "[safetensors]") {
    const fs::path dir = temp_dir("roundtrip");
    const std::string path = (dir / "net.safetensors").string();
    RefNet a(1);
    randomize(a, 11);
    a.for_each_tensor([](const std::string& name, const tensor_desc&, float* d, tensor_kind) {
        if (name.ends_with("num_batches_tracked")) *d = 1234.0f;
    });
    save_safetensors(a, path);
    save_safetensors(a, path);  // over an existing file
    RefNet b(2);
    REQUIRE(snapshot(a) != snapshot(b));
    load_safetensors(b, path);
    CHECK(snapshot(a) == snapshot(b));

    const auto f = safetensors::file::read(path);
    CHECK(f.tensors().size() == 2 + 5 + 2 + 2 + 5 + 2);
    CHECK(f.find("1.num_batches_tracked")->type == safetensors::dtype::I64);
    CHECK(f.find("1.num_batches_tracked")->shape.empty());
    CHECK(f.find("0.weight")->type == safetensors::dtype::F32);
    CHECK(f.find("0.weight")->shape == std::vector<std::size_t>{8, 3, 3, 3});
    CHECK(f.find("12.bias")->shape == std::vector<std::size_t>{10});
    CHECK(f.find("9.running_var") != nullptr);
    for (const auto& t : f.tensors()) CHECK(t.begin % safetensors::size_of(t.type) == 0);  // aligned
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.metadata().at("producer").starts_with("ctnn "));
    CHECK(f.metadata().at("ctnn_layers").find("Conv(3->8, k3 s1 p1)") != std::string::npos);
    // Atomic: only the file itself is left in the directory, no temporary.
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);

    // A save that cannot happen leaves the old file as it was and throws naming the path.
    CHECK_THROWS_WITH(save_safetensors(a, (dir / "no_such_dir" / "net.safetensors").string()),
                      Catch::Contains("no_such_dir") && Catch::Contains("cannot create"));
    fs::create_directory(dir / "taken.safetensors");  // rename onto a directory fails
    CHECK_THROWS_AS(save_safetensors(a, (dir / "taken.safetensors").string()), ctnn::error);
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 2);  // no temporaries
    fs::remove_all(dir);
}

TEST_CASE("the atomic writer: concurrent saves to one path, and a symlink where its file goes", "[safetensors][atomic]") {
    const fs::path dir = temp_dir("atomic");
    const std::string path = (dir / "net.safetensors").string();
    RefNet a(1), b(2);
    randomize(b, 3);
    b.for_each_tensor([](const std::string& name, const tensor_desc&, float* d, tensor_kind) {
        if (name.ends_with("num_batches_tracked")) *d = 7.0f;  // a counter: an integer in the file
    });
    // two threads saving different nets to the same path: every save succeeds, the file is
    // always one whole net, and no temporary file is left
    std::atomic<int> failures{0};
    const auto saver = [&](const RefNet& net) {
        for (int i = 0; i < 30; ++i) try {
                save_safetensors(net, path);
            } catch (const ctnn::error&) {
                ++failures;
            }
    };
    std::thread t1(saver, std::cref(a)), t2(saver, std::cref(b));
    t1.join();
    t2.join();
    CHECK(failures == 0);
    RefNet c(9);
    load_safetensors(c, path);
    CHECK((snapshot(c) == snapshot(a) || snapshot(c) == snapshot(b)));
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);
    // a symlink at the target is replaced, not written through: its target keeps its bytes
    const fs::path victim = dir / "victim.txt";
    { std::ofstream(victim) << "keep me"; }
    fs::remove(path);
    fs::create_symlink(victim, path);
    save_safetensors(a, path);
    CHECK(!fs::is_symlink(path));
    std::ifstream v(victim);
    CHECK(std::string(std::istreambuf_iterator<char>(v), {}) == "keep me");
    fs::remove_all(dir);
}

TEST_CASE("a file of another architecture is refused with every problem listed and the net unchanged",
          "[safetensors]") {
    const fs::path dir = temp_dir("arch");
    const std::string path = (dir / "tiny.safetensors").string();
    Tiny tiny(3);
    save_safetensors(tiny, path);

    // Same trunk, other head and an extra BatchNorm: 3.weight has the wrong shape, 5.* are missing,
    using Other = Sequential<Input<4>, Linear<4, 3>, BatchNorm<3>, ReLU, Linear<3, 5>, ReLU, BatchNorm<5>>;
    Other other(4);
    randomize(other, 5);
    const auto before = snapshot(other);
    try {
        load_safetensors(other, path);
        FAIL("loaded a file of another architecture");
    } catch (const ctnn::error& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find(path) != std::string::npos);
        CHECK(m.find("wrong shape  3.weight: expected F32 [5, 3], found F32 [2, 3]") != std::string::npos);
        CHECK(m.find("wrong shape  3.bias: expected F32 [5], found F32 [2]") != std::string::npos);
        CHECK(m.find("missing      5.weight: expected F32 [5]") != std::string::npos);
        CHECK(m.find("missing      5.num_batches_tracked: expected I64 []") != std::string::npos);
        CHECK(m.find("(7 problems)") != std::string::npos);
    }
    CHECK(snapshot(other) == before);

    // A net with fewer layers: the file's tensors it lacks are "extra".
    using Short = Sequential<Input<4>, Linear<4, 3>>;
    Short s(6);
    CHECK_THROWS_WITH(load_safetensors(s, path), Catch::Contains("extra        1.running_mean: found F32 [3], not in the net") &&
                                                     Catch::Contains("extra        3.weight: found F32 [2, 3]"));
    // Non-strict ignores the extra ones (PyTorch's strict=False) ...
    load_safetensors(s, path, {.strict = false});
    CHECK(std::equal(s.params().begin(), s.params().end(), tiny.params().begin()));
    // ... and a trunk can be loaded from it by layer count.
    randomize(other, 8);
    const auto head_before = std::vector<float>(other.params(3).begin(), other.params(3).end());
    load_safetensors(other, path, {.layers = 3});
    CHECK(std::equal(other.params(0).begin(), other.params(0).end(), tiny.params(0).begin()));
    CHECK(std::equal(other.params(1).begin(), other.params(1).end(), tiny.params(1).begin()));
    CHECK(std::vector<float>(other.params(3).begin(), other.params(3).end()) == head_before);
    // Shape mismatches are errors even when not strict.
    CHECK_THROWS_WITH(load_safetensors(other, path, {.strict = false}), Catch::Contains("wrong shape  3.weight"));
    fs::remove_all(dir);
}

TEST_CASE("a tensor of a dtype that is not a float is refused at load", "[safetensors]") {
    Tiny t(1);
    std::vector<float> zeros(12, 0.5f), three(3, 0.25f), six(6, 0.5f), two(2, 0.5f), one(1, 3.0f);
    std::vector<safetensors::tensor_view> v = {
        {"0.weight", {3, 4}, zeros.data()}, {"0.bias", {3}, three.data()}, {"1.weight", {3}, three.data()},
        {"1.bias", {3}, three.data()}, {"1.running_mean", {3}, three.data()}, {"1.running_var", {3}, three.data()},
        {"1.num_batches_tracked", {}, one.data(), true}, {"3.weight", {2, 3}, six.data()}, {"3.bias", {2}, two.data()}};
    auto bytes = safetensors::encode(v);
    std::vector<std::byte> b(bytes.size());
    std::memcpy(b.data(), bytes.data(), b.size());
    load_safetensors(t, safetensors::file::from_bytes(b, "ok.safetensors"));
    CHECK(t.buffers()[6] == 3.0f);
    CHECK(t.params()[0] == 0.5f);
    // Relabel 0.bias as U32 (same size, a dtype that does not convert to float).
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    const auto at = s.find("\"0.bias\":{\"data_offsets\":");
    REQUIRE(at != std::string::npos);
    const auto d = s.find("\"F32\"", at);
    s.replace(d, 5, "\"U32\"");
    std::memcpy(b.data(), s.data(), b.size());
    Tiny u(2);
    const auto before = snapshot(u);
    CHECK_THROWS_WITH(load_safetensors(u, safetensors::file::from_bytes(b, "u32.safetensors")),
                      Catch::Contains("wrong dtype  0.bias: expected F32 [3]") && Catch::Contains("found U32 [3]"));
    CHECK(snapshot(u) == before);
}

TEST_CASE("a state_dict with other names loads through a rename map", "[safetensors]") {
    std::vector<float> w(12), b3(3), g(3, 1.0f), z(3, 0.0f), o(3, 1.0f), w2(6), b2(2), one(1, 7.0f);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * float(i);
    for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = -0.2f * float(i);
    // a module with attributes fc1, bn, head (PyTorch's names for it), not an nn.Sequential
    std::vector<safetensors::tensor_view> v = {
        {"model.fc1.weight", {3, 4}, w.data()}, {"model.fc1.bias", {3}, b3.data()}, {"model.bn.weight", {3}, g.data()},
        {"model.bn.bias", {3}, z.data()}, {"model.bn.running_mean", {3}, z.data()}, {"model.bn.running_var", {3}, o.data()},
        {"model.bn.num_batches_tracked", {}, one.data(), true}, {"model.head.weight", {2, 3}, w2.data()},
        {"model.head.bias", {2}, b2.data()}};
    const auto bytes = safetensors::encode(v);
    std::vector<std::byte> b(bytes.size());
    std::memcpy(b.data(), bytes.data(), b.size());
    const auto f = safetensors::file::from_bytes(b, "renamed.safetensors");
    Tiny t(1);
    CHECK_THROWS_WITH(load_safetensors(t, f), Catch::Contains("missing      0.weight") && Catch::Contains("extra        model.fc1.weight"));
    const load_options map{.rename = {{"model.fc1.", "0."}, {"model.bn.", "1."}, {"model.head.", "3."}}};
    const load_report r = load_safetensors(t, f, map);
    CHECK(r.loaded.size() == 9);
    CHECK(r.loaded.front() == "0.weight");  // the net's names
    CHECK(t.params()[5] == w[5]);
    CHECK(t.params()[Tiny::param_offset[3] + 4] == w2[4]);
    CHECK(t.buffers()[6] == 7.0f);
    // a map that leaves a tensor unmatched, or sends two tensors to one name, is refused
    Tiny u(2);
    const auto before = snapshot(u);
    CHECK_THROWS_WITH(load_safetensors(u, f, {.rename = {{"model.fc1.", "0."}, {"model.bn.", "1."}}}),
                      Catch::Contains("missing      3.weight") && Catch::Contains("extra        model.head.weight"));
    CHECK_THROWS_WITH(load_safetensors(u, f, {.rename = {{"model.fc1.", "0."}, {"model.bn.", "0."}, {"model.head.", "3."}}}),
                      Catch::Contains("ambiguous    0.weight: both model.") && Catch::Contains("come to this name"));
    CHECK(snapshot(u) == before);
}

TEST_CASE("load by order: the file's tensors in data order are the net's in its order", "[safetensors]") {
    std::vector<float> w(12), b3(3, 0.5f), g(3, 2.0f), z(3, 0.0f), o(3, 1.0f), w2(6), b2(2, -1.0f), one(1, 4.0f);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.3f * float(i);
    for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = 0.7f * float(i);
    // names that mean nothing to ctnn, in the module's order (as ctnn's Tiny lists its tensors)
    std::vector<safetensors::tensor_view> v = {
        {"p0", {3, 4}, w.data()}, {"p1", {3}, b3.data()}, {"p2", {3}, g.data()}, {"p3", {3}, z.data()},
        {"p4", {3}, z.data()},    {"p5", {3}, o.data()},  {"p6", {}, one.data(), true}, {"p7", {2, 3}, w2.data()},
        {"p8", {2}, b2.data()}};
    const auto bytes = safetensors::encode(v);
    std::vector<std::byte> b(bytes.size());
    std::memcpy(b.data(), bytes.data(), b.size());
    const auto f = safetensors::file::from_bytes(b, "ordered.safetensors");
    Tiny t(1);
    const load_report r = load_safetensors(t, f, {.by_order = true});
    CHECK(r.loaded.size() == 9);
    CHECK(t.params()[7] == w[7]);
    CHECK(t.params()[Tiny::param_offset[1]] == 2.0f);  // BatchNorm's weight, the third tensor
    CHECK(t.params()[Tiny::param_offset[3] + 5] == w2[5]);
    CHECK(t.buffers()[6] == 4.0f);
    // the same names in another order: the shapes no longer agree, and nothing changes
    std::swap(v[0], v[7]);
    const auto bytes2 = safetensors::encode(v);
    std::vector<std::byte> b2v(bytes2.size());
    std::memcpy(b2v.data(), bytes2.data(), b2v.size());
    Tiny u(2);
    const auto before = snapshot(u);
    CHECK_THROWS_WITH(load_safetensors(u, safetensors::file::from_bytes(b2v, "swapped.safetensors"), {.by_order = true}),
                      Catch::Contains("wrong shape  0.weight: expected F32 [3, 4], found F32 [2, 3]"));
    CHECK(snapshot(u) == before);
    CHECK_THROWS_WITH(load_safetensors(u, f, {.rename = {{"p", "q"}}, .by_order = true}), Catch::Contains("cannot be combined"));
}

TEST_CASE("F16 and BF16 convert exactly", "[safetensors]") {
    using F = safetensors::file;
    CHECK(F::half_to_float(0x3C00) == 1.0f);
    CHECK(F::half_to_float(0xC000) == -2.0f);
    CHECK(F::half_to_float(0x7BFF) == 65504.0f);
    CHECK(F::half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
    CHECK(F::half_to_float(0x83FF) == -std::ldexp(1023.0f, -24));
    CHECK(F::half_to_float(0x0400) == std::ldexp(1.0f, -14));   // smallest normal
    CHECK(std::isinf(F::half_to_float(0x7C00)));
    CHECK(std::isnan(F::half_to_float(0x7E00)));
    CHECK(std::signbit(F::half_to_float(0x8000)));
    // Every finite half matches the value computed from its fields.
    for (std::uint32_t h = 0; h < 0x7C00; h += 37) {
        const int e = int(h >> 10), m = int(h & 0x3FF);
        const float want = e ? std::ldexp(1.0f + float(m) / 1024.0f, e - 15) : std::ldexp(float(m), -24);
        REQUIRE(F::half_to_float(std::uint16_t(h)) == want);
    }
}

// ---- hostile files -----------------------------------------------------------------------------

TEST_CASE("hostile files fail cleanly without reading out of bounds", "[safetensors][hostile]") {
    const std::string ok = tensor_json("a", "F32", "[2]", "[0,8]");
    SECTION("shorter than the length field") { expect_hostile({std::byte{1}, std::byte{2}}, "too short"); }
    SECTION("header length past the end of the file") { expect_hostile(file_bytes("{" + ok + "}", 8, 4000), "past the end"); }
    SECTION("header of gigabytes") {
        expect_hostile(file_bytes("{}", 0, std::uint64_t{5} << 30), "exceeds the 104857600-byte limit");
        expect_hostile(file_bytes("{}", 0, std::numeric_limits<std::uint64_t>::max()), "exceeds");
    }
    SECTION("invalid JSON") {
        expect_hostile(file_bytes("{\"a\":", 0), "invalid JSON");
        expect_hostile(file_bytes("", 0), "invalid JSON");
        expect_hostile(file_bytes("{} x", 0), "invalid JSON");
        expect_hostile(file_bytes("{\"\xff\xfe\":1}", 0), "invalid JSON");  // not UTF-8
    }
    SECTION("not an object") {
        expect_hostile(file_bytes("42", 0), "must be a JSON object");
        expect_hostile(file_bytes("[1,2]", 0), "an array where");
        expect_hostile(file_bytes("{\"a\":7}", 0), "tensor \"a\" must be an object");
        expect_hostile(file_bytes("{\"a\":{\"b\":{\"c\":{}}}}", 0), "nested deeper");
    }
    SECTION("offsets out of range") { expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[0,8]") + "}", 4), "run past the data"); }
    SECTION("offsets reversed") { expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[0]", "[8,0]") + "}", 8), "reversed"); }
    SECTION("offsets not numel x dtype size") {
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[3]", "[0,8]") + "}", 16), "needs 3 x 4 bytes");
        expect_hostile(file_bytes("{" + tensor_json("a", "F16", "[2, 2]", "[0,4]") + "}", 16), "needs 4 x 2 bytes");
        // numel overflowing size_t
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[4294967296,4294967296,16]", "[0,8]") + "}", 8),
                       "too many elements");
        expect_hostile(file_bytes("{" + tensor_json("a", "F64", "[4611686018427387904]", "[0,8]") + "}", 8), "needs");
    }
    SECTION("overlapping tensors") {
        expect_hostile(file_bytes("{" + ok + "," + tensor_json("b", "F32", "[1]", "[4,8]") + "}", 8), "overlap");
        expect_hostile(file_bytes("{" + ok + "," + tensor_json("b", "F32", "[2]", "[0,8]") + "}", 8), "overlap");
    }
    SECTION("offsets that are not two integers") {
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[0]") + "}", 8), "data_offsets must be [begin, end]");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[0,8,9]") + "}", 8), "data_offsets must be");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[-1,8]") + "}", 8), "non-negative integer");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[0,8.0]") + "}", 8), "non-negative integer");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2]", "[0,18446744073709551616]") + "}", 8), "non-negative integer");
    }
    SECTION("unknown dtype") {
        expect_hostile(file_bytes("{" + tensor_json("a", "F31", "[2]", "[0,8]") + "}", 8), "unknown dtype \"F31\"");
        expect_hostile(file_bytes("{\"a\":{\"dtype\":3,\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "dtype must be a string");
    }
    SECTION("duplicate names") {
        expect_hostile(file_bytes("{" + ok + "," + ok + "}", 8), "duplicate key \"a\"");
        expect_hostile(file_bytes("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                       "duplicate key \"dtype\"");
    }
    SECTION("non-integer shapes") {
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[2.0]", "[0,8]") + "}", 8), "shape entry must be a non-negative integer");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[-2]", "[0,8]") + "}", 8), "shape entry must be");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[\"2\"]", "[0,8]") + "}", 8), "shape entry must be");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "2", "[0,8]") + "}", 8), "shape must be an array");
        expect_hostile(file_bytes("{" + tensor_json("a", "F32", "[1,1,1,1,1,1,1,1,2]", "[0,8]") + "}", 8), "more than 8 elements");
    }
    SECTION("missing fields and bad metadata") {
        expect_hostile(file_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "no \"data_offsets\"");
        expect_hostile(file_bytes("{\"__metadata__\":{\"k\":1}}", 0), "must be a string");
        expect_hostile(file_bytes("{\"__metadata__\":[]}", 0), "an array where");
        expect_hostile(file_bytes("{\"__metadata__\":3}", 0), "must be an object of strings");
        expect_hostile(file_bytes("{" + tensor_json("", "F32", "[2]", "[0,8]") + "}", 8), "empty name");
    }
    SECTION("a valid file padded with spaces is accepted; holes and trailing bytes are not") {
        // The reference implementation requires the tensors to fill the data exactly (no hole, no
        // byte after the last tensor), so a file cannot carry a second payload.
        const auto f = safetensors::file::from_bytes(
            file_bytes("{" + tensor_json("b", "BF16", "[]", "[8,10]") + "," + ok + ",\"__metadata__\":{\"k\":\"v\"}}   ", 10),
            "fine");
        CHECK(f.tensors().size() == 2);
        CHECK(f.find("b")->numel() == 1);
        CHECK(f.metadata().at("k") == "v");
        CHECK(f.to_floats(*f.find("a")).size() == 2);
        expect_hostile(file_bytes("{" + tensor_json("b", "BF16", "[]", "[10,12]") + "," + ok + "}", 12),
                       "bytes [8, 10) of the data belong to no tensor");
        expect_hostile(file_bytes("{" + ok + "}", 16), "8 bytes after the last tensor's data");
    }
}

TEST_CASE("hostile files on disk: the header length is checked before anything is allocated", "[safetensors][hostile]") {
    const fs::path dir = temp_dir("hostile");
    const auto write = [&](const std::string& name, const std::vector<std::byte>& b) {
        std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        return (dir / name).string();
    };
    Tiny t(1);
    const auto before = snapshot(t);
    CHECK_THROWS_WITH(load_safetensors(t, write("giga", file_bytes("{}", 0, std::uint64_t{1} << 40))),
                      Catch::Contains("giga") && Catch::Contains("exceeds"));
    CHECK_THROWS_WITH(load_safetensors(t, write("past", file_bytes("{}", 0, 50))),
                      Catch::Contains("past") && Catch::Contains("runs past the end of the file (10 bytes)"));
    CHECK_THROWS_WITH(load_safetensors(t, write("empty", {})), Catch::Contains("too short"));
    CHECK_THROWS_WITH(load_safetensors(t, (dir / "absent").string()), Catch::Contains("absent") && Catch::Contains("cannot open"));
    CHECK_THROWS_WITH(load_safetensors(t, dir.string()), Catch::Contains("not a regular file"));
    CHECK(snapshot(t) == before);
    fs::remove_all(dir);
}

// ---- frozen layers and transfer ----------------------------------------------------------------

namespace {
using Trainable = Sequential<Input<6>, Linear<6, 5>, Tanh, Linear<5, 4>, BatchNorm<4>, ReLU, Linear<4, 3>>;
using MiddleFrozen = Sequential<Input<6>, Linear<6, 5>, Tanh, Frozen<Linear<5, 4>>, Frozen<BatchNorm<4>>, ReLU, Linear<4, 3>>;
using TrunkFrozen = Sequential<Input<6>, Frozen<Linear<6, 5>>, Tanh, Frozen<Linear<5, 4>>, BatchNorm<4>, ReLU, Linear<4, 7>>;

static_assert(Trainable::param_count == 35 + 24 + 8 + 15);
static_assert(Trainable::grad_count == Trainable::param_count);
static_assert(MiddleFrozen::param_count == Trainable::param_count);
static_assert(MiddleFrozen::grad_count == 35 + 15);  // no gradient for the frozen Linear and BatchNorm
static_assert(MiddleFrozen::grad_sizes[2] == 0 && MiddleFrozen::grad_sizes[3] == 0);
static_assert(TrunkFrozen::grad_count == 8 + 35);
static_assert(TrunkFrozen::first_trainable == 3);  // backward stops before the frozen trunk

/// One SGD step on a squared-error loss toward `target`; returns the loss.
template <class Net>
float sgd_step(Net& net, const std::vector<float>& x, const std::vector<float>& target, std::size_t n, float lr) {
    const float* y = net.forward_train(x.data(), n);
    std::vector<float> dy(n * Net::output_size);
    float loss = 0;
    for (std::size_t i = 0; i < dy.size(); ++i) {
        dy[i] = 2.0f * (y[i] - target[i]) / float(n);
        loss += (y[i] - target[i]) * (y[i] - target[i]) / float(n);
    }
    net.zero_grad();
    net.backward(dy.data());
    auto p = net.params();
    auto g = net.grads();
    for (std::size_t l = 0; l < Net::depth; ++l)
        if (Net::trainable[l])
            for (std::size_t i = 0; i < Net::param_sizes[l]; ++i)
                p[Net::param_offset[l] + i] -= lr * g[Net::grad_offset[l] + i];
    return loss;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
    rng g(seed);
    std::vector<float> v(n);
    for (float& e : v) e = g.normal();
    return v;
}
}  // namespace

TEST_CASE("frozen layers get no gradient yet pass it on to earlier trainable layers", "[frozen]") {
    Trainable full(21);
    MiddleFrozen part(0);
    load_safetensors(part, safetensors::file::from_bytes(
                               [&] {
                                   const auto c = safetensors_bytes(full);
                                   std::vector<std::byte> b(c.size());
                                   std::memcpy(b.data(), c.data(), c.size());
                                   return b;
                               }(),
                               "memory"));  // Frozen<L> keeps L's tensor names
    REQUIRE(std::equal(full.params().begin(), full.params().end(), part.params().begin()));
    const std::size_t n = 8;
    const auto x = random_vector(n * 6, 1), dy = random_vector(n * 3, 2);
    full.forward_train(x.data(), n);
    part.forward_train(x.data(), n);
    full.zero_grad();
    part.zero_grad();
    std::vector<float> dx_full(n * 6), dx_part(n * 6);
    full.backward(dy.data(), dx_full.data());
    part.backward(dy.data(), dx_part.data());
    // Layer 0 sits below the frozen layers: its gradient is the one of the all-trainable net.
    const auto g0 = full.grads(0), p0 = part.grads(0);
    REQUIRE(g0.size() == p0.size());
    float norm = 0;
    for (std::size_t i = 0; i < g0.size(); ++i) {
        CHECK(p0[i] == Approx(g0[i]).margin(1e-6));
        norm += std::abs(g0[i]);
    }
    CHECK(norm > 1e-3f);  // the check above is not vacuous
    const auto g5 = full.grads(5), p5 = part.grads(5);
    for (std::size_t i = 0; i < g5.size(); ++i) CHECK(p5[i] == Approx(g5[i]).margin(1e-6));
    for (std::size_t i = 0; i < dx_full.size(); ++i) CHECK(dx_part[i] == Approx(dx_full[i]).margin(1e-6));
}

TEST_CASE("training leaves frozen parameters unchanged and moves the others", "[frozen]") {
    MiddleFrozen net(5);
    const std::vector<float> frozen_before(net.params().begin() + MiddleFrozen::param_offset[2],
                                           net.params().begin() + MiddleFrozen::param_offset[4]);
    const std::vector<float> head_before(net.params(5).begin(), net.params(5).end());
    const std::vector<float> first_before(net.params(0).begin(), net.params(0).end());
    const std::size_t n = 16;
    const auto x = random_vector(n * 6, 3), target = random_vector(n * 3, 4);
    const float loss0 = sgd_step(net, x, target, n, 0.05f);
    float loss = loss0;
    for (int step = 0; step < 30; ++step) loss = sgd_step(net, x, target, n, 0.05f);
    CHECK(loss < loss0);
    CHECK(std::equal(frozen_before.begin(), frozen_before.end(), net.params().begin() + MiddleFrozen::param_offset[2]));
    CHECK(std::vector<float>(net.params(5).begin(), net.params(5).end()) != head_before);
    CHECK(std::vector<float>(net.params(0).begin(), net.params(0).end()) != first_before);
}

TEST_CASE("copy_layers puts a trained trunk under a new head", "[frozen][transfer]") {
    Trainable trained(7);
    randomize(trained, 9);
    TrunkFrozen fresh(8);
    const std::vector<float> head(fresh.params(5).begin(), fresh.params(5).end());
    copy_layers<5>(trained, fresh);  // Linear, Tanh, Linear, BatchNorm, ReLU: Frozen<L> counts as L
    CHECK(std::equal(fresh.params().begin(), fresh.params().begin() + TrunkFrozen::param_offset[5], trained.params().begin()));
    CHECK(std::equal(fresh.buffers().begin(), fresh.buffers().end(), trained.buffers().begin()));
    CHECK(std::vector<float>(fresh.params(5).begin(), fresh.params(5).end()) == head);
    // Training the new net moves only the BatchNorm and the head.
    const std::size_t n = 16;
    const auto x = random_vector(n * 6, 5), target = random_vector(n * 7, 6);
    for (int step = 0; step < 5; ++step) sgd_step(fresh, x, target, n, 0.05f);
    CHECK(std::equal(fresh.params().begin(), fresh.params().begin() + TrunkFrozen::param_offset[3], trained.params().begin()));
    CHECK(std::vector<float>(fresh.params(5).begin(), fresh.params(5).end()) != head);
}

// ---- for tools/safetensors_to_torch.py (tests/interop): a ctnn-trained net and its outputs -------

TEST_CASE("write a ctnn-trained net for the PyTorch check", "[.torch_export]") {
    const char* out = std::getenv("CTNN_TORCH_CHECK_DIR");
    REQUIRE(out != nullptr);
    fs::create_directories(out);
    RefNet net(2026);
    const std::size_t n = 12;
    const auto x = random_vector(n * RefNet::input_size, 31), target = random_vector(n * 10, 32);
    float first = 0, last = 0;
    for (int step = 0; step < 25; ++step) {
        last = sgd_step(net, x, target, n, 0.02f);
        if (step == 0) first = last;
    }
    CHECK(last < first);
    net.for_each_tensor([&](const std::string& name, const tensor_desc&, float* d, tensor_kind) {
        if (name.ends_with("num_batches_tracked")) CHECK(*d == 25.0f);
    });
    save_safetensors(net, std::string(out) + "/net.safetensors");
    const auto probe = random_vector(7 * RefNet::input_size, 33);
    std::vector<float> y(7 * RefNet::output_size);
    net.forward(probe.data(), y.data(), 7);
    const std::vector<safetensors::tensor_view> io = {{"input", {7, 3, 12, 12}, probe.data()}, {"output", {7, 10}, y.data()}};
    safetensors::save(std::string(out) + "/io.safetensors", io, {{"producer", "ctnn tests"}});
}
