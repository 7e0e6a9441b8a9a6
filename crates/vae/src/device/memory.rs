//! How much memory this process may still take: the system's available memory, or less where
//! a cgroup (a container, a Slurm job) limits it.
//!
//! sysinfo reads the system's side. Its cgroup side takes a limit minus `memory.current`,
//! which counts the page cache (a job that has read its data looks full, and a run that fits
//! is refused), and reads only the cgroup at the mount's root (a Slurm job's cgroup lies
//! deeper, and its limit is missed): so the cgroups are read here, from this process's own up
//! to the root, with the page cache the kernel reclaims first left out.

use std::path::Path;

/// Where Linux mounts the cgroup file system.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A cgroup v1 limit at or above this is "no limit" (the kernel writes 2^63 rounded down to a
/// page).
const V1_UNLIMITED: u64 = 1 << 62;

/// Bytes of memory this process can still take: the system's available memory, or less where
/// a cgroup limits it ([`cgroup_free`]); `None` where neither says.
pub fn available() -> Option<u64> {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let system = Some(system.available_memory()).filter(|&bytes| bytes > 0);
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|own| cgroup_free(Path::new(CGROUP_ROOT), &own));
    match (system, cgroup) {
        (Some(system), Some(cgroup)) => Some(system.min(cgroup)),
        (system, cgroup) => system.or(cgroup),
    }
}

/// Bytes that the memory cgroups of this process still let it take, read from the cgroup file
/// system mounted at `root`, with `own` the text of `/proc/self/cgroup`; `None` where no cgroup
/// sets a limit. Each limited cgroup from this process's up to the root counts, the tightest
/// wins: its limit minus what it uses, not counting its inactive page cache (`inactive_file`),
/// which the kernel reclaims before it counts the group as full. cgroup v1's memory controller
/// is read where it is mounted (hybrid systems keep it there), else v2's unified hierarchy.
pub fn cgroup_free(root: &Path, own: &str) -> Option<u64> {
    let entry = |wanted: &dyn Fn(&str, &str) -> bool| {
        own.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            wanted(id, controllers).then(|| path.trim_start_matches('/').to_string())
        })
    };
    if let Some(path) = entry(&|_, c| c.split(',').any(|c| c == "memory")) {
        return v1_free(&root.join("memory"), &path);
    }
    let path = entry(&|id, c| id == "0" && c.is_empty())?;
    v2_free(root, &path)
}

/// cgroup v2: every cgroup from `root/path` up to `root` with a `memory.max` other than `max`.
fn v2_free(root: &Path, path: &str) -> Option<u64> {
    // Inside a container without its own cgroup namespace the path is the host's; the
    // container's cgroup is then the mount's root.
    let own = Some(root.join(path))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| root.to_path_buf());
    own.ancestors()
        .take_while(|dir| dir.starts_with(root))
        .filter_map(|dir| {
            let limit = read_number(&dir.join("memory.max"))?;
            let used = read_number(&dir.join("memory.current"))?;
            let reclaimable = stat(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
            Some(free(limit, used, reclaimable))
        })
        .min()
}

/// cgroup v1: every memory cgroup from this process's up to the mount's root, each limit
/// against the usage of the cgroup that sets it (which counts its children: a Slurm job's
/// other steps too). A level's `hierarchical_memory_limit` is the tightest of it and its
/// ancestors; where that ancestor is not visible (a cgroup namespace), the topmost visible
/// level's usage is the nearest to the ancestor's there is.
fn v1_free(mount: &Path, path: &str) -> Option<u64> {
    let own = Some(mount.join(path))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| mount.to_path_buf());
    own.ancestors()
        .take_while(|dir| dir.starts_with(mount))
        .filter_map(|dir| {
            let stats = dir.join("memory.stat");
            let limit = [
                read_number(&dir.join("memory.limit_in_bytes")),
                stat(&stats, "hierarchical_memory_limit"),
            ]
            .into_iter()
            .flatten()
            .min()
            .filter(|&limit| limit < V1_UNLIMITED)?;
            let used = read_number(&dir.join("memory.usage_in_bytes"))?;
            let reclaimable = stat(&stats, "total_inactive_file").unwrap_or(0);
            Some(free(limit, used, reclaimable))
        })
        .min()
}

fn free(limit: u64, used: u64, reclaimable: u64) -> u64 {
    limit.saturating_sub(used.saturating_sub(reclaimable))
}

/// The number a cgroup file holds (`None` for `max`, a missing file or anything else).
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a `memory.stat` file (`key value` lines).
fn stat(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.trim().parse().ok()).flatten()
        })
}
