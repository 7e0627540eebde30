# SPDX-License-Identifier: GPL-3.0-or-later
# psa_core_module: one static library per core/ folder with its declared dependencies.
# psa_add_test:    one Qt Test executable per test file, registered with ctest.

function(psa_core_module name)
    cmake_parse_arguments(arg "NO_TORCH" "" "SOURCES;DEPS;LIBS" ${ARGN})
    add_library(psa_${name} STATIC ${arg_SOURCES})
    list(TRANSFORM arg_DEPS PREPEND psa_)
    target_link_libraries(psa_${name} PUBLIC ${arg_DEPS} ${arg_LIBS})
    target_include_directories(psa_${name} PUBLIC ${PROJECT_SOURCE_DIR}/core)
    if(NOT arg_NO_TORCH)
        target_link_libraries(psa_${name} PUBLIC psa_torch_pch)
        target_compile_options(psa_${name} PRIVATE -Winvalid-pch)
        if(PSA_USE_PCH)
            target_precompile_headers(psa_${name} REUSE_FROM psa_torch_pch)
        endif()
    endif()
endfunction()

# psa_add_test(name SOURCES ... LIBS ... [TORCH] [LABELS ...] [ENV VAR=value ...] [TIMEOUT s])
function(psa_add_test name)
    cmake_parse_arguments(arg "TORCH" "TIMEOUT" "SOURCES;LIBS;LABELS;ENV" ${ARGN})
    add_executable(${name} ${arg_SOURCES})
    set_target_properties(${name} PROPERTIES AUTOMOC ON)
    target_link_libraries(${name} PRIVATE ${arg_LIBS} Qt6::Test psa_test_support)
    if(arg_TORCH)
        target_link_libraries(${name} PRIVATE psa_torch_pch)
        target_compile_options(${name} PRIVATE -Winvalid-pch)
        if(PSA_USE_PCH)
            target_precompile_headers(${name} REUSE_FROM psa_torch_pch)
            set_source_files_properties(${CMAKE_CURRENT_BINARY_DIR}/${name}_autogen/mocs_compilation.cpp
                PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
        endif()
    endif()
    add_test(NAME ${name} COMMAND ${name})
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 600)
    endif()
    # PSA_FIXTURES / PSA_SHARED pass through from the caller's environment; the defaults live in
    # tests/support so that test targets carry no compile definitions of their own (PCH reuse).
    # ctest runs tests side by side on few cores: passive OpenMP waiting (common/omp_wait_policy.h)
    # and one OpenBLAS thread (its own pool spins too; the apps set this in configure_threads()).
    # Qt Test's per-function watchdog (300 s by default) gets the test's whole timeout, since a
    # loaded machine can make one training test function take that long.
    math(EXPR function_timeout_ms "${arg_TIMEOUT} * 1000")
    # Heap allocations of every size, as the apps ask for (common/allocator_tuning.h).
    set(test_env "QT_QPA_PLATFORM=offscreen" "OMP_WAIT_POLICY=PASSIVE" "OPENBLAS_NUM_THREADS=1"
        "GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=536870912"
        "QTEST_FUNCTION_TIMEOUT=${function_timeout_ms}" ${arg_ENV})
    if(PSA_SANITIZE)
        # UBSan reports a finding and carries on by default; under ctest a finding must fail the test.
        list(APPEND test_env "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS "${arg_LABELS}"
        ENVIRONMENT "${test_env}")
endfunction()
