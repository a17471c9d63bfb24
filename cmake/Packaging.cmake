# The Debian package: `cpack -G DEB` in the build directory (after building)
# writes hyperlet_VERSION_amd64.deb with everything `cmake --install` installs
# (hyperlet, hyperlet-runc, hyperlet-c++, the guest and fiber libraries, the
# public headers, the CMake package) and what a distribution adds: a man page
# generated from hyperlet's own --help-all by help2man, bash and zsh
# completion, the README and the copyright file. tests/toolchain/deb.sh
# builds and checks it.

# The man page: help2man runs the built hyperlet (no KVM needed for --help).
find_program(HYPERLET_HELP2MAN help2man)
if(HYPERLET_HELP2MAN)
  set(man_page ${PROJECT_BINARY_DIR}/man/hyperlet.1)
  add_custom_command(
    OUTPUT ${man_page}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${HYPERLET_HELP2MAN} --no-info --section 1 --help-option=--help-all
            --name "run a static x86-64 Linux program as a KVM microVM"
            --include ${PROJECT_SOURCE_DIR}/packaging/debian/hyperlet.h2m
            --output ${man_page} $<TARGET_FILE:hyperlet>
    DEPENDS hyperlet ${PROJECT_SOURCE_DIR}/packaging/debian/hyperlet.h2m
    COMMENT "Generating the hyperlet(1) man page from --help-all")
  add_custom_target(hyperlet_man_page ALL DEPENDS ${man_page})
  install(FILES ${man_page} DESTINATION share/man/man1)
else()
  message(STATUS "help2man not found (Debian: apt-get install help2man): no man page")
endif()

install(FILES ${PROJECT_SOURCE_DIR}/packaging/completions/hyperlet.bash
        DESTINATION share/bash-completion/completions RENAME hyperlet)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/completions/_hyperlet DESTINATION share/zsh/vendor-completions)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/packaging/debian/copyright
        DESTINATION share/doc/hyperlet)
if(EXISTS ${PROJECT_SOURCE_DIR}/LICENSE)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION share/doc/hyperlet)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hyperlet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "run one static x86-64 Linux program as a KVM microVM")
set(CPACK_PACKAGE_DESCRIPTION
    "hyperlet runs a statically linked x86-64 Linux program in its own KVM microVM: VM-level isolation, a start-up of a few milliseconds, and every I/O request checked by the host against a deny-by-default policy (--volume, --publish, --allow-connect). Includes hyperlet-runc (an OCI runtime for podman and containerd), the hyperlet-c++ compiler wrapper, the guest library and the CMake package (find_package(hyperlet), hyperlet_add_executable).")
set(CPACK_PACKAGE_CONTACT "hyperlet maintainers <hyperlet@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Library dependencies of the binaries, from dpkg-shlibdeps, and the two libraries
# hyperlet loads only when needed (dlopen: Zydis to decode an image without a
# manifest, libarchive for `hyperlet pack`), which dpkg-shlibdeps cannot see.
# hyperlet itself is a static-pie: the libc.so those two bring with them must be
# the glibc release it was linked with (ld's warning about dlopen in a static
# program), hence the bounds on libc6.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
file(STRINGS /usr/include/features.h glibc_version_lines REGEX "^#define[ \t]+__GLIBC(_MINOR)?__[ \t]+[0-9]+")
string(REGEX REPLACE ".*__GLIBC__[ \t]+([0-9]+).*" "\\1" glibc_major "${glibc_version_lines}")
string(REGEX REPLACE ".*__GLIBC_MINOR__[ \t]+([0-9]+).*" "\\1" glibc_minor "${glibc_version_lines}")
math(EXPR glibc_next_minor "${glibc_minor} + 1")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= ${glibc_major}.${glibc_minor}), libc6 (<< ${glibc_major}.${glibc_next_minor}), libzydis4.0, libarchive13")
# Building images needs a compiler and lld (and hyperlet::fiber static Boost.Context); running them needs none.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "g++, lld, cmake, libboost-context-dev")
include(CPack)
