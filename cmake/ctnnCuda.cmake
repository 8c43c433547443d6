# The CUDA backend's build (docs/cuda.md). Included by the top-level CMakeLists.txt.
#   CTNN_CUDA: ON when an nvcc is found (check_language(CUDA); /usr/local/cuda/bin/nvcc is tried
#   when none is on PATH). Builds tests/cuda and examples/*.cu for sm_90 (H100/H200) plus PTX
#   for compute_90, which newer GPUs JIT-compile; set CMAKE_CUDA_ARCHITECTURES to override.
#   Only ctnn's own tests and examples use it, so it defaults to OFF when ctnn is a subproject.
include(CheckLanguage)
if(PROJECT_IS_TOP_LEVEL OR CTNN_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "nvcc")
  endif()
  check_language(CUDA)
endif()
if(CMAKE_CUDA_COMPILER AND PROJECT_IS_TOP_LEVEL)
  set(CTNN_CUDA_DEFAULT ON)
else()
  set(CTNN_CUDA_DEFAULT OFF)
endif()
option(CTNN_CUDA "Build the CUDA backend's tests and examples (needs nvcc)" ${CTNN_CUDA_DEFAULT})

if(CTNN_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "CTNN_CUDA is ON but no CUDA compiler was found: install the CUDA toolkit or set CMAKE_CUDA_COMPILER")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
  endif()
  enable_language(CUDA)
  message(STATUS "ctnn: CUDA backend on (${CMAKE_CUDA_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
endif()

# ctnn_cuda_target(TARGET): C++20 CUDA, linked to ctnn::ctnn; nvcc's notes on ctnn's template
# lambdas (445) and on GCC-only pragmas in host code (1675) are silenced. -std=c++20 is passed
# directly: CMake 3.25 does not know that nvcc 12+ has a CUDA20 dialect. -Wno-restrict: g++ 12
# reports a false -Wrestrict in std::string::insert (GCC PR 105329).
function(ctnn_cuda_target target)
  target_link_libraries(${target} PRIVATE ctnn::ctnn)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -diag-suppress=445,1675 -Xcompiler=-Wall,-Wno-restrict>)
endfunction()
