//! The build id a worker registers under by default: what names the code it runs, so that the
//! same binary restarted serves the same version and a rebuilt one gets a new version.
//!
//! In order:
//! 1. `TRIGR_BUILD_ID`, when set and not empty (a git commit, an image digest, …);
//! 2. the GNU build id of the running executable, on Linux: a hash of the whole output that
//!    the linker writes into an ELF note (`.note.gnu.build-id`, on by default in the Rust
//!    toolchains and the C compilers of the usual distributions), read from the file's
//!    headers in microseconds;
//! 3. else a SHA-256 of the executable's bytes, announced in a log line since it takes a while
//!    for a large (debug) binary.
//!
//! The executable is read through `/proc/self/exe` on Linux, which names the file this process
//! runs even after a rebuild replaced the file at its path.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Instant;

/// The environment variable that names a build.
pub const BUILD_ID_VAR: &str = "TRIGR_BUILD_ID";

/// The build id of this process (see the module docs); `None` when the executable cannot be
/// read.
pub(crate) fn executable_build_id() -> Option<String> {
    if let Ok(id) = std::env::var(BUILD_ID_VAR) {
        if !id.is_empty() {
            return Some(id);
        }
    }
    let path = executable()?;
    let mut file = File::open(&path).ok()?;
    if let Some(id) = elf_build_id(&mut file) {
        tracing::debug!("this build is named by its ELF build id {id}");
        return Some(format!("elf-build-id:{id}"));
    }
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        "hashing the executable {} ({} MB) to name this build; set {BUILD_ID_VAR} to skip this",
        path.display(),
        size / (1024 * 1024)
    );
    let started = Instant::now();
    let hash = sha256_of(&mut file)?;
    tracing::info!(
        "hashed the executable in {} ms",
        started.elapsed().as_millis()
    );
    Some(hash)
}

/// The file this process runs.
fn executable() -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        let own = PathBuf::from("/proc/self/exe");
        if own.exists() {
            return Some(own);
        }
    }
    std::env::current_exe().ok()
}

/// SHA-256 of the rest of `file`, read from its start, as hex.
fn sha256_of(file: &mut File) -> Option<String> {
    use sha2::{Digest, Sha256};
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

/// Most program headers looked at, and the largest note segment read.
const MAX_PROGRAM_HEADERS: u64 = 256;
const MAX_NOTES_BYTES: u64 = 64 * 1024;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;

/// The GNU build id of an ELF file, as hex; `None` for any other file, or one without it.
pub(crate) fn elf_build_id<F: Read + Seek>(file: &mut F) -> Option<String> {
    let mut head = [0u8; 64];
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_exact(&mut head).ok()?;
    if head[..4] != *b"\x7fELF" {
        return None;
    }
    let elf = Elf {
        wide: match head[4] {
            1 => false,
            2 => true,
            _ => return None,
        },
        little: match head[5] {
            1 => true,
            2 => false,
            _ => return None,
        },
    };
    let (phoff, phentsize, phnum) = if elf.wide {
        (
            elf.u64(&head, 0x20)?,
            elf.u16(&head, 0x36)?,
            elf.u16(&head, 0x38)?,
        )
    } else {
        (
            u64::from(elf.u32(&head, 0x1c)?),
            elf.u16(&head, 0x2a)?,
            elf.u16(&head, 0x2c)?,
        )
    };
    let entry = u64::from(phentsize);
    if entry < if elf.wide { 0x38 } else { 0x20 } {
        return None;
    }
    for i in 0..u64::from(phnum).min(MAX_PROGRAM_HEADERS) {
        let mut ph = vec![0u8; entry as usize];
        file.seek(SeekFrom::Start(phoff.checked_add(i * entry)?))
            .ok()?;
        file.read_exact(&mut ph).ok()?;
        if elf.u32(&ph, 0)? != PT_NOTE {
            continue;
        }
        let (offset, size) = if elf.wide {
            (elf.u64(&ph, 0x08)?, elf.u64(&ph, 0x20)?)
        } else {
            (
                u64::from(elf.u32(&ph, 0x04)?),
                u64::from(elf.u32(&ph, 0x10)?),
            )
        };
        let mut notes = vec![0u8; size.min(MAX_NOTES_BYTES) as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut notes).ok()?;
        if let Some(id) = elf.build_id_note(&notes) {
            return Some(id);
        }
    }
    None
}

/// How an ELF file writes its numbers.
struct Elf {
    wide: bool,
    little: bool,
}

impl Elf {
    fn u16(&self, b: &[u8], at: usize) -> Option<u16> {
        let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(&self, b: &[u8], at: usize) -> Option<u32> {
        let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    fn u64(&self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    }

    /// The descriptor of the `GNU` build id note among `notes`, as hex.
    fn build_id_note(&self, notes: &[u8]) -> Option<String> {
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let name_size = self.u32(notes, at)? as usize;
            let desc_size = self.u32(notes, at + 4)? as usize;
            let kind = self.u32(notes, at + 8)?;
            let name_at = at + 12;
            let desc_at = name_at.checked_add(name_size.checked_next_multiple_of(4)?)?;
            let end = desc_at.checked_add(desc_size.checked_next_multiple_of(4)?)?;
            let name = notes.get(name_at..name_at + name_size)?;
            let desc = notes.get(desc_at..desc_at + desc_size)?;
            if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
                return Some(hex::encode(desc));
            }
            at = end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 64-bit little-endian ELF file whose one program header is a note segment holding
    /// `notes`.
    fn elf64(notes: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&PT_NOTE.to_le_bytes());
        f[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        f[ph + 0x20..ph + 0x28].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        f.extend_from_slice(notes);
        f
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend_from_slice(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    #[test]
    fn reads_the_gnu_build_id_note() {
        let mut notes = note(
            b"GNU\0",
            1,
            &[0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
        );
        notes.extend(note(
            b"GNU\0",
            NT_GNU_BUILD_ID,
            &[0xab, 0xcd, 0xef, 0x01, 0x23],
        ));
        let id = elf_build_id(&mut Cursor::new(elf64(&notes)));
        assert_eq!(id.as_deref(), Some("abcdef0123"));
    }

    #[test]
    fn other_files_and_notes_have_none() {
        let other_owner = note(b"Go\0\0", NT_GNU_BUILD_ID, &[1, 2, 3, 4]);
        assert_eq!(elf_build_id(&mut Cursor::new(elf64(&other_owner))), None);
        assert_eq!(elf_build_id(&mut Cursor::new(elf64(&[]))), None);
        // A note that claims more bytes than the segment holds.
        let mut torn = note(b"GNU\0", NT_GNU_BUILD_ID, &[1, 2, 3, 4]);
        torn[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(elf_build_id(&mut Cursor::new(elf64(&torn))), None);
        assert_eq!(
            elf_build_id(&mut Cursor::new(b"#!/bin/sh\n".to_vec())),
            None
        );
        assert_eq!(elf_build_id(&mut Cursor::new(Vec::new())), None);
        let mut bad_class = elf64(&[]);
        bad_class[4] = 9;
        assert_eq!(elf_build_id(&mut Cursor::new(bad_class)), None);
    }

    #[test]
    fn two_builds_have_two_ids() {
        let a = elf64(&note(b"GNU\0", NT_GNU_BUILD_ID, &[1; 20]));
        let b = elf64(&note(b"GNU\0", NT_GNU_BUILD_ID, &[2; 20]));
        assert_ne!(
            elf_build_id(&mut Cursor::new(a)),
            elf_build_id(&mut Cursor::new(b))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_test_binary_has_one() {
        let mut own = File::open("/proc/self/exe").expect("the running executable");
        let id = elf_build_id(&mut own).expect("the toolchain writes a GNU build id");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        // The fallback hashes the same file.
        let hash = sha256_of(&mut own).expect("hash");
        assert_eq!(hash.len(), 64);
    }
}
