//! What the operating system says about this process and its machine: the process metrics
//! rendered on every scrape of `/metrics` (the names and units of the Prometheus clients'
//! `process_*` collectors), resident memory and its cgroup limit, and a file system's free
//! space, for the health indicators.
//!
//! On Linux everything comes from `/proc/self` and `/sys/fs/cgroup`; elsewhere there is nothing
//! to render and the memory readings are `None`. Free space is read with `statvfs(3)` on every
//! Unix. Nothing here caches except the process's start time, which never changes.

use std::path::Path;

/// A file system's space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DiskSpace {
    /// What an unprivileged process may still write (`f_bavail`: the blocks reserved for root
    /// are left out).
    pub(crate) free: u64,
    /// The file system's size.
    pub(crate) total: u64,
}

/// The space of the file system `path` is on.
#[cfg(unix)]
#[allow(
    clippy::useless_conversion,
    reason = "the widths of statvfs's fields differ between platforms"
)]
pub(crate) fn disk_space(path: &Path) -> std::io::Result<DiskSpace> {
    let stat = rustix::fs::statvfs(path)?;
    // `f_frsize` is the unit of the block counts; some systems leave it 0 and mean `f_bsize`.
    let unit = match u64::from(stat.f_frsize) {
        0 => u64::from(stat.f_bsize),
        unit => unit,
    };
    Ok(DiskSpace {
        free: u64::from(stat.f_bavail).saturating_mul(unit),
        total: u64::from(stat.f_blocks).saturating_mul(unit),
    })
}

/// The space of the file system `path` is on: unsupported here.
#[cfg(not(unix))]
pub(crate) fn disk_space(_path: &Path) -> std::io::Result<DiskSpace> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free space is read on Unix only",
    ))
}

/// The process's resident memory (`VmRSS`), in bytes; `None` where it cannot be read.
pub(crate) fn resident_memory_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        linux::status_bytes(&status, "VmRSS")
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The memory limit of the process's cgroup (v2 `memory.max`), in bytes; `None` when there is
/// none, or no cgroup v2 to ask.
pub(crate) fn memory_limit_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::memory_limit_bytes()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Appends the process metrics in the Prometheus text format; nothing off Linux, and a metric
/// whose reading fails is left out.
pub(crate) fn render_process_metrics(out: &mut String) {
    #[cfg(target_os = "linux")]
    linux::render(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt::Write as _;
    use std::sync::OnceLock;

    /// The fields of `/proc/self/stat` the metrics use.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) struct Stat {
        /// User and system CPU time, in clock ticks.
        pub(super) utime: u64,
        pub(super) stime: u64,
        pub(super) threads: u64,
        /// When the process started, in clock ticks after boot.
        pub(super) start_ticks: u64,
        /// Virtual memory size, in bytes.
        pub(super) vsize: u64,
    }

    /// Reads `/proc/<pid>/stat`. The second field, the command in parentheses, may hold
    /// spaces and parentheses itself: the fields are counted from the last `)`.
    pub(super) fn parse_stat(text: &str) -> Option<Stat> {
        let (_, rest) = text.rsplit_once(')')?;
        // `rest` begins with field 3 (the state): field n is at index n - 3.
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
        })
    }

    /// A `kB` line of `/proc/<pid>/status` (`VmRSS:    1234 kB`), in bytes.
    pub(super) fn status_bytes(text: &str, key: &str) -> Option<u64> {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            let kib = value
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()?;
            Some(kib.saturating_mul(1024))
        })
    }

    /// The soft limit of open files in `/proc/<pid>/limits`; `None` when unlimited.
    pub(super) fn max_open_files(text: &str) -> Option<u64> {
        text.lines().find_map(|line| {
            let values = line.strip_prefix("Max open files")?;
            values.split_ascii_whitespace().next()?.parse().ok()
        })
    }

    /// The boot time, in seconds since the epoch (`btime` of `/proc/stat`).
    pub(super) fn boot_time(text: &str) -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
    }

    /// The process's cgroup v2 path (the `0::` line of `/proc/<pid>/cgroup`).
    pub(super) fn cgroup_v2_path(text: &str) -> Option<&str> {
        text.lines().find_map(|line| line.strip_prefix("0::"))
    }

    /// A cgroup v2 `memory.max`: bytes, or `max` for no limit.
    pub(super) fn memory_max(text: &str) -> Option<u64> {
        match text.trim() {
            "max" => None,
            value => value.parse().ok(),
        }
    }

    pub(super) fn memory_limit_bytes() -> Option<u64> {
        const ROOT: &str = "/sys/fs/cgroup";
        // The process's own cgroup when the hierarchy is visible (a systemd unit); in a
        // container with a cgroup namespace that path is `/`, and the root is its cgroup.
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| cgroup_v2_path(&text).map(str::to_owned));
        let candidates = own
            .iter()
            .map(|path| format!("{ROOT}{}/memory.max", path.trim_end_matches('/')))
            .chain(std::iter::once(format!("{ROOT}/memory.max")));
        for file in candidates {
            if let Ok(text) = std::fs::read_to_string(&file) {
                return memory_max(&text);
            }
        }
        None
    }

    /// Clock ticks per second, the unit of `/proc`'s CPU times.
    fn ticks_per_second() -> u64 {
        match rustix::param::clock_ticks_per_second() {
            0 => 100,
            ticks => ticks,
        }
    }

    /// When the process started, in seconds since the epoch.
    fn start_time_seconds(stat: &Stat) -> Option<f64> {
        static START: OnceLock<Option<f64>> = OnceLock::new();
        *START.get_or_init(|| {
            let boot = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
            Some(seconds(boot) + ticks(stat.start_ticks))
        })
    }

    /// `ticks` clock ticks, in seconds.
    fn ticks(ticks: u64) -> f64 {
        seconds(ticks) / seconds(ticks_per_second())
    }

    /// A count as a float: exact below 2^53, far beyond any count here.
    #[allow(
        clippy::cast_precision_loss,
        reason = "counts of ticks and seconds stay far below 2^53"
    )]
    fn seconds(count: u64) -> f64 {
        count as f64
    }

    fn gauge(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }

    pub(super) fn render(out: &mut String) {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse_stat(&text));
        if let Some(stat) = &stat {
            gauge(
                out,
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                "counter",
                ticks(stat.utime.saturating_add(stat.stime)),
            );
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                out,
                "process_open_fds",
                "Number of open file descriptors.",
                "gauge",
                fds.count(),
            );
        }
        if let Some(max) = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| max_open_files(&text))
        {
            gauge(
                out,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                "gauge",
                max,
            );
        }
        if let Some(stat) = &stat {
            gauge(
                out,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                "gauge",
                stat.vsize,
            );
        }
        if let Some(rss) = super::resident_memory_bytes() {
            gauge(
                out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                "gauge",
                rss,
            );
        }
        if let Some(stat) = &stat {
            if let Some(start) = start_time_seconds(stat) {
                gauge(
                    out,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    "gauge",
                    start,
                );
            }
            gauge(
                out,
                "process_threads",
                "Number of OS threads in the process.",
                "gauge",
                stat.threads,
            );
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A real line of `/proc/<pid>/stat`, its command holding a space and a parenthesis.
        const STAT: &str = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
            250 75 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 \
            4096 0 0 0 0 17 1 0 0 0 0 0\n";

        #[test]
        fn stat_fields_are_counted_from_the_last_parenthesis() {
            assert_eq!(
                parse_stat(STAT),
                Some(Stat {
                    utime: 250,
                    stime: 75,
                    threads: 9,
                    start_ticks: 123_456,
                    vsize: 987_654_321,
                })
            );
            assert_eq!(parse_stat("4242 (app) S 1 2"), None, "too few fields");
            assert_eq!(parse_stat("no parenthesis"), None);
        }

        #[test]
        fn status_lines_are_read_in_bytes() {
            let status = "Name:\tapp\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
            assert_eq!(status_bytes(status, "VmRSS"), Some(2048 * 1024));
            assert_eq!(status_bytes(status, "VmSize"), Some(123_456 * 1024));
            assert_eq!(status_bytes(status, "VmSwap"), None);
            assert_eq!(status_bytes(status, "Threads"), None, "not a kB line");
        }

        #[test]
        fn limits_give_the_soft_limit_of_open_files() {
            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            1024                 524288               files     \n";
            assert_eq!(max_open_files(limits), Some(1024));
            let unlimited =
                "Max open files            unlimited            unlimited            files\n";
            assert_eq!(max_open_files(unlimited), None);
        }

        #[test]
        fn boot_time_cgroup_and_memory_max() {
            assert_eq!(
                boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
                Some(1_700_000_000)
            );
            assert_eq!(
                cgroup_v2_path("0::/system.slice/todo.service\n"),
                Some("/system.slice/todo.service")
            );
            assert_eq!(
                cgroup_v2_path("12:memory:/docker/abc\n1:name=systemd:/\n"),
                None,
                "cgroup v1 only"
            );
            assert_eq!(memory_max("max\n"), None);
            assert_eq!(memory_max("268435456\n"), Some(268_435_456));
        }

        #[test]
        fn the_process_metrics_of_this_process_are_sane() {
            let mut out = String::new();
            render(&mut out);
            let value = |name: &str| -> f64 {
                out.lines()
                    .find_map(|line| line.strip_prefix(&format!("{name} ")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} in {out}"))
            };
            assert!(value("process_resident_memory_bytes") > 0.0);
            assert!(
                value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes")
            );
            assert!(value("process_threads") >= 1.0);
            assert!(value("process_open_fds") >= 1.0);
            assert!(value("process_cpu_seconds_total") >= 0.0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let start = value("process_start_time_seconds");
            assert!(start > 1.0e9 && start <= now + 1.0, "{start} vs {now}");
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_threads",
            ] {
                assert!(out.contains(&format!("# HELP {name} ")), "{out}");
                assert!(out.contains(&format!("# TYPE {name} ")), "{out}");
            }
            assert!(out.contains("# TYPE process_cpu_seconds_total counter\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_working_directory_has_a_size_and_some_free_space() {
        let space = disk_space(Path::new(".")).expect("statvfs of the working directory");
        assert!(space.total > 0);
        assert!(space.free <= space.total);
        assert!(disk_space(Path::new("/no/such/directory/anywhere")).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_resident_memory() {
        assert!(resident_memory_bytes().is_some_and(|rss| rss > 0));
    }
}
