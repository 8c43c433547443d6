// ctnn training: losses, optimizers, schedules, train_step, the trainer and checkpoints.
#pragma once
#include "ctnn.hpp"
#include "train/checkpoint.hpp"
#include "train/distill.hpp"
#include "train/loss.hpp"
#include "train/optim.hpp"
#include "train/schedule.hpp"
#include "train/train_step.hpp"
#include "train/trainer.hpp"
