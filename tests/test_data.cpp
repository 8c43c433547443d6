// Data readers and loader: small files generated here in the real formats (IDX raw and gzip,
// CIFAR-10 binary), every malformed case, the loader's order/batching/augmentation, and the real
// Fashion-MNIST files when the Debian package is installed.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ctnn/data.hpp"

namespace fs = std::filesystem;
using namespace ctnn::data;
using bytes = std::vector<unsigned char>;
using Catch::Contains;

namespace {

/// A fresh directory under the system temp dir, removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        const auto tag = (std::uint64_t{rd()} << 32) ^ rd();
        path = fs::temp_directory_path() / ("ctnn_test_data_" + std::to_string(tag));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_file(const std::string& p, const bytes& b) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    REQUIRE(f.good());
}

bytes read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(f), {});
}

void write_gz(const std::string& p, const bytes& b) {
    gzFile g = gzopen(p.c_str(), "wb");
    REQUIRE(g != nullptr);
    REQUIRE(gzwrite(g, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
    REQUIRE(gzclose(g) == Z_OK);
}

void put_be32(bytes& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w, const bytes& pixels) {
    bytes b{0, 0, 0x08, 3};
    put_be32(b, n);
    put_be32(b, h);
    put_be32(b, w);
    b.insert(b.end(), pixels.begin(), pixels.end());
    return b;
}

bytes idx_labels(const bytes& labels) {
    bytes b{0, 0, 0x08, 1};
    put_be32(b, static_cast<std::uint32_t>(labels.size()));
    b.insert(b.end(), labels.begin(), labels.end());
    return b;
}

bytes random_bytes(ctnn::rng& r, std::size_t n, unsigned below = 256) {
    bytes b(n);
    for (auto& x : b) x = static_cast<unsigned char>(r.below(below));
    return b;
}

/// Random IDX content: n images of h x w and n labels 0..9.
struct idx_content {
    std::uint32_t n, h, w;
    bytes pixels, labels;
    idx_content(ctnn::rng& r, std::uint32_t n_, std::uint32_t h_, std::uint32_t w_)
        : n(n_), h(h_), w(w_), pixels(random_bytes(r, std::size_t{n_} * h_ * w_)), labels(random_bytes(r, n_, 10)) {}
    bytes images_file() const { return idx_images(n, h, w, pixels); }
    bytes labels_file() const { return idx_labels(labels); }
};

void check_idx(const dataset& d, const idx_content& c) {
    REQUIRE(d.count == c.n);
    REQUIRE(d.channels == 1);
    REQUIRE(d.height == c.h);
    REQUIRE(d.width == c.w);
    REQUIRE(d.classes == 10);
    REQUIRE(d.images.size() == c.pixels.size());
    REQUIRE(d.labels.size() == c.labels.size());
    for (std::size_t i = 0; i < c.pixels.size(); ++i)
        if (d.images[i] != static_cast<float>(c.pixels[i]) / 255.0f) FAIL("pixel " << i << " differs");
    for (std::size_t i = 0; i < c.labels.size(); ++i) REQUIRE(d.labels[i] == c.labels[i]);
}

/// The message of the ctnn::error f throws, or a marker saying what happened instead.
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

bytes cifar_records(ctnn::rng& r, std::size_t n) {
    bytes b;
    for (std::size_t i = 0; i < n; ++i) {
        b.push_back(static_cast<unsigned char>(r.below(10)));
        const bytes px = random_bytes(r, cifar10_image_bytes);
        b.insert(b.end(), px.begin(), px.end());
    }
    return b;
}

void check_cifar(const dataset& d, std::size_t first, const bytes& recs) {
    const std::size_t n = recs.size() / cifar10_record_bytes;
    REQUIRE(d.count >= first + n);
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char* rec = recs.data() + i * cifar10_record_bytes;
        REQUIRE(d.labels[first + i] == rec[0]);
        const float* img = d.image(first + i);
        for (std::size_t k = 0; k < cifar10_image_bytes; ++k)
            if (img[k] != static_cast<float>(rec[1 + k]) / 255.0f) FAIL("record " << i << " pixel " << k);
    }
}

/// A dataset of n random images [c, h, w]; pixel 0 of sample i holds i (to identify it).
dataset random_dataset(ctnn::rng& r, std::size_t n, std::size_t c, std::size_t h, std::size_t w) {
    dataset d;
    d.count = n;
    d.channels = c;
    d.height = h;
    d.width = w;
    d.classes = 10;
    d.images.resize(n * d.sample_size());
    for (auto& x : d.images) x = r.uniform(-1.0f, 1.0f);
    d.labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        d.images[i * d.sample_size()] = static_cast<float>(i);
        d.labels[i] = static_cast<std::int32_t>(r.below(10));
    }
    return d;
}

}  // namespace

TEST_CASE("IDX: raw and gzip files round-trip exactly", "[data][idx]") {
    temp_dir t;
    ctnn::rng r(101);
    const idx_content c(r, 37, 5, 7);
    write_file(t / "img", c.images_file());
    write_file(t / "lab", c.labels_file());
    write_gz(t / "img.gz", c.images_file());
    write_gz(t / "lab.gz", c.labels_file());
    REQUIRE(read_file(t / "img.gz").size() > 2);
    REQUIRE(read_file(t / "img.gz")[0] == 0x1f);

    SECTION("raw") { check_idx(load_idx(t / "img", t / "lab"), c); }
    SECTION("gzip") { check_idx(load_idx(t / "img.gz", t / "lab.gz"), c); }
    SECTION("mixed, and gzip detected by content, not by name") {
        fs::copy_file(t / "img.gz", t / "img_noext");
        check_idx(load_idx(t / "img_noext", t / "lab"), c);
    }
    SECTION("multi-member gzip (concatenated streams)") {
        const bytes whole = c.images_file();
        write_gz(t / "a.gz", bytes(whole.begin(), whole.begin() + 100));
        write_gz(t / "b.gz", bytes(whole.begin() + 100, whole.end()));
        bytes both = read_file(t / "a.gz");
        const bytes b2 = read_file(t / "b.gz");
        both.insert(both.end(), b2.begin(), b2.end());
        write_file(t / "ab.gz", both);
        check_idx(load_idx(t / "ab.gz", t / "lab.gz"), c);
    }
    SECTION("empty set") {
        write_file(t / "img0", idx_images(0, 28, 28, {}));
        write_file(t / "lab0", idx_labels({}));
        const dataset d = load_idx(t / "img0", t / "lab0");
        CHECK(d.count == 0);
        CHECK(d.images.empty());
    }
    SECTION("other class counts") {
        bytes labs = c.labels;
        labs[3] = 25;
        write_file(t / "lab26", idx_labels(labs));
        const dataset d = load_idx(t / "img", t / "lab26", 26);
        CHECK(d.classes == 26);
        CHECK(d.labels[3] == 25);
    }
}

TEST_CASE("IDX: MNIST-style directories, .gz preferred, raw accepted", "[data][idx]") {
    temp_dir t;
    ctnn::rng r(202);
    const idx_content train(r, 23, 4, 6), test(r, 11, 4, 6);
    write_gz(t / "train-images-idx3-ubyte.gz", train.images_file());
    write_gz(t / "train-labels-idx1-ubyte.gz", train.labels_file());
    write_file(t / "t10k-images-idx3-ubyte", test.images_file());
    write_file(t / "t10k-labels-idx1-ubyte", test.labels_file());
    check_idx(load_mnist_dir(t.path.string(), true), train);
    check_idx(load_mnist_dir(t.path.string(), false), test);

    fs::remove(t / "t10k-labels-idx1-ubyte");
    const std::string m = error_of([&] { load_mnist_dir(t.path.string(), false); });
    CHECK_THAT(m, Contains(t / "t10k-labels-idx1-ubyte") && Contains("does not exist"));
    CHECK_THAT(error_of([&] { load_mnist_dir(t / "nope", true); }), Contains(t / "nope") && Contains("not a directory"));
}

TEST_CASE("IDX: every malformed file gives a ctnn::error naming the file and the problem", "[data][idx][errors]") {
    temp_dir t;
    ctnn::rng r(303);
    const idx_content c(r, 20, 3, 4);
    const std::string img = t / "images.idx", lab = t / "labels.idx";
    write_file(img, c.images_file());
    write_file(lab, c.labels_file());
    REQUIRE_NOTHROW(load_idx(img, lab));

    auto expect = [&](const std::string& bad_img, const std::string& bad_lab, const std::string& file,
                      const std::string& problem) {
        const std::string m = error_of([&] { load_idx(bad_img, bad_lab); });
        INFO("message: " << m);
        CHECK_THAT(m, Contains(file) && Contains(problem));
    };
    auto with_images = [&](const std::string& name, const bytes& b, const std::string& problem, bool gz = false) {
        const std::string p = t / name;
        if (gz)
            write_gz(p, b);
        else
            write_file(p, b);
        expect(p, lab, p, problem);
    };
    bytes good = c.images_file();

    SECTION("missing files") {
        expect(t / "absent-images", lab, t / "absent-images", "does not exist");
        expect(img, t / "absent-labels", t / "absent-labels", "does not exist");
        expect(t.path.string(), lab, t.path.string(), "not a regular file");
    }
    SECTION("wrong magic number") {
        bytes b = good;
        b[0] = 0x12;
        b[1] = 0x34;
        with_images("magic", b, "wrong magic number 0x12340803");
        with_images("magic.gz", b, "wrong magic number", true);
        with_images("text", bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, "wrong magic number");
    }
    SECTION("unsupported element type") {
        bytes b = good;
        b[2] = 0x0D;
        with_images("float", b, "unsupported IDX element type 0x0D");
    }
    SECTION("bad dimension count") {
        with_images("labels-as-images", c.labels_file(), "bad dimension count 1");
        expect(img, img, img, "bad dimension count 3");  // images file given as the labels
    }
    SECTION("truncated") {
        with_images("short-header", bytes(good.begin(), good.begin() + 3), "truncated");
        with_images("short-dims", bytes(good.begin(), good.begin() + 10), "truncated");
        with_images("short-data", bytes(good.begin(), good.end() - 1), "truncated");
        with_images("short-data.gz", bytes(good.begin(), good.end() - 5), "truncated", true);
        // A gzip stream cut in the middle (zlib reports an unexpected end of file).
        write_gz(t / "full.gz", good);
        bytes z = read_file(t / "full.gz");
        z.resize(z.size() / 2);
        with_images("cut.gz", z, "truncated");
        with_images("empty", bytes{}, "truncated");
    }
    SECTION("corrupt gzip data") {
        bytes big_pixels = random_bytes(r, 20 * 3 * 4);
        write_gz(t / "full.gz", idx_images(20, 3, 4, big_pixels));
        bytes z = read_file(t / "full.gz");
        for (std::size_t i = 12; i < z.size() - 8; ++i) z[i] ^= 0x5A;
        with_images("corrupt.gz", z, "gzip");
    }
    SECTION("data after the end") {
        bytes b = good;
        b.push_back(7);
        with_images("long", b, "longer than its IDX header");
        with_images("long.gz", b, "longer than its IDX header", true);
    }
    SECTION("huge header dimensions are rejected before allocating") {
        with_images("huge", idx_images(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, {1, 2, 3}), "truncated");
        with_images("huge.gz", idx_images(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, {1, 2, 3}), "truncated", true);
        // Big but not overflowing: 60000 x 28 x 28 declared, 10 bytes present.
        with_images("big.gz", idx_images(60000, 28, 28, bytes(10, 1)), "truncated", true);
        const std::string huge_lab = t / "huge-labels";
        bytes hl{0, 0, 0x08, 1};
        put_be32(hl, 0xFFFFFFF0u);
        write_file(huge_lab, hl);
        expect(img, huge_lab, huge_lab, "truncated");
    }
    SECTION("image count disagrees with label count") {
        bytes fewer(c.labels.begin(), c.labels.end() - 1);
        write_file(t / "labels19", idx_labels(fewer));
        const std::string m = error_of([&] { load_idx(img, t / "labels19"); });
        CHECK_THAT(m, Contains(img) && Contains(t / "labels19") && Contains("20 images") && Contains("19 labels"));
    }
    SECTION("label out of range") {
        bytes labs = c.labels;
        labs[7] = 10;
        write_file(t / "badlab", idx_labels(labs));
        expect(img, t / "badlab", t / "badlab", "label 10 of item 7 is out of range");
    }
    SECTION("zero-size images") {
        with_images("zero", idx_images(20, 0, 4, {}), "bad image size 0x4");
    }
}

TEST_CASE("CIFAR-10: binary batches round-trip exactly", "[data][cifar10]") {
    temp_dir t;
    ctnn::rng r(404);
    const bytes a = cifar_records(r, 5);

    SECTION("one file, raw and gzip") {
        write_file(t / "batch.bin", a);
        const dataset d = load_cifar10_file(t / "batch.bin");
        CHECK(d.count == 5);
        CHECK(d.channels == 3);
        CHECK(d.height == 32);
        CHECK(d.width == 32);
        CHECK(d.classes == 10);
        CHECK(d.images.size() == 5 * 3072);
        check_cifar(d, 0, a);
        write_gz(t / "batch.bin.gz", a);
        check_cifar(load_cifar10_file(t / "batch.bin.gz"), 0, a);
    }
    SECTION("directory: five training batches in order, and the test batch") {
        std::vector<bytes> parts;
        for (int i = 1; i <= 5; ++i) {
            parts.push_back(cifar_records(r, static_cast<std::size_t>(i + 1)));
            write_file(t / ("data_batch_" + std::to_string(i) + ".bin"), parts.back());
        }
        write_file(t / "test_batch.bin", a);
        const dataset tr = load_cifar10_dir(t.path.string(), true);
        REQUIRE(tr.count == 2 + 3 + 4 + 5 + 6);
        std::size_t at = 0;
        for (const auto& p : parts) {
            check_cifar(tr, at, p);
            at += p.size() / cifar10_record_bytes;
        }
        const dataset te = load_cifar10_dir(t.path.string(), false);
        CHECK(te.count == 5);
        check_cifar(te, 0, a);

        fs::remove(t / "data_batch_3.bin");
        CHECK_THAT(error_of([&] { load_cifar10_dir(t.path.string(), true); }),
                   Contains(t / "data_batch_3.bin") && Contains("does not exist"));
    }
    SECTION("the official archive's cifar-10-batches-bin subdirectory is found") {
        fs::create_directories(t.path / "cifar-10-batches-bin");
        write_file((t.path / "cifar-10-batches-bin" / "test_batch.bin").string(), a);
        check_cifar(load_cifar10_dir(t.path.string(), false), 0, a);
    }
}

TEST_CASE("CIFAR-10: malformed files give a ctnn::error naming the file and the problem", "[data][cifar10][errors]") {
    temp_dir t;
    ctnn::rng r(505);
    bytes a = cifar_records(r, 3);
    auto expect = [&](const std::string& name, const bytes& b, const std::string& problem, bool gz = false) {
        const std::string p = t / name;
        if (gz)
            write_gz(p, b);
        else
            write_file(p, b);
        const std::string m = error_of([&] { load_cifar10_file(p); });
        INFO("message: " << m);
        CHECK_THAT(m, Contains(p) && Contains(problem));
    };
    CHECK_THAT(error_of([&] { load_cifar10_file(t / "none.bin"); }), Contains(t / "none.bin") && Contains("does not exist"));
    expect("short.bin", bytes(a.begin(), a.end() - 1), "not a multiple of the 3073-byte");
    expect("long.bin", [&] { bytes b = a; b.push_back(0); return b; }(), "not a multiple of the 3073-byte");
    expect("short.bin.gz", bytes(a.begin(), a.end() - 100), "not a multiple of the 3073-byte", true);
    expect("empty.bin", bytes{}, "empty file");
    bytes bad = a;
    bad[2 * cifar10_record_bytes] = 10;
    expect("label.bin", bad, "label 10 of record 2 is out of range");
    bad[2 * cifar10_record_bytes] = 255;
    expect("label.bin.gz", bad, "label 255 of record 2 is out of range", true);
    CHECK_THAT(error_of([&] { load_cifar10_dir(t / "nodir", true); }), Contains(t / "nodir"));
}

TEST_CASE("dataset: subset, filter_classes, normalize, check", "[data]") {
    ctnn::rng r(606);
    dataset d = random_dataset(r, 50, 3, 4, 5);
    REQUIRE_NOTHROW(d.check());

    const dataset s = d.subset({7, 3, 7, 49});
    REQUIRE(s.count == 4);
    CHECK(s.sample_size() == d.sample_size());
    for (std::size_t k = 0; k < 4; ++k) {
        const std::size_t i = std::vector<std::size_t>{7, 3, 7, 49}[k];
        CHECK(s.labels[k] == d.labels[i]);
        CHECK(std::equal(s.image(k), s.image(k) + s.sample_size(), d.image(i)));
    }
    CHECK_THROWS_AS(d.subset({50}), ctnn::error);
    CHECK_THROWS_AS(d.image(50), ctnn::error);

    const dataset f = d.filter_classes(2, 4, true);
    const dataset g = d.filter_classes(2, 4, false);
    CHECK(f.classes == 3);
    CHECK(g.classes == 10);
    std::size_t k = 0;
    for (std::size_t i = 0; i < d.count; ++i)
        if (d.labels[i] >= 2 && d.labels[i] <= 4) {
            REQUIRE(k < f.count);
            CHECK(f.labels[k] == d.labels[i] - 2);
            CHECK(g.labels[k] == d.labels[i]);
            CHECK(f.image(k)[0] == static_cast<float>(i));
            ++k;
        }
    CHECK(k == f.count);
    CHECK_NOTHROW(f.check());
    CHECK_THROWS_AS(d.filter_classes(4, 2, true), ctnn::error);

    const std::vector<float> mean{0.1f, -0.2f, 0.3f}, sd{0.5f, 2.0f, 0.25f};
    dataset n = d;
    normalize(n, mean, sd);
    for (std::size_t i = 0; i < d.count; ++i)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t p = 0; p < 20; ++p) {
                const std::size_t at = i * 60 + c * 20 + p;
                REQUIRE(n.images[at] == Approx((d.images[at] - mean[c]) / sd[c]).epsilon(1e-6).margin(1e-6));
            }
    auto [m2, s2] = channel_stats(n);
    auto [m1, s1] = channel_stats(d);
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(m2[c] == Approx((m1[c] - mean[c]) / sd[c]).margin(1e-5));
        CHECK(s2[c] == Approx(s1[c] / sd[c]).epsilon(1e-4));
    }
    CHECK_THAT(error_of([&] { normalize(n, {0.f, 0.f}, {1.f, 1.f, 1.f}); }), Contains("mean has 2 entries"));
    CHECK_THAT(error_of([&] { normalize(n, {0.f}, {1.f, 0.f, 1.f}); }), Contains("not positive"));

    dataset broken = d;
    broken.labels[4] = 10;
    CHECK_THAT(error_of([&] { broken.check(); }), Contains("label 10 of sample 4"));
    broken.labels.pop_back();
    CHECK_THROWS_AS(broken.check(), ctnn::error);
}

TEST_CASE("loader: every sample once per epoch, seeded order, partial last batch", "[data][loader]") {
    ctnn::rng r(707);
    const dataset d = random_dataset(r, 103, 2, 3, 3);
    const std::size_t s = d.sample_size();

    auto epoch_order = [&](loader& l) {
        std::vector<std::size_t> seen;
        std::vector<std::size_t> sizes;
        while (l.next()) {
            sizes.push_back(l.batch_size());
            for (std::size_t k = 0; k < l.batch_size(); ++k) {
                const std::size_t i = static_cast<std::size_t>(l.images()[k * s]);
                REQUIRE(l.indices()[k] == i);
                REQUIRE(l.labels()[k] == d.labels[i]);
                REQUIRE(std::equal(l.images() + k * s, l.images() + (k + 1) * s, d.image(i)));
                seen.push_back(i);
            }
        }
        CHECK(l.batch_size() == 0);
        return std::make_pair(seen, sizes);
    };

    loader a(d, 10, 42);
    CHECK(a.batches_per_epoch() == 11);
    CHECK(a.max_batch() == 10);
    auto [o0, sizes] = epoch_order(a);
    REQUIRE(o0.size() == 103);
    CHECK(std::set<std::size_t>(o0.begin(), o0.end()).size() == 103);
    CHECK(sizes == std::vector<std::size_t>{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3});
    std::vector<std::size_t> identity(103);
    std::iota(identity.begin(), identity.end(), std::size_t{0});
    CHECK(o0 != identity);

    // After the end, next() starts the following epoch with a new order.
    auto [o1, sizes1] = epoch_order(a);
    CHECK(a.epoch() == 1);
    CHECK(std::set<std::size_t>(o1.begin(), o1.end()).size() == 103);
    CHECK(o1 != o0);

    // Same seed: same orders, whatever the batch size; start_epoch replays any epoch.
    loader b(d, 7, 42);
    CHECK(epoch_order(b).first == o0);
    b.start_epoch(1);
    CHECK(epoch_order(b).first == o1);
    b.start_epoch(0);
    CHECK(epoch_order(b).first == o0);
    // reset() replays the current epoch from its start.
    b.start_epoch(1);
    REQUIRE(b.next());
    REQUIRE(b.next());
    CHECK(b.batch_index() == 1);
    b.reset();
    CHECK(epoch_order(b).first == o1);

    // Another seed: another order.
    loader c(d, 10, 43);
    CHECK(epoch_order(c).first != o0);

    // No shuffling: dataset order, every epoch.
    loader seq(d, 25, 42, false);
    CHECK(epoch_order(seq).first == identity);
    CHECK(epoch_order(seq).first == identity);

    // drop_last: only full batches, all distinct.
    loader dl(d, 10, 42, true, {}, true);
    CHECK(dl.batches_per_epoch() == 10);
    auto [od, sd] = epoch_order(dl);
    CHECK(od.size() == 100);
    CHECK(std::set<std::size_t>(od.begin(), od.end()).size() == 100);
    CHECK(std::vector<std::size_t>(o0.begin(), o0.begin() + 100) == od);

    // Batch larger than the data set: one partial batch.
    loader big(d, 1000, 1);
    CHECK(big.batches_per_epoch() == 1);
    CHECK(epoch_order(big).second == std::vector<std::size_t>{103});

    CHECK_THROWS_AS(loader(d, 0, 1), ctnn::error);

    // A data set that shrinks under the loader is caught, and adopted at the next epoch.
    dataset shrinking = d;
    loader sh(shrinking, 10, 42);
    REQUIRE(sh.next());
    shrinking = d.subset({0, 1, 2});
    CHECK_THAT(error_of([&] { sh.next(); }), Contains("changed size"));
    sh.start_epoch(0);
    CHECK(epoch_order(sh).first.size() == 3);
    dataset empty;
    loader none(empty, 4, 1);
    CHECK_FALSE(none.next());
    CHECK(none.batches_per_epoch() == 0);
}

TEST_CASE("loader: random crop with zero padding and horizontal flip", "[data][loader][augment]") {
    SECTION("a known 3x3 image, pad 1, offset (0, 2), flipped") {
        // Find a seed whose draws are dy = 0, dx = 2, flip (the draw order is documented in apply()).
        const augment aug{1, true, -1.0f};
        std::uint64_t seed = 0;
        for (;; ++seed) {
            ctnn::rng r(seed);
            const auto dy = r.below(3), dx = r.below(3);
            const bool flip = r.next() >> 63;
            if (dy == 0 && dx == 2 && flip) break;
        }
        const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        float out[9];
        ctnn::rng r(seed);
        loader::apply(aug, 1, 3, 3, in, out, r);
        // padded (F = -1):  F F F F F / F 1 2 3 F / F 4 5 6 F / F 7 8 9 F / F F F F F
        // rows 0..2, columns 2..4:  F F F / 2 3 F / 5 6 F ; mirrored:  F F F / F 3 2 / F 6 5
        const float want[9] = {-1, -1, -1, -1, 3, 2, -1, 6, 5};
        for (int i = 0; i < 9; ++i) CHECK(out[i] == want[i]);
    }

    SECTION("every output is one of the padded crops, all of them occur, about half flipped") {
        ctnn::rng r(808);
        const std::size_t C = 2, H = 5, W = 6, P = 2;
        dataset d = random_dataset(r, 400, C, H, W);
        for (auto& x : d.images) x += 5.0f;  // no pixel equals the fill value 0
        const augment aug{P, true};
        loader l(d, 64, 9, true, aug);
        std::set<std::tuple<std::size_t, std::size_t, bool>> seen;
        std::size_t flips = 0, total = 0;
        for (int e = 0; e < 3; ++e) {
            l.start_epoch(static_cast<std::size_t>(e));
            while (l.next())
                for (std::size_t k = 0; k < l.batch_size(); ++k) {
                    const float* in = d.image(l.indices()[k]);
                    const float* out = l.images() + k * d.sample_size();
                    // Reference: build the padded image explicitly, try every crop and flip.
                    const std::size_t PH = H + 2 * P, PW = W + 2 * P;
                    std::vector<float> padded(C * PH * PW, 0.0f);
                    for (std::size_t c = 0; c < C; ++c)
                        for (std::size_t y = 0; y < H; ++y)
                            for (std::size_t x = 0; x < W; ++x)
                                padded[(c * PH + y + P) * PW + x + P] = in[(c * H + y) * W + x];
                    int matches = 0;
                    for (std::size_t dy = 0; dy <= 2 * P; ++dy)
                        for (std::size_t dx = 0; dx <= 2 * P; ++dx)
                            for (bool flip : {false, true}) {
                                bool same = true;
                                for (std::size_t c = 0; c < C && same; ++c)
                                    for (std::size_t y = 0; y < H && same; ++y)
                                        for (std::size_t x = 0; x < W && same; ++x) {
                                            const std::size_t sx = flip ? W - 1 - x : x;
                                            same = out[(c * H + y) * W + x] == padded[(c * PH + y + dy) * PW + sx + dx];
                                        }
                                if (same) {
                                    ++matches;
                                    seen.insert({dy, dx, flip});
                                    flips += flip;
                                }
                            }
                    REQUIRE(matches == 1);
                    ++total;
                }
        }
        CHECK(total == 1200);
        CHECK(seen.size() == (2 * P + 1) * (2 * P + 1) * 2);
        CHECK(flips > 500);
        CHECK(flips < 700);

        // Deterministic: the same seed gives the same augmented batches.
        loader l2(d, 64, 9, true, aug), l3(d, 64, 10, true, aug);
        l.start_epoch(0);
        bool differs = false;
        while (l.next()) {
            REQUIRE(l2.next());
            REQUIRE(l3.next());
            REQUIRE(std::equal(l.images(), l.images() + l.batch_size() * d.sample_size(), l2.images()));
            differs |= !std::equal(l.images(), l.images() + l.batch_size() * d.sample_size(), l3.images());
        }
        CHECK(differs);
    }

    SECTION("flip only, no padding: a mirror image") {
        ctnn::rng r(909);
        const dataset d = random_dataset(r, 64, 3, 4, 5);
        loader l(d, 64, 3, false, augment{0, true});
        REQUIRE(l.next());
        std::size_t flipped = 0;
        for (std::size_t k = 0; k < 64; ++k) {
            const float* in = d.image(k);
            const float* out = l.images() + k * d.sample_size();
            const bool same = std::equal(in, in + d.sample_size(), out);
            bool mirrored = true;
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t y = 0; y < 4; ++y)
                    for (std::size_t x = 0; x < 5; ++x)
                        mirrored &= out[(c * 4 + y) * 5 + x] == in[(c * 4 + y) * 5 + 4 - x];
            CHECK(same != mirrored);
            flipped += mirrored;
        }
        CHECK(flipped > 16);
        CHECK(flipped < 48);
    }
}

TEST_CASE("Fashion-MNIST: the installed files load completely", "[data][fashion-mnist]") {
    const std::string dir = fashion_mnist_default_dir;
    if (!fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz") && !fs::exists(fs::path(dir) / "train-images-idx3-ubyte")) {
        WARN("SKIPPED: " << dir << " not installed (Debian package dataset-fashion-mnist)");  // CTest: skipped
        return;
    }
    for (bool train : {true, false}) {
        const dataset d = load_mnist_dir(dir, train);
        const std::size_t n = train ? 60000 : 10000;
        CHECK(d.count == n);
        CHECK(d.channels == 1);
        CHECK(d.height == 28);
        CHECK(d.width == 28);
        CHECK(d.classes == 10);
        CHECK(d.images.size() == n * 784);
        CHECK_NOTHROW(d.check());
        CHECK(d.class_counts() == std::vector<std::size_t>(10, n / 10));
        const auto [lo, hi] = std::minmax_element(d.images.begin(), d.images.end());
        CHECK(*lo == 0.0f);
        CHECK(*hi == 1.0f);
        if (train) {  // the well-known statistics of the training set
            const auto [mean, sd] = channel_stats(d);
            CHECK(mean[0] == Approx(0.2860).margin(5e-4));
            CHECK(sd[0] == Approx(0.3530).margin(5e-4));
        }
    }
}

TEST_CASE("IDX and CIFAR-10 readers: damaged files load or throw ctnn::error, never crash", "[data][errors][fuzz]") {
    temp_dir t;
    ctnn::rng r(1010);
    const idx_content c(r, 9, 4, 3);
    const bytes cifar = cifar_records(r, 2);
    write_file(t / "img", c.images_file());
    write_file(t / "lab", c.labels_file());
    std::size_t loaded = 0, rejected = 0;
    for (int iter = 0; iter < 300; ++iter) {
        const int kind = iter % 3;  // 0: IDX images, 1: IDX labels, 2: CIFAR-10
        bytes b = kind == 0 ? c.images_file() : kind == 1 ? c.labels_file() : cifar;
        // Damage: flip a few bytes (often in the header), then maybe cut or extend the file.
        const std::size_t flips = 1 + r.below(3);
        for (std::size_t f = 0; f < flips; ++f) {
            const std::size_t at = r.below(2) ? r.below(std::min<std::size_t>(b.size(), 16)) : r.below(b.size());
            b[at] = static_cast<unsigned char>(r.below(256));
        }
        if (r.below(3) == 0) b.resize(r.below(b.size() + 1));
        const std::string p = t / ("f" + std::to_string(iter));
        if (r.below(2))
            write_gz(p, b);
        else
            write_file(p, b);
        const std::string m = error_of([&] {
            if (kind == 0) load_idx(p, t / "lab");
            if (kind == 1) load_idx(t / "img", p);
            if (kind == 2) load_cifar10_file(p);
        });
        if (m == "<no exception>") {
            ++loaded;
        } else {
            INFO("message: " << m);
            CHECK_THAT(m, Contains(p));
            ++rejected;
        }
    }
    CHECK(rejected > 150);
    CHECK(loaded > 5);
}
