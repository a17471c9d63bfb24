// The image manifest: ELF notes the toolchain writes into an app image and
// `hyperlet run` / `hyperlet inspect` read. Both notes are ordinary ELF notes
// (Elf64_Nhdr, name "hyperlet"), in non-allocated sections added after linking
// by `hyperlet manifest`, so they cost the guest nothing and survive `strip`.
//
//   section .note.hyperlet.manifest, type kNoteManifest:
//     desc = UTF-8 JSON object, e.g.
//       {"abi": 1, "memory": "128M", "env": ["K=V"], "args": ["--port", "80"]}
//     "abi" (required): the guest ABI version the image was built for
//     (abi::kAbiVersion); an image from a newer ABI is refused. Every other key
//     is optional; unknown keys are refused (a newer toolchain's image).
//
//   section .note.hyperlet.sites, type kNoteSyscallSites:
//     desc = uint32 version (kSitesVersion), uint32 count,
//            then count uint64 link-time virtual addresses of `syscall`
//            instructions (before any static-pie load bias), ascending.
//     With it, the loader need not decode the binary at boot. Version 1 tables
//     came from a linear sweep that took `0f 05` bytes in data for syscalls;
//     they are ignored (the loader analyses the code itself), never trusted.
#pragma once

#include <stdint.h>

namespace hyperlet::manifest {

inline constexpr char kNoteName[] = "hyperlet";  // namesz 9 including the NUL
inline constexpr uint32_t kNoteManifest = 1;
inline constexpr uint32_t kNoteSyscallSites = 2;
inline constexpr uint32_t kSitesVersion = 2;
inline constexpr uint32_t kSitesVersionLinearSweep = 1;  // ignored when read
inline constexpr char kManifestSection[] = ".note.hyperlet.manifest";
inline constexpr char kSitesSection[] = ".note.hyperlet.sites";

}  // namespace hyperlet::manifest
