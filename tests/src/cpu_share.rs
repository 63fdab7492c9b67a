//! Lambda's CPU for a memory size, as a control group with a CPU quota. Lambda gives a function
//! CPU in proportion to its memory: 1,769 MB is one vCPU, so 256 MB is about 0.145 of one. The
//! quota is spent over a short period (10 ms, a little more where the kernel's 1 ms minimum
//! quota needs it): with the default 100 ms period a process would run 14.5 ms at full speed
//! and then wait 85 ms, which turns a cold start's few tens of milliseconds into noise.
//!
//! cgroup v1 (`/sys/fs/cgroup/cpu`, `cpu.cfs_period_us` and `cpu.cfs_quota_us`) and cgroup v2
//! (`cpu.max`) both work; both need root. Where neither can be written, [`CpuShare::for_memory`]
//! says why and the caller runs unlimited.

use std::path::{Path, PathBuf};

/// The memory size Lambda gives one full vCPU.
pub const MB_PER_VCPU: u32 = 1769;
/// The CFS period the quota is spent over, at most (µs).
const PERIOD_US: u64 = 10_000;
/// The kernel's smallest quota (µs).
const MIN_QUOTA_US: u64 = 1_000;

#[derive(Debug)]
pub struct CpuShare {
    dir: PathBuf,
    /// The quota and the period it is spent over (µs).
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuShare {
    /// A group `retail-cold-start-<MB>` whose processes get `memory_mb / 1769` of one CPU.
    pub fn for_memory(memory_mb: u32) -> Result<CpuShare, String> {
        let (quota_us, period_us) = quota(memory_mb);
        let name = format!("retail-cold-start-{memory_mb}");
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let dir = if v1.join("cpu.cfs_quota_us").is_file() {
            let dir = v1.join(&name);
            make(&dir)?;
            write(&dir.join("cpu.cfs_period_us"), &period_us.to_string())?;
            write(&dir.join("cpu.cfs_quota_us"), &quota_us.to_string())?;
            dir
        } else if v2.join("cgroup.controllers").is_file() {
            // The cpu controller must be enabled for the root's children first.
            write(&v2.join("cgroup.subtree_control"), "+cpu")?;
            let dir = v2.join(&name);
            make(&dir)?;
            write(&dir.join("cpu.max"), &format!("{quota_us} {period_us}"))?;
            dir
        } else {
            return Err("no cgroup cpu controller is mounted under /sys/fs/cgroup".into());
        };
        Ok(CpuShare { dir, quota_us, period_us })
    }

    /// The group's folder: a process joins it by writing its pid to `cgroup.procs`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The share of one CPU.
    pub fn cpus(&self) -> f64 {
        self.quota_us as f64 / self.period_us as f64
    }
}

/// Quota and period for `memory_mb`: the period 10 ms, or longer where the quota would fall
/// under the kernel's 1 ms (128 MB: 1 ms every 13.8 ms).
fn quota(memory_mb: u32) -> (u64, u64) {
    let memory = u64::from(memory_mb.max(1));
    let quota = PERIOD_US * memory / u64::from(MB_PER_VCPU);
    if quota >= MIN_QUOTA_US {
        (quota.min(PERIOD_US * 64), PERIOD_US)
    } else {
        (MIN_QUOTA_US, MIN_QUOTA_US * u64::from(MB_PER_VCPU) / memory)
    }
}

fn make(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::quota;

    #[test]
    fn a_memory_size_gets_its_share_of_a_cpu_over_a_short_period() {
        assert_eq!(quota(1769), (10_000, 10_000));
        assert_eq!(quota(256), (1_447, 10_000));
        assert_eq!(quota(1024), (5_788, 10_000));
        // Under the kernel's minimum quota the period grows instead: still 128/1769 of a CPU.
        assert_eq!(quota(128), (1_000, 13_820));
        assert_eq!(quota(3538), (20_000, 10_000));
    }
}
