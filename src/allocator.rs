//! How the process's memory allocator is set up.

/// Caps glibc's malloc at two arenas. By default it opens one per thread that contends, up
/// to eight per core, and keeps what each arena freed: librdkafka's threads, tokio's
/// workers, tantivy's and the embedded broker's leave hundreds of MiB resident that nothing
/// uses. `eventdeck bench ingest` (100,000 events, local index) measured 515 MiB resident
/// with the default and 205 MiB with two arenas, at the same throughput. An explicit
/// `MALLOC_ARENA_MAX` in the environment wins.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called at the start of main, before any other thread exists; mallopt only
        // changes a tuning parameter of the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Hands memory that malloc holds free back to the kernel every `every`, on a thread of its
/// own. glibc returns only the top of a heap by itself; a burst (a backlog read, a load
/// published as fast as possible) leaves freed chunks in the middle of the heaps resident
/// for good. `malloc_trim` releases those pages too; it takes a few milliseconds and holds
/// an arena's lock meanwhile, so it runs seldom.
pub fn trim_periodically(every: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            trim_now();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the malloc trimmer");
    }
}

/// How often the trimmer runs in every eventdeck process (see [`trim_periodically`]).
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// One pass of the trimmer, now; returns how long it took.
pub fn trim_now() -> std::time::Duration {
    let t = std::time::Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
    t.elapsed()
}
