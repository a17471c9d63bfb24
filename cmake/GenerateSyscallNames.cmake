# Writes a C++ table of x86-64 syscall names from the kernel's uapi header, so
# --trace and --stats can name every syscall without a hand-kept list.
file(STRINGS "${UNISTD_HEADER}" lines REGEX "^#define __NR_[a-z0-9_]+ [0-9]+$")
set(body "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "^#define __NR_([a-z0-9_]+) ([0-9]+)$" "  {\\2, \"\\1\"},\n" entry "${line}")
  string(APPEND body "${entry}")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from ${UNISTD_HEADER}; do not edit.\n${body}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
