# apr_target_warnings(target): our code builds warning-free; third-party headers are SYSTEM.
function(apr_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror -Wno-unused-parameter>)
endfunction()
