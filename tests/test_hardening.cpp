// Regression tests for issue 18's hardening items: resource limits (8), lenient parsing (9), what a
// non-strict load reports (7), fit's checks before the first step (10), small misuse (11) and
// every failure being a ctnn::error naming the file (5).
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctnn/ctnn.hpp>
#include <ctnn/data.hpp>
#include <ctnn/io.hpp>
#include <ctnn/train.hpp>

namespace fs = std::filesystem;
using namespace std::string_literals;
using Catch::Contains;

namespace {

using Tiny = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 3>, ctnn::BatchNorm<3>, ctnn::ReLU, ctnn::Linear<3, 2>>;

/// A fresh directory, removed at the end of the test.
struct scratch {
    fs::path path;
    explicit scratch(const std::string& tag) {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("ctnn_hard_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~scratch() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

template <class Bytes>
void write_file(const std::string& p, const Bytes& b) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    REQUIRE(f.good());
}

std::vector<unsigned char> gzip_bytes(const std::vector<unsigned char>& raw) {
    uLongf n = compressBound(static_cast<uLong>(raw.size())) + 64;
    std::vector<unsigned char> out(n);
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = const_cast<unsigned char*>(raw.data());
    z.avail_in = static_cast<uInt>(raw.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

/// The message of the exception f throws, marked when it is not a ctnn::error.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const ctnn::error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("<not a ctnn::error: ") + e.what() + ">";
    }
    return "<no exception>";
}

template <class Net>
std::vector<float> snapshot(Net& net) {
    std::vector<float> v(net.params().begin(), net.params().end());
    v.insert(v.end(), net.buffers().begin(), net.buffers().end());
    return v;
}

std::vector<std::byte> as_bytes(const std::vector<char>& c) {
    std::vector<std::byte> b(c.size());
    std::memcpy(b.data(), c.data(), c.size());
    return b;
}

/// A safetensors file: the 8-byte length, then `header`, then `data` zero bytes.
std::vector<std::byte> st_file(const std::string& header, std::size_t data = 0) {
    std::vector<std::byte> b;
    for (int i = 0; i < 8; ++i) b.push_back(std::byte((header.size() >> (8 * i)) & 0xFF));
    for (char c : header) b.push_back(std::byte(c));
    b.resize(b.size() + data, std::byte{0});
    return b;
}

std::string from_bytes_error(const std::vector<std::byte>& b) {
    return error_of([&] { (void)ctnn::safetensors::file::from_bytes(b, "hostile.safetensors"); });
}

}  // namespace

// ---- 8: resource limits ------------------------------------------------------------------------

TEST_CASE("hardening 8: a safetensors header of too many tensors is refused while it is scanned", "[hardening][safetensors]") {
    std::string h = "{";
    for (std::size_t i = 0; i <= ctnn::safetensors::max_tensors; ++i)
        h += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    h += "}";
    const std::string m = from_bytes_error(st_file(h));
    INFO(m.substr(0, 400));
    CHECK_THAT(m, Contains("hostile.safetensors") && Contains("more than 65536 entries"));
}

TEST_CASE("hardening 8: error messages stay short however many or long the names are", "[hardening][safetensors]") {
    // 3000 zero-size tensors the net lacks: one line each would be a message of 170 KB.
    std::string h = "{";
    for (int i = 0; i < 3000; ++i)
        h += (i ? ",\"x" : "\"x") + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    h += "}";
    Tiny net(1);
    const auto before = snapshot(net);
    const std::string m = error_of([&] { ctnn::load_safetensors(net, ctnn::safetensors::file::from_bytes(st_file(h), "many")); });
    CHECK(m.size() < 4096);
    CHECK_THAT(m, Contains("(3009 problems)") && Contains("more"));
    CHECK(snapshot(net) == before);
    // A 1 MB tensor name in a refused header.
    const std::string name(1 << 20, 'n');
    const std::string m2 = from_bytes_error(st_file("{\"" + name + "\":{\"dtype\":\"F31\",\"shape\":[],\"data_offsets\":[0,0]}}"));
    CHECK(m2.size() < 1024);
    CHECK_THAT(m2, Contains("unknown dtype") && Contains("more bytes"));
}

// ---- 9: lenient parsing ------------------------------------------------------------------------

TEST_CASE("hardening 9: a safetensors header holds JSON padded only with spaces", "[hardening][safetensors]") {
    const std::string t = "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    CHECK(from_bytes_error(st_file("{" + t + "}    ", 4)) == "<no exception>");
    // Bytes after a NUL used to be ignored (nlohmann-json stops there as at the end of its input).
    CHECK_THAT(from_bytes_error(st_file("{" + t + "}\0garbage"s, 4)), Contains("NUL byte at offset"));
    CHECK_THAT(from_bytes_error(st_file("{" + t + "}\n", 4)), Contains("only spaces (0x20)"));
    CHECK_THAT(from_bytes_error(st_file(" {" + t + "}", 4)), Contains("must begin with '{'"));
}

namespace {
/// Tiny's file with 0.bias relabelled from F32 to `dtype` (of the same size).
std::vector<std::byte> tiny_with_bias_dtype(const std::string& dtype) {
    Tiny net(3);
    std::string s;
    for (char c : ctnn::safetensors_bytes(net)) s += c;
    const auto at = s.find("\"0.bias\":{\"data_offsets\":");
    REQUIRE(at != std::string::npos);
    s.replace(s.find("\"F32\"", at), 5, "\"" + dtype + "\"");
    return as_bytes(std::vector<char>(s.begin(), s.end()));
}
}  // namespace

TEST_CASE("hardening 9: an integer dtype is refused for a float tensor, kept for the counter", "[hardening][safetensors]") {
    Tiny net(1);
    const auto before = snapshot(net);
    const std::string m = error_of([&] {
        ctnn::load_safetensors(net, ctnn::safetensors::file::from_bytes(tiny_with_bias_dtype("I32"), "int.safetensors"));
    });
    CHECK_THAT(m, Contains("int.safetensors") && Contains("wrong dtype  0.bias") && Contains("found I32 [3]"));
    CHECK(snapshot(net) == before);
    // num_batches_tracked is I64 in PyTorch's files and in ctnn's (the existing round trip).
    Tiny src(2);
    CHECK_NOTHROW(ctnn::load_safetensors(net, ctnn::safetensors::file::from_bytes(as_bytes(ctnn::safetensors_bytes(src)), "ok")));
}

TEST_CASE("hardening 9: NaN or infinite values and a negative running variance are refused by name", "[hardening][safetensors]") {
    const auto load_from = [](Tiny& src) {
        Tiny net(9);
        const auto before = snapshot(net);
        const std::string m = error_of([&] {
            ctnn::load_safetensors(net, ctnn::safetensors::file::from_bytes(as_bytes(ctnn::safetensors_bytes(src)), "v.safetensors"));
        });
        if (m != "<no exception>") CHECK(snapshot(net) == before);
        return m;
    };
    Tiny a(1);
    a.params()[5] = std::numeric_limits<float>::quiet_NaN();  // 0.weight, element 5
    CHECK_THAT(load_from(a), Contains("v.safetensors") && Contains("bad value    0.weight: element 5") && Contains("not a finite"));
    Tiny b(1);
    b.params()[b.params().size() - 1] = std::numeric_limits<float>::infinity();  // 3.bias
    CHECK_THAT(load_from(b), Contains("bad value    3.bias: element 1"));
    Tiny c(1);
    c.buffers()[4] = -0.5f;  // 1.running_var[1] (buffers: running_mean[3], running_var[3], count)
    CHECK_THAT(load_from(c), Contains("bad value    1.running_var: element 1 is -0.5") && Contains("never negative"));
    Tiny d(1);
    d.buffers()[0] = -0.5f;  // a negative running mean is fine
    CHECK(load_from(d) == "<no exception>");
}

// ---- 7: what a non-strict load did -------------------------------------------------------------

TEST_CASE("hardening 7: a load reports what it loaded, missed and did not expect; matching nothing is an error", "[hardening][safetensors]") {
    Tiny src(4);
    const auto file = ctnn::safetensors::file::from_bytes(as_bytes(ctnn::safetensors_bytes(src)), "tiny.safetensors");
    using Other = ctnn::Sequential<ctnn::Input<4>, ctnn::Linear<4, 3>, ctnn::Tanh, ctnn::Linear<3, 7>>;
    Other other(5);
    const ctnn::load_report r = ctnn::load_safetensors(other, file, {.strict = false});
    CHECK(r.loaded == std::vector<std::string>{"0.weight", "0.bias"});
    CHECK(r.missing == std::vector<std::string>{"2.weight", "2.bias"});
    CHECK(r.unexpected.size() == 7);  // 1.* (5) and 3.* (2)
    const ctnn::load_report all = ctnn::load_safetensors(src, file);
    CHECK(all.loaded.size() == 9);
    CHECK(all.missing.empty());
    CHECK(all.unexpected.empty());

    using Elsewhere = ctnn::Sequential<ctnn::Input<4>, ctnn::ReLU, ctnn::Tanh, ctnn::ReLU, ctnn::Tanh, ctnn::Linear<4, 2>>;
    Elsewhere e(6);
    const auto before = snapshot(e);
    CHECK_THAT(error_of([&] { ctnn::load_safetensors(e, file, {.strict = false}); }),
               Contains("tiny.safetensors") && Contains("has none of this net's 2 tensors"));
    CHECK(snapshot(e) == before);
}

// ---- 8 and 9: the data readers -----------------------------------------------------------------

namespace {
std::vector<unsigned char> idx_header(std::vector<std::uint32_t> dims) {
    std::vector<unsigned char> b{0, 0, 0x08, static_cast<unsigned char>(dims.size())};
    for (std::uint32_t d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
    return b;
}
}  // namespace

TEST_CASE("hardening 8: an IDX header of 0 images of 4294967295 x 4294967295 is refused", "[hardening][data]") {
    scratch t("idx");
    write_file(t / "img", idx_header({0, 0xFFFFFFFFu, 0xFFFFFFFFu}));
    write_file(t / "lab", idx_header({0}));
    // It used to load, and the loader then died of std::bad_alloc sizing its batch buffer.
    CHECK_THAT(error_of([&] {
                   const auto d = ctnn::data::load_idx(t / "img", t / "lab");
                   ctnn::data::loader l(d, 2, 1);
               }),
               Contains(t / "img") && Contains("exceeds the 16777216-pixel limit"));
    // A data set built by hand with such sizes is refused by the loader, as a ctnn::error.
    ctnn::data::dataset d;
    d.channels = 1;
    d.height = d.width = 0xFFFFFFFFu;
    CHECK_THAT(error_of([&] { ctnn::data::loader l(d, 2, 1); }), Contains("loader: a batch of 2 samples"));
}

TEST_CASE("hardening 8: a gzip CIFAR-10 file stops inflating at the record limit", "[hardening][data]") {
    scratch t("cifar");
    // 60001 records of zeros: 184 MB of content in a gzip file of about 180 KB.
    const std::vector<unsigned char> raw((ctnn::data::cifar10_max_records + 1) * ctnn::data::cifar10_record_bytes, 0);
    write_file(t / "bomb.bin.gz", gzip_bytes(raw));
    CHECK_THAT(error_of([&] { ctnn::data::load_cifar10_file(t / "bomb.bin.gz"); }),
               Contains(t / "bomb.bin.gz") && Contains("more than 60000 records"));
    // A raw file says its size up front: refused before anything is read.
    write_file(t / "big.bin", raw);
    CHECK_THAT(error_of([&] { ctnn::data::load_cifar10_file(t / "big.bin"); }), Contains("more than 60000 records"));
}

TEST_CASE("hardening 9: bytes after the gzip data are an error, another gzip member is not", "[hardening][data]") {
    scratch t("gz");
    std::vector<unsigned char> img = idx_header({2, 2, 2}), lab = idx_header({2});
    img.insert(img.end(), {0, 1, 2, 3, 4, 5, 6, 7});
    lab.insert(lab.end(), {3, 4});
    write_file(t / "lab", lab);
    auto gz = gzip_bytes(img);
    write_file(t / "ok.gz", gz);
    CHECK(ctnn::data::load_idx(t / "ok.gz", t / "lab").count == 2);
    // Two members, split inside the data: one stream of bytes.
    auto two = gzip_bytes(std::vector<unsigned char>(img.begin(), img.begin() + 19));
    const auto rest = gzip_bytes(std::vector<unsigned char>(img.begin() + 19, img.end()));
    two.insert(two.end(), rest.begin(), rest.end());
    write_file(t / "two.gz", two);
    CHECK(ctnn::data::load_idx(t / "two.gz", t / "lab").images == ctnn::data::load_idx(t / "ok.gz", t / "lab").images);
    // Garbage (or zero padding) after the member used to be ignored by gzread.
    for (const std::vector<unsigned char>& tail : {std::vector<unsigned char>{'x', 'y', 'z'}, std::vector<unsigned char>(512, 0),
                                                   std::vector<unsigned char>{0x1f}}) {
        auto bad = gz;
        bad.insert(bad.end(), tail.begin(), tail.end());
        write_file(t / "tail.gz", bad);
        CHECK_THAT(error_of([&] { ctnn::data::load_idx(t / "tail.gz", t / "lab"); }),
                   Contains(t / "tail.gz") && Contains(std::to_string(tail.size()) + " bytes after the end of the gzip data"));
    }
    // The same for CIFAR-10, whose records have no header to stop at.
    std::vector<unsigned char> rec(ctnn::data::cifar10_record_bytes, 1);
    auto cz = gzip_bytes(rec);
    cz.insert(cz.end(), {'j', 'u', 'n', 'k'});
    write_file(t / "c.bin.gz", cz);
    CHECK_THAT(error_of([&] { ctnn::data::load_cifar10_file(t / "c.bin.gz"); }), Contains("4 bytes after the end of the gzip data"));
}

// ---- 10 and 5: a file under a folder that cannot be read is not "missing" -----------------------

namespace {
/// The message of the error f throws when run by an unprivileged user (as root, permissions are
/// not checked, so f runs in a child process that has given up root).
template <class F>
std::string error_as_unprivileged(F&& f) {
    if (::geteuid() != 0) return error_of(f);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string m = (::setgid(65534) == 0 && ::setuid(65534) == 0) ? error_of(f) : "<cannot drop root>";
        const ssize_t w = ::write(fds[1], m.data(), m.size());
        (void)w;
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string m;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) m.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return m;
}
}  // namespace

TEST_CASE("hardening 10: a file under a folder without permission is reported as such, not as missing", "[hardening][data]") {
    scratch t("perm");
    fs::create_directories(t.path / "locked");
    write_file(t / "locked/img", idx_header({0, 1, 1}));
    write_file(t / "locked/data_batch_1.bin", std::vector<unsigned char>(3073, 0));
    fs::permissions(t.path / "locked", fs::perms::owner_all);  // 0700, owned by whoever runs the test
    fs::permissions(t.path, fs::perms::all);                    // the parent stays open
    const std::string m = error_as_unprivileged([&] { ctnn::data::load_idx(t / "locked/img", t / "locked/img"); });
    CHECK_THAT(m, Contains(t / "locked/img") && Contains("Permission denied"));
    CHECK_THAT(m, !Contains("does not exist"));
    CHECK_THAT(error_as_unprivileged([&] { ctnn::data::load_cifar10_dir(t / "locked", true); }), Contains("Permission denied"));
    CHECK_THAT(error_as_unprivileged([&] { ctnn::data::load_mnist_dir(t / "locked", true); }), Contains("Permission denied"));
    Tiny net(1);
    CHECK_THAT(error_as_unprivileged([&] { ctnn::load_safetensors(net, t / "locked/x.safetensors"); }), Contains("Permission denied"));
}

TEST_CASE("hardening 5: a checkpoint path that is a directory is a ctnn::error naming it", "[hardening][checkpoint]") {
    scratch t("ckdir");
    Tiny net(1);
    ctnn::SGD opt(net, 0.1f);
    const auto before = snapshot(net);
    // It used to throw std::ios_base::failure from the stream reading the directory.
    CHECK_THAT(error_of([&] { ctnn::load_checkpoint(t.path.string(), net, opt); }),
               Contains(t.path.string()) && Contains("not a regular file"));
    CHECK_THAT(error_of([&] { ctnn::load_checkpoint(t / "absent.ckpt", net, opt); }), Contains("no such file"));
    CHECK(snapshot(net) == before);
}

// ---- 10: fit checks everything it can before the first step ------------------------------------

namespace {
ctnn::data::dataset toy(std::size_t n, std::size_t features) {
    ctnn::data::dataset d;
    d.count = n;
    d.channels = features;
    d.height = d.width = 1;
    d.classes = 2;
    ctnn::rng g(3);
    for (std::size_t i = 0; i < n * features; ++i) d.images.push_back(g.uniform(-1.0f, 1.0f));
    for (std::size_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 2));
    return d;
}
}  // namespace

TEST_CASE("hardening 10: fit refuses a bad test set or an unwritable checkpoint before the first step", "[hardening][trainer]") {
    scratch t("fit");
    const auto train = toy(32, 4);
    Tiny net(1);
    ctnn::SGD opt(net, 0.1f);
    ctnn::data::loader ld(train, 8, 1);
    const auto before = snapshot(net);
    ctnn::fit_options o;
    o.epochs = 2;
    o.progress = ctnn::progress_mode::none;
    const auto wrong_test = toy(8, 5);
    CHECK_THAT(error_of([&] { ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, &wrong_test, o); }),
               Contains("test set's samples have 5 values"));
    CHECK(snapshot(net) == before);
    CHECK(opt.steps() == 0);

    o.checkpoint = t / "no/such/dir/net.ckpt";
    CHECK_THAT(error_of([&] { ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, o); }),
               Contains(o.checkpoint) && Contains("cannot create a file in its directory (No such file or directory)"));
    o.checkpoint = t.path.string();
    CHECK_THAT(error_of([&] { ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, o); }), Contains("it is a directory"));
    CHECK(snapshot(net) == before);
    CHECK(opt.steps() == 0);
    CHECK(fs::directory_iterator(t.path) == fs::directory_iterator());  // the probe left nothing behind

    o.checkpoint.clear();
    o.metrics_csv = t / "no/such/dir/metrics.csv";
    CHECK_THAT(error_of([&] { ctnn::fit(net, opt, ctnn::CrossEntropy{}, ld, nullptr, o); }),
               Contains(o.metrics_csv) && Contains("No such file or directory"));
    CHECK(opt.steps() == 0);
}

// ---- 11: small misuse --------------------------------------------------------------------------

TEST_CASE("hardening 11: a loss of an empty batch or a null pointer throws", "[hardening][loss]") {
    const float logits[4] = {0.1f, 0.2f, 0.3f, 0.4f}, targets[4] = {0, 1, 0, 1};
    const std::int32_t labels[2] = {0, 1};
    CHECK_THAT(error_of([&] { ctnn::CrossEntropy{}(logits, labels, 0, 2, nullptr); }), Contains("CrossEntropy") && Contains("n = 0"));
    CHECK_THAT(error_of([&] { ctnn::MSE{}(logits, targets, 0, 2, nullptr); }), Contains("MSE") && Contains("n = 0"));
    CHECK_THAT(error_of([&] { ctnn::BCEWithLogits{}(logits, targets, 0, 2, nullptr); }), Contains("n = 0"));
    CHECK_THAT(error_of([&] { ctnn::CrossEntropy{}(logits, nullptr, 2, 2, nullptr); }), Contains("pointer is null"));
    CHECK_THAT(error_of([&] { ctnn::MSE{}(nullptr, targets, 2, 2, nullptr); }), Contains("pointer is null"));
    CHECK_THAT(error_of([&] { ctnn::CrossEntropy{}(logits, labels, 2, 0, nullptr); }), Contains("0 outputs"));
    CHECK(std::isfinite(ctnn::CrossEntropy{}(logits, labels, 2, 2, nullptr)));
    ctnn::rng r(1);
    float out[4];
    CHECK_THAT(error_of([&] { ctnn::data::loader::apply({.hflip = true}, 1, 2, 2, nullptr, out, r); }), Contains("null"));
}

TEST_CASE("hardening 11: CTNN_NUM_THREADS out of range is refused, above the maximum clamped with a note", "[hardening][threads]") {
    using ctnn::detail::threads_from_env;
    CHECK(threads_from_env(nullptr, 3, nullptr) == 3);
    CHECK(threads_from_env("", 3, nullptr) == 3);
    CHECK(threads_from_env("2", 3, nullptr) == 2);
    for (const char* bad : {"0", "-1", "x", "2x", "99999999999999999999", " 2"})
        CHECK_THAT(error_of([&] { threads_from_env(bad, 3, nullptr); }), Contains("CTNN_NUM_THREADS='" + std::string(bad) + "'"));
    std::FILE* note = std::tmpfile();
    REQUIRE(note);
    CHECK(threads_from_env("1000", 3, note) == ctnn::detail::max_threads);
    std::rewind(note);
    char line[200] = {};
    CHECK(std::fgets(line, sizeof line, note) != nullptr);
    CHECK_THAT(std::string(line), Contains("CTNN_NUM_THREADS=1000") && Contains("using 64"));
    std::fclose(note);
}

TEST_CASE("hardening 3: a training step whose forward throws leaves the net as it was", "[hardening][train]") {
    // A BatchNorm before a Dropout and a second BatchNorm that refuses one value per channel: the
    // first BatchNorm's running statistics and the Dropout's random draws have moved when the
    // second throws.
    using Net = ctnn::Sequential<ctnn::Input<2, 3, 3>, ctnn::Conv<2, 3, 3, 1, 1>, ctnn::BatchNorm<3>, ctnn::Dropout<20>,
                                 ctnn::GlobalAvgPool, ctnn::BatchNorm<3>, ctnn::Linear<3, 2>>;
    Net net(4);
    ctnn::SGD opt(net, 0.1f);
    std::vector<float> x(2 * 18, 0.5f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i));
    std::vector<std::int32_t> y = {0, 1};
    ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), y.data(), 2);  // a good step: stats away from the initial ones
    const std::vector<float> params(net.params().begin(), net.params().end());
    const std::vector<float> buffers(net.buffers().begin(), net.buffers().end());
    const std::uint64_t rng = net.generator().state();
    CHECK_THROWS_AS(ctnn::train_step(net, opt, ctnn::CrossEntropy{}, x.data(), y.data(), 1), ctnn::error);
    CHECK(std::vector<float>(net.params().begin(), net.params().end()) == params);
    CHECK(std::vector<float>(net.buffers().begin(), net.buffers().end()) == buffers);
    CHECK(net.generator().state() == rng);
    CHECK(opt.steps() == 1);
}
