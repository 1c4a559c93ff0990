# edgeq CMake module: regenerate the C model when the model or its data change, and add it to a firmware target.
#
#   find_program(EDGEQ_EXECUTABLE edgeq REQUIRED)
#   execute_process(COMMAND ${EDGEQ_EXECUTABLE} cmake OUTPUT_VARIABLE EDGEQ_CMAKE
#                   OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
#   include(${EDGEQ_CMAKE})
#
#   add_executable(firmware main.c)
#   edgeq_add_model(firmware
#     MODEL  model/kws.keras            # .keras / .h5 / SavedModel folder (converted), or a .tflite (codegen only)
#     TARGET cortex-m4                  # edgeq target profile: a built-in name or a .toml file
#     CALIB  model/calib.npz            # representative data for int8 calibration (not for a .tflite)
#     OUT    ${CMAKE_BINARY_DIR}/model  # a folder of its own: edgeq_model.c/.h, edgeq_runtime/, report.*
#     [EVAL data.npz] [CONVERT_FLAGS --per-tensor ...])
#
# The conversion is a custom command whose outputs (edgeq_model.c, edgeq_model.h, the runtime's sources) are
# sources of <target>: it runs at build time, before the target's objects are compiled, and again whenever the
# model, the calibration/evaluation data or a .toml profile is newer than its outputs. The runtime's file list
# comes from the installed edgeq (its runtime/src folder, a CONFIGURE_DEPENDS glob), so configuring needs no
# conversion. The model's include folders are added to <target> (PRIVATE).
#
# Also defined: EDGEQ_BOARDS_DIR (startup code, linker scripts, semihosting for QEMU's MPS2/MPS3 machines and the
# boards in targets/boards/), EDGEQ_BOARD_SRCS (startup, semihosting, console, SysTick/DWT counter), and
# edgeq_add_gate(<name> [PROJECT edgeq.toml] [FLAGS ...]): a target that runs `edgeq build` (budgets as gates).
include_guard(GLOBAL)
cmake_minimum_required(VERSION 3.20)

set(EDGEQ_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")
get_filename_component(EDGEQ_BOARDS_DIR "${EDGEQ_CMAKE_DIR}/../boards" ABSOLUTE)
set(EDGEQ_BOARD_SRCS
  "${EDGEQ_BOARDS_DIR}/common/startup.c" "${EDGEQ_BOARDS_DIR}/common/semihost.c"
  "${EDGEQ_BOARDS_DIR}/common/io.c" "${EDGEQ_BOARDS_DIR}/common/counter.c")

# The C runtime edgeq copies next to every model: installed package (edgeq/targets/cmake -> edgeq/runtime) or a
# source checkout (targets/cmake -> edgeq/runtime).
set(EDGEQ_RUNTIME_DIR "")
foreach(_edgeq_cand "${EDGEQ_CMAKE_DIR}/../../runtime" "${EDGEQ_CMAKE_DIR}/../../edgeq/runtime")
  if(EXISTS "${_edgeq_cand}/src" AND EDGEQ_RUNTIME_DIR STREQUAL "")
    get_filename_component(EDGEQ_RUNTIME_DIR "${_edgeq_cand}" ABSOLUTE)
  endif()
endforeach()
if(EDGEQ_RUNTIME_DIR STREQUAL "")
  message(FATAL_ERROR "edgeq.cmake: the edgeq C runtime was not found next to ${EDGEQ_CMAKE_DIR}; reinstall edgeq "
                      "(pip install \"edgeq[tf]\") and include the path `edgeq cmake` prints")
endif()

if(NOT EDGEQ_EXECUTABLE)
  find_program(EDGEQ_EXECUTABLE edgeq)
endif()

# Absolute path of a user-given file, relative to the calling CMakeLists.txt; FATAL_ERROR naming the argument.
function(_edgeq_path out what value)
  if(IS_ABSOLUTE "${value}")
    set(p "${value}")
  else()
    set(p "${CMAKE_CURRENT_SOURCE_DIR}/${value}")
  endif()
  if(NOT EXISTS "${p}")
    message(FATAL_ERROR "edgeq_add_model: ${what} ${value} not found (looked for ${p})")
  endif()
  set(${out} "${p}" PARENT_SCOPE)
endfunction()

# The files a path stands for, as dependencies (a SavedModel or image folder: every file in it).
function(_edgeq_deps out path)
  if(IS_DIRECTORY "${path}")
    file(GLOB_RECURSE files CONFIGURE_DEPENDS "${path}/*")
    set(${out} ${files} PARENT_SCOPE)
  else()
    set(${out} "${path}" PARENT_SCOPE)
  endif()
endfunction()

function(edgeq_add_model tgt)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "MODEL;TARGET;CALIB;EVAL;OUT" "CONVERT_FLAGS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "edgeq_add_model(${tgt}): unknown arguments ${ARG_UNPARSED_ARGUMENTS} "
                        "(takes MODEL, TARGET, CALIB, EVAL, OUT, CONVERT_FLAGS)")
  endif()
  if(NOT TARGET ${tgt})
    message(FATAL_ERROR "edgeq_add_model(${tgt}): no target ${tgt}; call add_executable(${tgt} ...) first")
  endif()
  foreach(req MODEL OUT)
    if(NOT ARG_${req})
      message(FATAL_ERROR "edgeq_add_model(${tgt}): ${req} is required")
    endif()
  endforeach()
  if(NOT EDGEQ_EXECUTABLE)
    message(FATAL_ERROR "edgeq_add_model(${tgt}): the edgeq command was not found; install it "
                        "(pip install \"edgeq[tf]\") or pass -DEDGEQ_EXECUTABLE=/path/to/edgeq")
  endif()
  _edgeq_path(model "MODEL" "${ARG_MODEL}")
  _edgeq_deps(deps "${model}")
  get_filename_component(out "${ARG_OUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")

  get_filename_component(ext "${model}" LAST_EXT)
  if(ext STREQUAL ".tflite")
    set(cmd codegen "${model}" -o "${out}" --force)
    set(what "generating C for ${ARG_MODEL}")
  else()
    if(NOT ARG_TARGET)
      message(FATAL_ERROR "edgeq_add_model(${tgt}): TARGET is required to convert ${ARG_MODEL} "
                          "(e.g. TARGET cortex-m4; `edgeq targets list`)")
    endif()
    set(target "${ARG_TARGET}")
    if(target MATCHES "\\.toml$")
      _edgeq_path(target "TARGET" "${ARG_TARGET}")
      list(APPEND deps "${target}")
    endif()
    set(cmd convert "${model}" --target "${target}" -o "${out}" --force)
    foreach(opt CALIB EVAL)
      if(ARG_${opt})
        _edgeq_path(data "${opt}" "${ARG_${opt}}")
        _edgeq_deps(data_deps "${data}")
        list(APPEND deps ${data_deps})
        string(TOLOWER "${opt}" flag)
        list(APPEND cmd "--${flag}" "${data}")
      endif()
    endforeach()
    list(APPEND cmd ${ARG_CONVERT_FLAGS})
    set(what "converting ${ARG_MODEL} for ${ARG_TARGET}")
  endif()

  file(GLOB runtime_srcs CONFIGURE_DEPENDS "${EDGEQ_RUNTIME_DIR}/src/edgeq_*.c")
  set(srcs "${out}/edgeq_model.c")
  foreach(src ${runtime_srcs})
    get_filename_component(name "${src}" NAME)
    list(APPEND srcs "${out}/edgeq_runtime/src/${name}")
  endforeach()

  add_custom_command(
    OUTPUT ${srcs} "${out}/edgeq_model.h"
    COMMAND "${EDGEQ_EXECUTABLE}" ${cmd}
    DEPENDS ${deps}
    COMMENT "edgeq: ${what}"
    VERBATIM)
  target_sources(${tgt} PRIVATE ${srcs} "${out}/edgeq_model.h")
  target_include_directories(${tgt} PRIVATE "${out}" "${out}/edgeq_runtime/include")
endfunction()

# A target that builds an edgeq project (edgeq.toml) and fails when a budget is exceeded: `cmake --build . -t NAME`.
function(edgeq_add_gate name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "PROJECT" "FLAGS")
  if(NOT ARG_PROJECT)
    set(ARG_PROJECT edgeq.toml)
  endif()
  _edgeq_path(project "PROJECT" "${ARG_PROJECT}")
  add_custom_target(${name}
    COMMAND "${EDGEQ_EXECUTABLE}" build "${project}" ${ARG_FLAGS}
    COMMENT "edgeq: gating ${ARG_PROJECT} on its budgets"
    VERBATIM USES_TERMINAL)
endfunction()
