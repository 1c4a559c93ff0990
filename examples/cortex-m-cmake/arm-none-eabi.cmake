# CMake toolchain file: bare-metal Arm with the GNU Arm Embedded toolchain (arm-none-eabi-gcc + newlib).
#   cmake -B build -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake [-DEDGEQ_CPU_FLAGS="-mcpu=cortex-m33 -mthumb ..."]
# The CPU flags must match the edgeq target profile (`edgeq targets show cortex-m4`: [cpu] gcc_flags).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size")
# A bare-metal compiler cannot link a test program without a linker script: check it with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(EDGEQ_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" CACHE STRING
    "CPU flags of the edgeq target profile (cortex-m4 here)")
set(CMAKE_C_FLAGS_INIT "${EDGEQ_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${EDGEQ_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${EDGEQ_CPU_FLAGS} -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections")

# Find libraries and headers in the cross sysroot only; programs (edgeq, python) on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
