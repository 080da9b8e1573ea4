//! Gives heap memory the process has freed back to the operating system.
//!
//! glibc's malloc returns memory to the system only from the top of each heap; pages
//! freed in the middle stay resident, so the process's RSS stays at its peak after
//! every burst. Bursts are what an LLM gateway sees: 10,000 streams opened at once hold
//! ~20 KiB each of request state until their first event, and their connections
//! outlive that state in between, so the freed state sits in pages glibc keeps.
//! `malloc_trim(0)` hands every whole free page back (`madvise`); a thread of its own
//! calls it every [`TRIM_INTERVAL`]. Elsewhere than on glibc this module does nothing.

use std::sync::Once;
use std::time::{Duration, Instant};

/// How often freed pages go back. A trim walks every arena under its lock, for well
/// under a millisecond on the gateway's heaps (debug log `heap trimmed`); every ten
/// seconds that is noise, and memory comes back within seconds of a burst.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the trimming thread, once per process (later calls do nothing). Failing to
/// start it costs only memory, so it is logged, not returned.
pub fn spawn_trimmer() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        if !TRIMS {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("heap-trim".to_owned())
            .spawn(|| {
                loop {
                    // The thread's whole job is to wait between trims.
                    std::thread::park_timeout(TRIM_INTERVAL);
                    let started = Instant::now();
                    let released = trim();
                    tracing::debug!(
                        released,
                        micros = started.elapsed().as_micros() as u64,
                        "heap trimmed"
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the heap trimming thread");
        }
    });
}

/// Whether this build has a trim to call.
const TRIMS: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Returns whole free pages to the system; true if any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "malloc_trim is glibc's C API; the libc crate has no safe wrapper"
)]
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointers and has no preconditions; glibc locks each
    // arena itself while it walks it.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// No trim off glibc: other allocators (musl, jemalloc, the macOS and Windows ones)
/// have no such call, and several purge on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_pages_in_the_middle_of_the_heap_go_back() {
        // Many small blocks (below glibc's mmap threshold, so on the heap), then free
        // all but every 64th: the survivors pin the heap's top, so only a trim can
        // return the pages between them.
        let mut blocks: Vec<Vec<u8>> = (0..20_000).map(|_| vec![1u8; 4096]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(64).map(std::mem::take).collect();
        drop(blocks);
        assert!(trim(), "nothing was released");
        drop(kept);
    }
}
