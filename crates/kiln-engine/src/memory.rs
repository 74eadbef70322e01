//! How much memory the process holds, and how much it may: the tune stage's guard against
//! a trial that grows until the kernel's OOM killer ends the whole study process.
//!
//! On CPU a failed allocation aborts a Rust process outright, so a trial cannot be caught
//! *at* the failing allocation. Instead the trainer compares the process's resident set
//! with a limit before every batch and stops the trial (recorded as failed, "out of
//! memory") once it is over, as Ray's memory monitor does for its tasks. The limit is the
//! stage's `memory_limit_mb`, else 90 % of what the machine (or the process's cgroup)
//! has. Where `/proc` is missing (not Linux) there is no reading and no guard.

/// The process's resident set in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:")
}

/// 90 % of the memory this process can have: the machine's, or its cgroup's if lower.
pub fn default_limit() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let machine = kib_field(&meminfo, "MemTotal:")?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = cgroup.map_or(machine, |c| c.min(machine));
    Some(total / 10 * 9)
}

/// `name   1234 kB` in a `/proc` status file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_fields_parse_and_readings_are_plausible() {
        assert_eq!(
            super::kib_field("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2 << 20)
        );
        assert_eq!(super::kib_field("VmRSS: lots\n", "VmRSS:"), None);
        if let (Some(rss), Some(limit)) = (super::resident_bytes(), super::default_limit()) {
            assert!(rss > 1 << 20 && rss < limit, "{rss} of {limit}");
        }
    }
}
