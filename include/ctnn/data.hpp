// ctnn data sets: IDX (MNIST / Fashion-MNIST, gzip or raw), CIFAR-10 binary batches, and a loader
// with seeded shuffling, batching and augmentation. Needs zlib (linked by the ctnn::ctnn target).
#pragma once
#include "data/cifar10.hpp"
#include "data/dataset.hpp"
#include "data/idx.hpp"
#include "data/loader.hpp"
