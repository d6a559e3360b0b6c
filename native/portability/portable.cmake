# lotus_portable_binary(<target>): what a prebuild needs to load on older Linux distributions.
# libstdc++ is linked in (its symbols hidden, so nothing clashes with the process's own
# libstdc++), leaving glibc and libgcc_s as the only system dependencies. With LOTUS_GLIBC_STUBS (a folder made
# by scripts/release/glibc-stubs.js) the link also resolves against stub glibc libraries whose
# symbol versions stop at the baseline (2.28), so the binary asks for nothing newer.
option(LOTUS_PORTABLE "Link libstdc++/libgcc statically (release prebuilds)" OFF)
set(LOTUS_GLIBC_STUBS "$ENV{LOTUS_GLIBC_STUBS}" CACHE PATH "Stub glibc folder (release prebuilds)")

function(lotus_portable_binary target)
  if(NOT LOTUS_PORTABLE OR NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
    return()
  endif()
  # libgcc_s.so.1 stays shared: every glibc system has it (glibc itself loads it), and one unwinder
  # per process is what C++ exceptions need. It asks only for GCC_3.x/4.x symbol versions.
  target_link_options(${target} PRIVATE -static-libstdc++ -Wl,--exclude-libs,ALL)
  if(LOTUS_GLIBC_STUBS)
    target_sources(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/glibc_compat.c)
    # The stubs folder goes first in the library search path; libdl/libpthread/librt are needed by name
    # because glibc < 2.34 keeps dlopen, pthread_* and shm_open there, not in libc.so.6.
    target_link_options(${target} PRIVATE "-L${LOTUS_GLIBC_STUBS}" "-Wl,-rpath-link,${LOTUS_GLIBC_STUBS}")
    target_link_libraries(${target} PRIVATE -Wl,--no-as-needed dl pthread rt -Wl,--as-needed)
  endif()
endfunction()
