# Project-wide switches shared by the three packages.
option(APR_SANITIZE "Build with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
if(APR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Where the shared, read-only test assets live (models, vocabularies, tokenizers).
set(APR_SHARED_ASSETS "${CMAKE_CURRENT_SOURCE_DIR}/../shared/assets"
    CACHE PATH "Directory holding the shared test assets; tests skip when absent")
