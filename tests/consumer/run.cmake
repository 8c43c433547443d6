# The install test: configure ctnn alone, install it to a fresh prefix, then configure, build and
# run tests/consumer against that prefix with find_package(ctnn). Run as
#   cmake -DSOURCE_DIR=<ctnn> -DWORK_DIR=<scratch> -DGENERATOR=<gen> -DCXX=<compiler> -P run.cmake
foreach(v SOURCE_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

step("configure ctnn" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/ctnn" -G "${GENERATOR}"
     -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=${prefix}
     -DCTNN_BUILD_TESTS=OFF -DCTNN_BUILD_EXAMPLES=OFF -DCTNN_BUILD_BENCH=OFF)
step("install ctnn" ${CMAKE_COMMAND} --install "${WORK_DIR}/ctnn")
if(NOT EXISTS "${prefix}/include/ctnn/ctnn.hpp")
  message(FATAL_ERROR "consumer test: ${prefix}/include/ctnn/ctnn.hpp was not installed")
endif()
step("configure consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/consumer"
     -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
# The consumer must have found the installed copy, not the source tree.
file(STRINGS "${WORK_DIR}/consumer/CMakeCache.txt" dir_line REGEX "^ctnn_DIR:")
if(NOT dir_line MATCHES "${prefix}")
  message(FATAL_ERROR "consumer test: find_package(ctnn) found ${dir_line}, not the install in ${prefix}")
endif()
step("build consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
step("run consumer" "${WORK_DIR}/consumer/consumer")
message(STATUS "${last_output}")
