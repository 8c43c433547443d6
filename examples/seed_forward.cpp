#include <ctnn/ctnn.hpp>
#include <vector>
using SeedNet = ctnn::Sequential<ctnn::Input<3, 32, 32>,
    ctnn::Conv<3, 16, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Conv<16, 32, 3, 1, 1>, ctnn::ReLU, ctnn::MaxPool<2>,
    ctnn::Flatten, ctnn::Linear<32 * 8 * 8, 10>>;
static_assert(std::is_same_v<SeedNet::output_shape, ctnn::Shape<10>>);
static_assert(SeedNet::param_count == 25'578);
int main() {
  SeedNet net(42);
  std::cout << SeedNet::summary();
  std::vector<float> in(3*32*32*5, 0.5f), out(50);
  for (size_t i=0;i<in.size();++i) in[i] = float(i%17)/17.f;
  net.forward(in.data(), out.data(), 5);
  for (int i=0;i<10;++i) std::cout << out[i] << " "; std::cout << "\n";
  const float* y = net.forward_train(in.data(), 5);
  std::vector<float> d(50, 0.1f);
  net.zero_grad(); net.backward(d.data());
  std::cout << y[0] << " " << net.grads()[0] << "\n";
}
