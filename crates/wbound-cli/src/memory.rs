//! `--max-memory`: sizes like `4G` or `512MiB`, and the default limit, a safe share of what this
//! machine (or the container's memory limit, cgroup v1 or v2) has.

/// Share of the machine's memory a run may plan to use by default.
const DEFAULT_SHARE: f64 = 0.8;

/// A `--max-memory` value: bytes, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<usize>);

/// Parses a size: a number of bytes with an optional unit K, M, G, T (powers of 1024; `KB`,
/// `KiB` and lower case are the same), or `none` for no limit.
pub fn parse_size(s: &str) -> Result<Limit, String> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "none" | "off" | "unlimited") {
        return Ok(Limit(None));
    }
    let bad = || format!("'{s}' is not a size like 8G, 512M or 1000000 (bytes), or 'none'");
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let factor: f64 = match unit.trim().trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = number.parse::<f64>().map_err(|_| bad())? * factor;
    if bytes.is_finite() && bytes >= 1.0 && bytes < usize::MAX as f64 {
        Ok(Limit(Some(bytes as usize)))
    } else {
        Err(bad())
    }
}

/// The default limit: 80% of the smaller of the machine's memory and the cgroup's limit; `None`
/// where neither can be read (not Linux).
pub fn default_limit() -> Option<usize> {
    let total = machine_memory();
    let cgroup = cgroup_limit();
    let least = match (total, cgroup) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some((least as f64 * DEFAULT_SHARE) as usize)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn machine_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`), if
/// one is set.
fn cgroup_limit() -> Option<usize> {
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|s| s.trim().parse::<usize>().ok())
        // cgroup v1 writes "no limit" as a huge number.
        .find(|&b| b < (1 << 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("1000"), Ok(Limit(Some(1000))));
        assert_eq!(parse_size("4K"), Ok(Limit(Some(4096))));
        assert_eq!(parse_size("1.5 GiB"), Ok(Limit(Some(3 << 29))));
        assert_eq!(parse_size("512mb"), Ok(Limit(Some(512 << 20))));
        assert_eq!(parse_size("none"), Ok(Limit(None)));
        for bad in ["", "G", "-1G", "4X", "1e999", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_is_a_share_of_the_machine() {
        if let (Some(limit), Some(total)) = (default_limit(), machine_memory()) {
            assert!(limit <= total * 4 / 5 + 1 && limit > 0, "{limit} of {total}");
        }
    }
}
