// A kernel declares what it needs in one kernel_traits value: a misspelled field does not compile
// (it cannot silently become 0, an under-sized buffer).
// expect: scrach
#include <ctnn/ctnn.hpp>

struct Twice : ctnn::layer_base {
    static constexpr std::string_view kind = "Twice";
    static std::string name() { return "Twice"; }
};
template <class In>
struct ctnn::kernel<Twice, In, ctnn::reference> : ctnn::kernel_base {
    static constexpr kernel_traits traits{.scrach = 1024};
    static void forward(const forward_args&) {}
    static void backward(const backward_args&) {}
};

int main() { return int(ctnn::kernel<Twice, ctnn::Shape<4>, ctnn::reference>::traits.scratch); }
