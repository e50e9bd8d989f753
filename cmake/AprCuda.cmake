# CUDA is optional: detected, never required. When found, kernels build for sm_90 unless overridden.
include(CheckLanguage)
option(APR_ENABLE_CUDA "Build the CUDA backend when a CUDA compiler is found" ON)
set(APR_HAVE_CUDA OFF)
if(APR_ENABLE_CUDA)
  # CUDA installs outside PATH by default; look where the toolkit puts nvcc.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 predates nvcc's C++20 dialect (nvcc >= 12 supports -std=c++20); teach it, so
    # the .cu files get the same language as the rest of the project.
    if(CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND
       CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0 AND
       NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    endif()
    find_package(CUDAToolkit REQUIRED)
    set(APR_HAVE_CUDA ON)
    message(STATUS "apr: CUDA backend enabled (architectures ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "apr: no CUDA compiler found; building CPU-only")
  endif()
endif()
