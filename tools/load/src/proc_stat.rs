//! What the server process costs, read from /proc/<pid>.

use std::fs;

#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub pid: u32,
}

impl Server {
    /// Resident memory, bytes (`VmRSS`).
    pub fn rss(&self) -> Option<u64> {
        self.status_kib("VmRSS:").map(|k| k * 1024)
    }

    /// Peak resident memory, bytes (`VmHWM`).
    pub fn peak_rss(&self) -> Option<u64> {
        self.status_kib("VmHWM:").map(|k| k * 1024)
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let text = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// CPU time of all its threads, nanoseconds (`schedstat`: exact, where `stat`
    /// counts in 10 ms ticks).
    pub fn cpu_ns(&self) -> Option<u64> {
        let tasks = fs::read_dir(format!("/proc/{}/task", self.pid)).ok()?;
        let mut total = 0u64;
        for task in tasks.flatten() {
            let text = fs::read_to_string(task.path().join("schedstat")).ok()?;
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(total)
    }
}
