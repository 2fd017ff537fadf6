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
        status_kib(&format!("/proc/{}/status", self.pid), field)
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

/// The tool's own resident memory, bytes: each of its connections keeps a read buffer
/// as large as the largest frame it received (tungstenite never shrinks it), so
/// 10,000 clients given 0.9 users lists of megabytes need tens of GiB.
pub fn own_rss() -> Option<u64> {
    status_kib("/proc/self/status", "VmRSS:").map(|k| k * 1024)
}

/// Beyond this the tool stops rather than take the shared machine's memory.
pub const TOOL_RSS_LIMIT: u64 = 12 << 30;

fn status_kib(path: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
