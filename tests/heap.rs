//! The allocator the library installs (`src/heap.rs`: jemalloc, handing freed pages
//! back within a second), measured on this process's own RSS. A binary of its own, so
//! that no other test allocates while it measures.

// Links the library, and with it the allocator it installs.
extern crate switchyard;

#[test]
#[cfg(target_os = "linux")]
fn memory_freed_after_a_burst_goes_back_to_the_system_within_seconds() {
    use std::time::{Duration, Instant};

    fn rss_mib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    }

    // A burst: 128 MiB in 4 KiB blocks, every 64th of which outlives the rest (as a
    // connection outlives its request's state). With jemalloc's default options the
    // freed pages would stay counted for 10 s and more.
    let before = rss_mib();
    let mut blocks: Vec<Vec<u8>> = (0..32_768).map(|_| vec![1u8; 4096]).collect();
    let peak = rss_mib();
    assert!(
        peak >= before + 100,
        "the burst was not resident: {before} -> {peak} MiB"
    );
    let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(64).map(std::mem::take).collect();
    drop(blocks);

    let started = Instant::now();
    let mut now = rss_mib();
    while now > before + 32 && started.elapsed() < Duration::from_secs(10) {
        std::thread::park_timeout(Duration::from_millis(100));
        now = rss_mib();
    }
    assert!(
        now <= before + 32,
        "RSS stayed at {now} MiB after 10 s (before the burst {before}, at its peak {peak})"
    );
    drop(kept);
}
