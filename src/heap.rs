//! The process's memory allocator: jemalloc, set to hand freed memory back to the system
//! within a second.
//!
//! Bursts are what an LLM gateway sees. 10,000 streams opened at once hold ~20 KiB each
//! of request state until their first event, while the connections that outlive that
//! state are allocated in between. glibc's malloc keeps the pages the freed state leaves
//! behind: even trimmed every 10 s, such a burst kept 338-343 MiB resident against the
//! 241-245 MiB of the same streams opened in waves. jemalloc groups allocations by size
//! class, so short-lived state does not pin the pages of long-lived connections, and
//! its background thread returns emptied pages on its own (docs/performance.md has
//! the figures). SQLite's C code keeps the system allocator.
//!
//! [`CONFIG`] is read by jemalloc before the first allocation; `_RJEM_MALLOC_CONF` in
//! the environment can override any of its options.

use std::ffi::CStr;

/// jemalloc's options, as its `malloc_conf` string:
/// - `background_thread:true,max_background_threads:1`: a thread of jemalloc's own
///   returns freed pages, instead of whichever request thread happens to allocate next
///   (one thread, not one per CPU, is plenty for that);
/// - `dirty_decay_ms:250`: pages unused for about a quarter of a second go back, so RSS
///   follows a burst down within a second; pages reused sooner (steady load) never do;
/// - `muzzy_decay_ms:0`: they go back with `MADV_DONTNEED`, which lowers RSS at once,
///   rather than first with `MADV_FREE`, which leaves them counted until the kernel
///   runs short of memory.
pub const CONFIG: &CStr =
    c"background_thread:true,max_background_threads:1,dirty_decay_ms:250,muzzy_decay_ms:0";

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// [`CONFIG`] under the name jemalloc (built with prefixed symbols) reads its
/// compile-time options from: a C `const char *`, declared weak so that a program can
/// define it.
#[cfg(not(target_env = "msvc"))]
#[expect(
    unsafe_code,
    reason = "jemalloc reads its compile-time options from this exported C global"
)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&u8> = CONFIG.to_bytes_with_nul().first();
