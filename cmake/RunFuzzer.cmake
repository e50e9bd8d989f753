# Runs one libFuzzer binary for SECONDS, starting from the seed corpus copied into WORK.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(GLOB seeds ${SEEDS}/*)
if(seeds)
  file(COPY ${seeds} DESTINATION ${WORK})
endif()
execute_process(COMMAND ${FUZZER} ${WORK} -max_total_time=${SECONDS} -max_len=65536
                        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzzer ${FUZZER} failed (exit ${rc}); the crashing input is in the working directory")
endif()
