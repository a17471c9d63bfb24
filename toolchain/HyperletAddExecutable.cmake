# hyperlet_add_executable(<name> <source>... [MEMORY <size>] [ENV <KEY=VALUE>...] [ARGS <arg>...]
#                         [PACK <file.tar> [PACK_NAME <name[:tag]>] [PORTS <port[/udp]>...]])
#
# Builds <name> as a hyperlet microVM image: a static x86-64 executable linked
# by lld against the guest library (hyperlet::guest, <hyperlet/guest.h>), which
# also runs natively. After linking, `hyperlet manifest` writes the image's
# defaults (MEMORY, ENV, ARGS; `hyperlet run` options override them) and its
# table of syscall sites into the image. Also adds <name>-run, which builds the
# image and runs it in a microVM with those defaults.
#
# PACK also writes <file.tar> (relative: in the current binary directory), an
# OCI image layout tarball of the image made by `hyperlet pack` (PACK_NAME: its
# name, default <name>; PORTS: its ExposedPorts), built with the target `all`
# and by <name>-oci; `podman load -i` or `ctr images import` take it.
#
# The result is an ordinary executable target: add sources, include
# directories, libraries and properties to it as usual (libraries must exist as
# static archives, since a microVM has no dynamic loader).
#
# Needs the targets hyperlet::guest and hyperlet::hyperlet (the runner), which
# find_package(hyperlet) or the hyperlet source tree define.
function(hyperlet_add_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "MEMORY;PACK;PACK_NAME" "ENV;ARGS;PORTS")
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hyperlet_add_executable(${name}): no source files given")
  endif()
  if(DEFINED arg_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "hyperlet_add_executable(${name}): no value after ${arg_KEYWORDS_MISSING_VALUES}")
  endif()

  add_executable(${name} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE hyperlet::guest)
  # A microVM has no dynamic loader, so the image is static; lld links it
  # (faster than ld.bfd, and the linker the toolchain is tested with).
  target_link_options(${name} PRIVATE -static -fuse-ld=lld)

  # Always --option=value: a separate value that starts with "-" (ARGS --port)
  # would be read as an option of `hyperlet manifest`.
  set(manifest_options)
  if(DEFINED arg_MEMORY)
    list(APPEND manifest_options --memory=${arg_MEMORY})
  endif()
  foreach(variable IN LISTS arg_ENV)
    if(NOT variable MATCHES "^[^=]+=")
      message(FATAL_ERROR "hyperlet_add_executable(${name}): ENV ${variable}: expected KEY=VALUE")
    endif()
    list(APPEND manifest_options --env=${variable})
  endforeach()
  foreach(argument IN LISTS arg_ARGS)
    list(APPEND manifest_options --arg=${argument})
  endforeach()

  # The manifest is part of linking: an image without its notes would still
  # run, but without its defaults and with a slower boot (sites found by
  # decoding), so a failure here fails the build.
  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND $<TARGET_FILE:hyperlet::hyperlet> manifest $<TARGET_FILE:${name}> ${manifest_options}
    COMMENT "Writing the hyperlet manifest into ${name}"
    VERBATIM)

  add_custom_target(${name}-run
    COMMAND $<TARGET_FILE:hyperlet::hyperlet> run $<TARGET_FILE:${name}>
    DEPENDS ${name}
    COMMENT "Running ${name} in a hyperlet microVM"
    USES_TERMINAL
    VERBATIM)

  if(DEFINED arg_PACK)
    cmake_path(ABSOLUTE_PATH arg_PACK BASE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR} OUTPUT_VARIABLE tarball)
    set(pack_options --name=${name})
    if(DEFINED arg_PACK_NAME)
      set(pack_options --name=${arg_PACK_NAME})
    endif()
    foreach(port IN LISTS arg_PORTS)
      list(APPEND pack_options --port=${port})
    endforeach()
    add_custom_command(OUTPUT ${tarball}
      COMMAND $<TARGET_FILE:hyperlet::hyperlet> pack $<TARGET_FILE:${name}> -o ${tarball} ${pack_options}
      DEPENDS ${name} $<TARGET_FILE:${name}>
      COMMENT "Packing ${name} as an OCI image: ${tarball}"
      VERBATIM)
    add_custom_target(${name}-oci ALL DEPENDS ${tarball})
  elseif(DEFINED arg_PACK_NAME OR DEFINED arg_PORTS)
    message(FATAL_ERROR "hyperlet_add_executable(${name}): PACK_NAME and PORTS need PACK")
  endif()

  # Inside the hyperlet source tree the runner is built too: build it first.
  get_target_property(runner hyperlet::hyperlet ALIASED_TARGET)
  if(runner)
    add_dependencies(${name} ${runner})
    add_dependencies(${name}-run ${runner})
  endif()
endfunction()
