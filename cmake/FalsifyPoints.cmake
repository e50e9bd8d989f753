# The falsification checklist's points total (docs/falsification.md):
#   cmake -DBUILD_DIR=<build dir> [-DJOBS=2] -P cmake/FalsifyPoints.cmake
# (or `cmake --build <build dir> --target falsify`). Runs `ctest -L falsify`, then prints one
# line per claim (criterion id: tests passed / tests) and "falsify points: passed/total".
# Exits non-zero when any falsify test failed.
if(NOT BUILD_DIR)
  message(FATAL_ERROR "FalsifyPoints: pass -DBUILD_DIR=<build dir>")
endif()
if(NOT JOBS)
  set(JOBS 2)
endif()
set(ctest ${CMAKE_CTEST_COMMAND})
if(NOT ctest)
  get_filename_component(dir ${CMAKE_COMMAND} DIRECTORY)
  set(ctest ${dir}/ctest)
endif()

execute_process(COMMAND ${ctest} --test-dir ${BUILD_DIR} -L falsify -j${JOBS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")

# Test name -> result, from lines such as " 3/40 Test  #7: gguf_test:reads v3 ...   Passed".
string(REGEX MATCHALL "Test +#[0-9]+: [^\n]*" lines "${out}")
set(passed_names "")
set(all_names "")
foreach(line IN LISTS lines)
  if(line MATCHES "Test +#[0-9]+: (.+) \\.+[ *]+([A-Za-z]+)")
    set(name "${CMAKE_MATCH_1}")
    string(STRIP "${name}" name)
    list(APPEND all_names "${name}")
    if(CMAKE_MATCH_2 STREQUAL "Passed")
      list(APPEND passed_names "${name}")
    endif()
  endif()
endforeach()

# Claims (criterion ids) and the test binaries (ctest name prefixes) that check them; the
# table of docs/falsification.md.
set(claims
  "F-gguf=gguf_test"
  "F-quant-bitexact=quant_test"
  "F-apr-format=apr_format_test"
  "F-safetensors-hf=hf_test"
  "F-tokenizer-vectors=tokenizer_test"
  "F-chat-template=chat_template_test"
  "F-parity-kernels=engine_kernels_test"
  "F-parity-forward=engine_model_test,engine_real_model_test,engine_lowk_model_test,engine_rope_scaling_test"
  "F-parity-hf=hf_parity_test"
  "F-perplexity=perplexity_cli_test"
  "F-cli-run=run_cli_test"
  "F-cli-convert=cli_test"
  "F-cli-check=check_trace_test"
  "F-serve=serve_engine_test,serve_http_test"
  "F-install=install_downstream_find_package")
message("Falsification checklist (claim: passed/tests):")
foreach(entry IN LISTS claims)
  string(REPLACE "=" ";" parts "${entry}")
  list(GET parts 0 claim)
  list(GET parts 1 prefixes)
  string(REPLACE "," ";" prefixes "${prefixes}")
  set(n 0)
  set(p 0)
  foreach(name IN LISTS all_names)
    string(REGEX REPLACE ":.*" "" binary "${name}")
    list(FIND prefixes "${binary}" hit)
    if(NOT hit EQUAL -1)
      math(EXPR n "${n} + 1")
      list(FIND passed_names "${name}" at)
      if(NOT at EQUAL -1)
        math(EXPR p "${p} + 1")
      endif()
    endif()
  endforeach()
  set(mark "PASS")
  if(NOT p EQUAL n)
    set(mark "FAIL")
  elseif(n EQUAL 0)
    set(mark "NONE")
  endif()
  message("  ${mark} ${claim}: ${p}/${n}")
endforeach()
list(LENGTH all_names total)
list(LENGTH passed_names points)
message("falsify points: ${points}/${total}")
if(NOT rc EQUAL 0 OR NOT points EQUAL total)
  message(FATAL_ERROR "falsify: ${points}/${total} tests passed")
endif()
