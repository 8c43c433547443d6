# Compile-fail check, run as
#   cmake -DCXX=<compiler> -DINCLUDE_DIR=<ctnn/include> -DSOURCE=<file.cpp> -P check.cmake
# SOURCE must NOT compile, with exactly one error, and the first line of the compiler's output that
# contains "error" (include-chain lines "In file included from" / "from ..." skipped) must contain
# the text of the file's `// expect: <text>` header line (" ... " in it matches anything). `// expect: success` instead requires that it compiles
# (a control: it proves the harness itself does not fail everything).
foreach(v CXX INCLUDE_DIR SOURCE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check.cmake: -D${v}=... is required")
  endif()
endforeach()

file(STRINGS "${SOURCE}" expect_lines REGEX "^// expect: ")
list(LENGTH expect_lines n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: needs exactly one '// expect: <text>' line, found ${n}")
endif()
string(REGEX REPLACE "^// expect: " "" expected "${expect_lines}")
string(STRIP "${expected}" expected)

set(ENV{LC_ALL} C)   # plain ASCII quotes in the diagnostics
separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
execute_process(COMMAND "${CXX}" -std=c++20 -fsyntax-only ${extra} -I "${INCLUDE_DIR}" "${SOURCE}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)

if(expected STREQUAL "success")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} should compile but did not:\n${out}")
  endif()
  message(STATUS "compiles, as expected")
  return()
endif()

if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not: it is a broken net")
endif()

# The output as a list of lines (';' and '[' ']' would confuse CMake's list handling).
string(REPLACE ";" "<semicolon>" text "${out}")
string(REPLACE "[" "<lb>" text "${text}")
string(REPLACE "]" "<rb>" text "${text}")
string(REPLACE "\n" ";" lines "${text}")
set(first "")
foreach(line IN LISTS lines)
  if(line MATCHES "^In file included from " OR line MATCHES "^ +from ")
    continue()
  endif()
  if(line MATCHES "error")
    set(first "${line}")
    break()
  endif()
endforeach()
string(REPLACE "<semicolon>" ";" first "${first}")
string(REPLACE "<lb>" "[" first "${first}")
string(REPLACE "<rb>" "]" first "${first}")

# One mistake, one error: count the compilers' "error:" lines (g++ and clang both write
# "file:line:col: error: ...").
set(errors 0)
foreach(line IN LISTS lines)
  if(line MATCHES ": error: " OR line MATCHES "^error: ")
    math(EXPR errors "${errors} + 1")
  endif()
endforeach()
if(NOT errors EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: ${errors} errors, where one mistake must give one.\n"
                      "--- full compiler output ---\n${out}")
endif()

# " ... " in the expected text stands for anything (compilers print nested default template
# arguments and closing brackets differently): the parts must appear in order.
string(REPLACE " ... " ";" parts "${expected}")
set(rest "${first}")
set(pos 0)
foreach(part IN LISTS parts)
  string(FIND "${rest}" "${part}" at)
  if(at EQUAL -1)
    set(pos -1)
    break()
  endif()
  string(LENGTH "${part}" len)
  math(EXPR at "${at} + ${len}")
  string(SUBSTRING "${rest}" ${at} -1 rest)
endforeach()
if(pos EQUAL -1)
  message(FATAL_ERROR "${SOURCE}: the first error line does not say what it should.\n"
                      "  expected text: ${expected}\n"
                      "  first error line: ${first}\n"
                      "--- full compiler output ---\n${out}")
endif()
message(STATUS "fails to compile, as expected; first error line:\n${first}")
