// ctnn::dist: data-parallel training over MPI (CPUs). Not part of <ctnn/ctnn.hpp>: it needs an MPI
// implementation (Debian: libopenmpi-dev openmpi-bin; CMake: find_package(MPI), link
// MPI::MPI_CXX, or ctnn::dist when ctnn's CMake found MPI). The CUDA backend's NCCL path is
// <ctnn/dist/nccl.hpp> (nvcc). See docs/distributed.md.
//
//   mpi_env          MPI_Init / MPI_Finalize (or MPI_Abort after a failure)     dist/mpi_comm.hpp
//   comm             collectives with a deadline: a dead or stuck rank is an error, not a hang
//   data_parallel    the start-up checks and broadcast, step() with bucketed, overlapped
//                    gradient all-reduce, checkpoints by rank 0             dist/data_parallel.hpp
//   shard_loader     each rank's share of data::loader's global batches           dist/shard.hpp
//   fit, evaluate    the trainer's loop, metrics reduced over the ranks             dist/fit.hpp
//
// Started with mpirun:  mpirun -np 4 ./train   (as root add --allow-run-as-root)
#pragma once
#include "data.hpp"
#include "train.hpp"
#include "dist/data_parallel.hpp"
#include "dist/fit.hpp"
#include "dist/mpi_comm.hpp"
#include "dist/shard.hpp"
