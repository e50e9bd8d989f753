# apr_add_test(<name> SOURCES ... [LIBS ...] [LABELS ...]): a Catch2 test binary whose test
# cases are registered with ctest individually. Labels apply to every case of the binary.
function(apr_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE apr_catch_main ${ARG_LIBS})
  apr_target_warnings(${name})
  set(props "")
  if(ARG_LABELS)
    set(props PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  catch_discover_tests(${name} TEST_PREFIX "${name}:" ${props})
endfunction()

# apr_add_fuzzer(<name> SOURCE <file> CORPUS <dir> LIBS ...): the entry point
# LLVMFuzzerTestOneInput in <file> is built twice:
#  - always, as <name>_replay: a ctest that runs every file of the seed corpus (regressions
#    included) through the entry point, so crashes found once stay fixed under gcc and ASan;
#  - with APR_BUILD_FUZZERS (clang), as the libFuzzer binary <name>, plus a ctest
#    (label "fuzz") that fuzzes for APR_FUZZ_SECONDS seconds from the corpus.
set(APR_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzzer runs under ctest")
function(apr_add_fuzzer name)
  cmake_parse_arguments(ARG "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  add_executable(${name}_replay ${ARG_SOURCE} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE ${ARG_LIBS})
  apr_target_warnings(${name}_replay)
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${ARG_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES LABELS "fuzz-replay")
  if(APR_BUILD_FUZZERS)
    add_executable(${name} ${ARG_SOURCE})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE ${ARG_LIBS})
    set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
    add_test(NAME ${name}_fuzz
             COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                     ${CMAKE_COMMAND} -DFUZZER=$<TARGET_FILE:${name}> -DSEEDS=${ARG_CORPUS}
                     -DWORK=${work} -DSECONDS=${APR_FUZZ_SECONDS}
                     -P ${PROJECT_SOURCE_DIR}/cmake/RunFuzzer.cmake)
    set_tests_properties(${name}_fuzz PROPERTIES LABELS "fuzz")
  endif()
endfunction()
