# One helper per kind of target, so each folder's CMakeLists.txt is a few lines.

# pushcap_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# -> static library pushcap_<name>, alias pushcap::<name>; includes are rooted at the repo top
#    ("router/ring_reader.hpp").
function(pushcap_library name)
    cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
    add_library(pushcap_${name} STATIC ${ARG_SOURCES})
    add_library(pushcap::${name} ALIAS pushcap_${name})
    target_include_directories(pushcap_${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(pushcap_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# pushcap_executable(<name> SOURCES ... [DEPS ...]) -> build/bin/<name>, installed to bin/.
function(pushcap_executable name)
    cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
    add_executable(${name} ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE ${ARG_DEPS})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
    install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()

# pushcap_test(<name> SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT s])
# -> build/tests/<name>, one CTest test. Tests find the project's programs through
#    PUSHCAP_BIN_DIR and scale their sizes down under sanitizers through PUSHCAP_TEST_SCALE.
function(pushcap_test name)
    cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 300)
    endif()
    add_executable(${name} ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE ${ARG_DEPS} pushcap_catch_main)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    add_test(NAME ${name} COMMAND ${name})
    set(scale 1)
    if(PUSHCAP_SANITIZE)
        set(scale 0.1)
    endif()
    set_tests_properties(${name} PROPERTIES
        TIMEOUT ${ARG_TIMEOUT}
        LABELS "${ARG_LABELS}"
        ENVIRONMENT "PUSHCAP_BIN_DIR=${PROJECT_BINARY_DIR}/bin;PUSHCAP_TEST_BIN_DIR=${PROJECT_BINARY_DIR}/tests;PUSHCAP_SOURCE_DIR=${PROJECT_SOURCE_DIR};PUSHCAP_TEST_SCALE=${scale}")
endfunction()
