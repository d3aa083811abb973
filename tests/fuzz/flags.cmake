# Compile flags of the fuzz build (-DFUNDLEDGER_FUZZ=ON), included before the modules so that
# every library is instrumented. clang only: libFuzzer comes with it (Debian: clang and
# libclang-rt-14-dev). The Debian libraries (RocksDB, capnp, libsodium) are built with GCC
# against libstdc++, which clang uses too, so they link as they are, uninstrumented.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FUNDLEDGER_FUZZ needs clang: CC=clang CXX=clang++ cmake ...")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr
  -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  # clang warns where GCC does not; the fuzz build must not stop on a warning GCC's CI passes.
  -Wno-error)
add_link_options(-fsanitize=address,undefined)
