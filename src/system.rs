//! Readings of the machine and of this process: memory, CPU, load, disk usage and RSS.
//!
//! Shared by the local check kinds and by `/health/detailed`, so both report the same numbers.

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// Memory of the machine.
#[derive(Debug, Clone, Copy)]
pub struct MemoryUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// Used as `free` computes it: total minus available (cache and buffers count as free).
    pub percent_used: f64,
}

/// Reads the machine's memory.
///
/// # Errors
/// When the kernel's figures cannot be read.
pub fn memory() -> Result<MemoryUsage, String> {
    let mut sys = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .map_err(|e| format!("cannot read memory usage: {e}"))?;
    sys.refresh_memory();
    let total = sys.total_memory();
    let available = sys.available_memory();
    let percent_used = if total == 0 {
        0.0
    } else {
        (total - available.min(total)) as f64 * 100.0 / total as f64
    };
    Ok(MemoryUsage {
        total_bytes: total,
        available_bytes: available,
        percent_used,
    })
}

/// Load averages over 1, 5 and 15 minutes, and the number of logical CPUs to divide them by.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
    pub cpus: usize,
}

/// Reads the load averages.
///
/// # Errors
/// When the kernel's figures cannot be read.
pub fn load() -> Result<Load, String> {
    let l = System::load_average().map_err(|e| format!("cannot read the load average: {e}"))?;
    Ok(Load {
        one: l.one,
        five: l.five,
        fifteen: l.fifteen,
        cpus: cpu_count(),
    })
}

/// Logical CPUs available to this process. Read once: the standard library re-reads the
/// cgroup quota files on every call, which made that the dearest part of a `load` probe.
pub fn cpu_count() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Usage of the filesystem holding a path.
#[derive(Debug, Clone, Copy)]
pub struct DiskUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// As `df` computes it: used / (used + available to unprivileged users).
    pub percent_used: f64,
}

/// Reads the filesystem usage at `path` (blocking; a hung NFS mount blocks here).
///
/// # Errors
/// The OS error, e.g. when the path does not exist.
pub fn disk_usage(path: &Path) -> io::Result<DiskUsage> {
    let st = rustix::fs::statvfs(path)?;
    let frsize = st.f_frsize.max(1);
    let used_blocks = st.f_blocks.saturating_sub(st.f_bfree);
    let denom = used_blocks + st.f_bavail;
    let percent_used = if denom == 0 {
        0.0
    } else {
        used_blocks as f64 * 100.0 / denom as f64
    };
    Ok(DiskUsage {
        total_bytes: st.f_blocks * frsize,
        available_bytes: st.f_bavail * frsize,
        percent_used,
    })
}

/// Percent of all CPUs busy over `window` (at least sysinfo's 200 ms minimum).
///
/// # Errors
/// When the kernel's figures cannot be read.
pub async fn cpu_busy_over(window: Duration) -> Result<f64, String> {
    let mut sys = cpu_system()?;
    sys.refresh_cpu_usage();
    tokio::time::sleep(window.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL)).await;
    sys.refresh_cpu_usage();
    Ok(f64::from(sys.global_cpu_usage()))
}

fn cpu_system() -> Result<System, String> {
    System::new_with_specifics(
        RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing().with_usage()),
    )
    .map_err(|e| format!("cannot read CPU usage: {e}"))
}

/// CPU busy since the previous reading, for endpoints that must not wait for a sample.
pub struct CpuGauge {
    inner: Mutex<Option<(System, Instant, f64)>>,
}

impl Default for CpuGauge {
    fn default() -> Self {
        let inner = cpu_system().ok().map(|mut sys| {
            sys.refresh_cpu_usage();
            (sys, Instant::now(), 0.0)
        });
        CpuGauge {
            inner: Mutex::new(inner),
        }
    }
}

impl CpuGauge {
    /// Percent busy since the last refresh (refreshed at most once a second), or `None` when
    /// the kernel's figures cannot be read.
    pub fn percent(&self) -> Option<f64> {
        let mut guard = self.inner.lock().ok()?;
        let (sys, at, last) = guard.as_mut()?;
        if at.elapsed() >= Duration::from_secs(1) {
            sys.refresh_cpu_usage();
            *last = f64::from(sys.global_cpu_usage());
            *at = Instant::now();
        }
        Some(*last)
    }
}

/// Resident memory of this process, in bytes.
pub fn process_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Bytes as a short human figure (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_of_this_machine_are_plausible() {
        let m = memory().unwrap();
        assert!(m.total_bytes > 0 && (0.0..=100.0).contains(&m.percent_used));
        let d = disk_usage(Path::new("/")).unwrap();
        assert!(d.total_bytes > 0 && (0.0..=100.0).contains(&d.percent_used));
        assert!(load().unwrap().cpus >= 1);
        assert!(process_rss_bytes().unwrap() > 1024 * 1024);
        assert!(disk_usage(Path::new("/no/such/path")).is_err());
    }

    #[test]
    fn bytes_print_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
