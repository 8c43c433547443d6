// Knowledge distillation through fit: the student trains on the Distillation loss (loss.hpp)
// against a teacher's outputs for each batch.
//
//   Teacher teacher(1);  /* trained, or loaded */      // any ctnn net with the student's input and output sizes
//   Student student(2);
//   ctnn::SGD opt(student, 0.05f, {.momentum = 0.9f});
//   ctnn::Distillation kd{.temperature = 4.0f, .alpha = 0.9f};
//   auto h = ctnn::distill(student, opt, teacher, kd, loader, &test, o);   // the teacher runs on each batch
//
//   ctnn::set_teacher_targets(teacher, train_set);      // or its outputs once, as the set's targets
//   auto h = ctnn::distill(student, opt, kd, loader, &test, o);
//
// With a teacher, it sees exactly the student's batch (augmented the same way), in inference
// mode; its outputs go into one buffer of the loader's batch size, made once. Precomputed outputs
// are of the images as stored (no augmentation): cheaper when the teacher costs more than the
// student, a different recipe when the loader augments. Everything else is fit's: options,
// metrics, checkpoints of the student, resume.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../data.hpp"
#include "../error.hpp"
#include "loss.hpp"
#include "trainer.hpp"

namespace ctnn {

/// A loss against a teacher's outputs: with_teacher(outputs) gives a loss on class labels
/// (Distillation; continual::lwf_loss).
template <class L>
concept teacher_loss = requires(const L& l, const float* t) {
    { l.with_teacher(t) };
    requires std::is_same_v<typename decltype(l.with_teacher(t))::target_type, std::int32_t>;
};

/// Trains `student` with `opt` on `loss` (Distillation) against `teacher`'s outputs for each batch
/// of `train`; as fit otherwise (test accuracy is the student's).
template <class Backend = void, class Student, class Opt, class Teacher, teacher_loss KD, class Loader>
std::vector<epoch_metrics> distill(Student& student, Opt& opt, Teacher& teacher, const KD& loss, Loader& train,
                                   const data::dataset* test, const fit_options& o) {
    static_assert(Teacher::input_size == Student::input_size, "ctnn::distill: the teacher's input size must be the student's");
    static_assert(Teacher::output_size == Student::output_size, "ctnn::distill: the teacher's output size must be the student's");
    std::vector<float> outputs(train.max_batch() * Student::output_size);
    const auto bound = loss.with_teacher(outputs.data());
    return detail::fit_with<Backend, std::int32_t>(
        student, opt,
        [&](const float* images, std::size_t n) -> const decltype(bound)& {
            teacher.template forward<Backend>(images, outputs.data(), n);
            return bound;
        },
        train, test, o);
}

/// Trains `student` on `loss` against teacher outputs stored as the training set's float targets
/// (set_teacher_targets); as fit otherwise.
template <class Backend = void, class Student, class Opt, teacher_loss KD, class Loader>
std::vector<epoch_metrics> distill(Student& student, Opt& opt, const KD& loss, Loader& train,
                                   const data::dataset* test, const fit_options& o) {
    if (train.data().target_size != Student::output_size)
        throw error("ctnn::distill: the training set has " + std::to_string(train.data().target_size) +
                    " float targets per sample, not the teacher's " + std::to_string(Student::output_size) +
                    " outputs (set_teacher_targets)");
    auto bound = loss.with_teacher(nullptr);
    return detail::fit_with<Backend, std::int32_t>(
        student, opt,
        [&](const float*, std::size_t) -> const decltype(bound)& {
            bound.teacher = train.targets();
            return bound;
        },
        train, test, o);
}

/// Stores `teacher`'s outputs (inference mode) for every sample of d as d's float targets.
template <class Backend = void, class Teacher>
void set_teacher_targets(Teacher& teacher, data::dataset& d, std::size_t batch = 256) {
    if (d.sample_size() != Teacher::input_size)
        throw error("ctnn::set_teacher_targets: the data set's samples have " + std::to_string(d.sample_size()) +
                    " values but the teacher's input has " + std::to_string(Teacher::input_size));
    d.check();
    std::vector<float> t(d.count * Teacher::output_size);
    batch = std::max<std::size_t>(batch, 1);
    for (std::size_t i = 0; i < d.count; i += batch)
        teacher.template forward<Backend>(d.images.data() + i * Teacher::input_size, t.data() + i * Teacher::output_size,
                                          std::min(batch, d.count - i));
    d.targets = std::move(t);
    d.target_size = Teacher::output_size;
}

}  // namespace ctnn
