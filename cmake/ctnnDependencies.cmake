# The dependencies of ctnn::ctnn, found the same way by ctnn's own build and by ctnnConfig.cmake.
# Set CTNN_FIND_DEPENDENCY to find_dependency (from ctnnConfig.cmake) or leave it unset.
if(NOT DEFINED CTNN_FIND_DEPENDENCY)
  set(CTNN_FIND_DEPENDENCY find_package)
endif()
cmake_language(CALL ${CTNN_FIND_DEPENDENCY} Threads REQUIRED)
cmake_language(CALL ${CTNN_FIND_DEPENDENCY} Boost 1.74 REQUIRED)          # headers only (Hana)
cmake_language(CALL ${CTNN_FIND_DEPENDENCY} xsimd REQUIRED)
cmake_language(CALL ${CTNN_FIND_DEPENDENCY} nlohmann_json 3.9 REQUIRED)
cmake_language(CALL ${CTNN_FIND_DEPENDENCY} ZLIB REQUIRED)

# Debian 12's xsimd 8.1 target links a target named `xtl` that its config never finds, so without
# it every program gets `-lxtl` and fails to link. xsimd needs xtl only for xtl::xcomplex, which
# ctnn does not use: when no xtl package is installed, an empty target stands in for it.
if(TARGET xsimd AND NOT TARGET xtl)
  find_package(xtl QUIET)
  if(NOT TARGET xtl)
    add_library(xtl INTERFACE IMPORTED)
  endif()
endif()
