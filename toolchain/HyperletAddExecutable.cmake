# hyperlet_add_executable(<name> <source>... [MEMORY <size>] [ADDRESS_SPACE <size>]
#                         [ENV <KEY=VALUE>...] [ARGS <arg>...]
#                         [VOLUME <guest_path[:ro|:rw][:required|:optional]>...]
#                         [PUBLISH <rule>...] [ALLOW_CONNECT <rule>...]
#                         [FILES <host_file:guest_path>...]
#                         [WORKDIR <dir>] [HOSTNAME <name>] [CPUS <n>]
#                         [PACK <file.tar> [PACK_NAME <name[:tag]>] [PORTS <port[/udp]>...]])
#
# Builds <name> as a hyperlet microVM image: a static x86-64 executable linked
# by lld against the guest library (hyperlet::guest, <hyperlet/guest.h>), which
# also runs natively. After linking, `hyperlet manifest` writes the image's
# defaults and its table of syscall sites into the image; `hyperlet run`
# options override the defaults. The manifest describes the service: MEMORY,
# ADDRESS_SPACE (room for PROT_NONE reservations beyond the memory), ENV, ARGS; the VOLUMEs it expects (their host directories are given at run
# time: --volume HOST_DIR:GUEST_PATH), the --publish and --allow-connect rules
# it needs, the FILES shipped inside the image (read-only at guest_path in the
# app; a relative host_file is in the current source directory, and changing
# it relinks), WORKDIR, HOSTNAME and CPUS. Also adds <name>-run, which builds
# the image and runs it in a microVM with those defaults, each VOLUME backed by
# a directory of the build (<binary dir>/<name>-volumes/<guest path>).
function(hyperlet_add_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "MEMORY;ADDRESS_SPACE;PACK;PACK_NAME;WORKDIR;HOSTNAME;CPUS"
    "ENV;ARGS;PORTS;VOLUME;PUBLISH;ALLOW_CONNECT;FILES")
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
  if(DEFINED arg_ADDRESS_SPACE)
    list(APPEND manifest_options --address-space=${arg_ADDRESS_SPACE})
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
  # What the build knows for <name>-run: a directory of the build for each volume.
  set(run_options)
  set(run_volumes)
  foreach(volume IN LISTS arg_VOLUME)
    list(APPEND manifest_options --volume=${volume})
    string(REGEX REPLACE ":.*" "" guest_path "${volume}")
    string(REGEX REPLACE "^/" "" directory "${guest_path}")
    set(directory ${CMAKE_CURRENT_BINARY_DIR}/${name}-volumes/${directory})
    list(APPEND run_volumes ${directory})
    list(APPEND run_options --volume=${directory}:${guest_path})
  endforeach()
  foreach(rule IN LISTS arg_PUBLISH)
    list(APPEND manifest_options --publish=${rule})
  endforeach()
  foreach(rule IN LISTS arg_ALLOW_CONNECT)
    list(APPEND manifest_options --allow-connect=${rule})
  endforeach()
  foreach(file IN LISTS arg_FILES)
    string(FIND "${file}" ":" colon REVERSE)
    if(colon LESS 1)
      message(FATAL_ERROR "hyperlet_add_executable(${name}): FILES ${file}: expected HOST_FILE:GUEST_PATH")
    endif()
    string(SUBSTRING "${file}" 0 ${colon} host_file)
    math(EXPR after "${colon} + 1")
    string(SUBSTRING "${file}" ${after} -1 guest_path)
    cmake_path(ABSOLUTE_PATH host_file BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND manifest_options --file=${host_file}:${guest_path})
    # The file is part of the image: a change to it must write the manifest again.
    set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${host_file})
  endforeach()
  foreach(keyword WORKDIR HOSTNAME CPUS)
    if(DEFINED arg_${keyword})
      string(TOLOWER ${keyword} option)
      list(APPEND manifest_options --${option}=${arg_${keyword}})
    endif()
  endforeach()

  # The manifest is part of linking: an image without its notes would still
  # run, but without its defaults and with a slower boot (sites found by
  # decoding), so a failure here fails the build.
  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND $<TARGET_FILE:hyperlet::hyperlet> manifest $<TARGET_FILE:${name}> ${manifest_options}
    COMMENT "Writing the hyperlet manifest into ${name}"
    VERBATIM)

  set(make_volumes)
  if(run_volumes)
    set(make_volumes COMMAND ${CMAKE_COMMAND} -E make_directory ${run_volumes})
  endif()
  add_custom_target(${name}-run
    ${make_volumes}
    COMMAND $<TARGET_FILE:hyperlet::hyperlet> run ${run_options} $<TARGET_FILE:${name}>
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
