# edgeq make fragment: regenerate the C model when the model or its calibration data change.
#
#   EDGEQ_MODEL  := model/kws.keras        # .keras/.h5/SavedModel dir (converted), or a .tflite (codegen only)
#   EDGEQ_CALIB  := model/calib.npz        # representative data for int8 calibration (not for a .tflite)
#   EDGEQ_TARGET := cortex-m4              # edgeq target profile (name or .toml)
#   EDGEQ_OUT    := build/model            # output folder (edgeq_model.c/.h, edgeq_runtime/, model.tflite)
#   include $(shell edgeq makefile)
#
# Then compile $(EDGEQ_SRCS) with $(EDGEQ_INCLUDES) and make your objects depend on $(EDGEQ_STAMP).
# Also provided: EDGEQ_BOARDS_DIR (startup code, linker scripts, semihosting: see targets/boards/) and
# EDGEQ_BOARD_SRCS (the board-independent runtime pieces: startup, semihosting, console, cycle counter).
#
# Compiled-object cache (optional, like ccache): `CC := $(EDGEQ_CC_CACHE) arm-none-eabi-gcc` compiles each source
# through edgeq.objcache, the cache `edgeq bench` builds with (~/.cache/edgeq/objects, EDGEQ_CACHE_DIR,
# EDGEQ_OBJECT_CACHE=0 turns it off). A model change rewrites $(EDGEQ_OUT) and so makes every object out of date;
# with the cache only the sources whose preprocessed text changed (edgeq_model.c, mostly) are compiled again, the
# runtime's objects are copied. Plain `-c file.c -o file.o` compiles are cached; linking, -MMD and anything else
# run the compiler as they are.
#
# How: conversion writes $(EDGEQ_OUT)/edgeq_srcs.mk listing the generated sources; this fragment includes it,
# so GNU make regenerates it first when it is missing or older than the model/calibration data, then
# re-reads the makefiles with the real source list (the runtime's files are only known after generation).
#
# Budgets as gates: `make edgeq-gate` runs `edgeq build $(EDGEQ_PROJECT)` (default edgeq.toml: deployments and
# their flash/RAM/latency/energy/accuracy budgets, docs/project.md) and fails (exit 3) when a budget is exceeded;
# EDGEQ_GATE_FLAGS adds options, e.g. --junit build/junit.xml. A makefile that only gates may leave EDGEQ_MODEL
# unset and set EDGEQ_PROJECT instead.

# The including makefile's default goal stays its own (its first target, also when this is included before it).
EDGEQ_SAVED_GOAL := $(.DEFAULT_GOAL)

EDGEQ ?= edgeq
EDGEQ_TARGET ?= cortex-m4
EDGEQ_OUT ?= build/edgeq_model
EDGEQ_CONVERT_FLAGS ?=
EDGEQ_CALIB ?=

EDGEQ_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
EDGEQ_BOARDS_DIR := $(EDGEQ_MK_DIR)/boards
EDGEQ_BOARD_SRCS := $(addprefix $(EDGEQ_BOARDS_DIR)/common/,startup.c semihost.c io.c counter.c)
EDGEQ_STAMP := $(EDGEQ_OUT)/edgeq_srcs.mk
EDGEQ_INCLUDES := -I$(EDGEQ_OUT) -I$(EDGEQ_OUT)/edgeq_runtime/include
# edgeq's Python, asked once and only when EDGEQ_CC_CACHE is used.
EDGEQ_PYTHON = $(eval EDGEQ_PYTHON := $(shell $(EDGEQ) makefile --python))$(EDGEQ_PYTHON)
EDGEQ_CC_CACHE = $(EDGEQ_PYTHON) -m edgeq.objcache

ifeq ($(strip $(EDGEQ_MODEL))$(strip $(EDGEQ_PROJECT)),)
$(error edgeq.mk: set EDGEQ_MODEL to the model file (or EDGEQ_PROJECT to an edgeq.toml) before including the fragment)
endif
EDGEQ_PROJECT ?= edgeq.toml
EDGEQ_GATE_FLAGS ?=

.PHONY: edgeq-gate
edgeq-gate:
	$(EDGEQ) build $(EDGEQ_PROJECT) $(EDGEQ_GATE_FLAGS)

ifneq ($(strip $(EDGEQ_MODEL)),)

ifeq ($(suffix $(EDGEQ_MODEL)),.tflite)
EDGEQ_GENERATE = $(EDGEQ) codegen $(EDGEQ_MODEL) -o $(EDGEQ_OUT) --force
else
EDGEQ_GENERATE = $(EDGEQ) convert $(EDGEQ_MODEL) --target $(EDGEQ_TARGET) \
	$(if $(strip $(EDGEQ_CALIB)),--calib $(EDGEQ_CALIB)) -o $(EDGEQ_OUT) --force $(EDGEQ_CONVERT_FLAGS)
endif

# A SavedModel is a folder: depend on its files, not on the folder's timestamp.
EDGEQ_MODEL_DEPS := $(if $(wildcard $(EDGEQ_MODEL)/saved_model.pb),$(shell find $(EDGEQ_MODEL) -type f),$(EDGEQ_MODEL))

$(EDGEQ_STAMP): $(EDGEQ_MODEL_DEPS) $(EDGEQ_CALIB)
	$(EDGEQ_GENERATE)
	@printf 'EDGEQ_SRCS := %s\n' "$$(ls $(EDGEQ_OUT)/edgeq_model.c $(EDGEQ_OUT)/edgeq_runtime/src/*.c | tr '\n' ' ')" > $@

.PHONY: edgeq-model edgeq-clean
edgeq-model: $(EDGEQ_STAMP)

edgeq-clean:
	rm -rf $(EDGEQ_OUT)

# Not while cleaning: that would convert the model only to delete it.
ifeq ($(filter clean edgeq-clean,$(MAKECMDGOALS)),)
include $(EDGEQ_STAMP)
endif
endif

.DEFAULT_GOAL := $(EDGEQ_SAVED_GOAL)
