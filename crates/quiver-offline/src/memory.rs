//! Gives memory the job has freed back to the operating system.
//!
//! glibc's allocator keeps one arena per thread. A job's rows are allocated by
//! DataFusion's worker threads, and the Delta write frees them on another
//! thread while it builds the sorted copy; the freed pages stay in the worker
//! threads' arenas, where the writing thread cannot reuse them, so the process
//! held the data twice (the demo job: 1.3 GiB before the sort, 1.9 GiB after).
//! `malloc_trim` returns the free pages of every arena to the system.
//! The `quiver` binary allocates through mimalloc instead (see docs/DESIGN.md),
//! which does not have this problem; the call then trims only what C code
//! such as LMDB took from glibc, and stays for programs that embed the library
//! with the system allocator.

/// Returns free heap pages of every allocator arena to the system (glibc on
/// Linux; elsewhere nothing to do).
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no
    // preconditions and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
