//! Memory planning: what a stage will allocate, estimated from the shapes of its data before
//! it allocates anything, and the budget it must fit in.
//!
//! The partition stage plans every PCA function and the validation before any of them runs,
//! so a run that cannot fit stops at once with advice instead of failing (or being killed)
//! minutes later; each PCA function checks its own plan again, since a served function may
//! run on a machine with another budget.

use mltrain_core::pca::{PcaParams, Plan};

/// Share of the machine's memory a run may plan to use by default: the rest is left to the
/// allocator's slack, the store's buffers and everything else on the machine.
const DEFAULT_SHARE: f64 = 0.5;

/// What the budget is when the machine's memory cannot be read.
const FALLBACK_BUDGET: u64 = 4 << 30;

/// The default budget: half of the least of the machine's memory, the cgroup's limit and
/// the process's address-space limit (`ulimit -v`), whichever of them can be read.
pub fn default_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let limits = [mem_total(), cgroup_limit(), address_space_limit()];
        match limits.into_iter().flatten().min() {
            Some(least) => (least as f64 * DEFAULT_SHARE) as u64,
            None => FALLBACK_BUDGET,
        }
    })
}

fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cgroup_limit() -> Option<u64> {
    std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    line.trim_start_matches("Max address space")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Parses a size as users write it: `123456` (bytes), `512M`, `4G`, `1.5GiB`, `800MB`
/// (units are powers of 1024 either way).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as 4G, 512M or 1073741824"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("`{other}` in `{s}` is not a unit (K, M, G or T)")),
    };
    let bytes = number * scale as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok(bytes as u64)
}

/// Bytes as people read them: `1.5 GiB`, `300 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A PCA function's peak: its images as bytes (twice when they are fetched whole before
/// decoding), the fit, and the projected shares it writes.
pub fn pca_function(n: usize, d: usize, components: usize, fetched: bool) -> (Plan, u64) {
    let plan = PcaParams::new(components).plan(n, d);
    let (n, d, k) = (n as u64, d as u64, components as u64);
    let images = n * d * if fetched { 2 } else { 1 };
    (plan, images + plan.bytes + n * k * 4)
}

/// Checks, before it allocates, that PCA function `index` (`n` images of `features`
/// levels) fits its share of `budget`, which `at_once` functions share.
pub fn check_pca(
    index: usize,
    n: usize,
    features: usize,
    components: usize,
    fetched: bool,
    budget: u64,
    at_once: usize,
) -> crate::Result<()> {
    let at_once = at_once.max(1);
    let (plan, needed) = pca_function(n, features, components, fetched);
    if needed <= budget / at_once as u64 {
        return Ok(());
    }
    let shared = if at_once > 1 {
        format!(" ({at_once} PCA functions run at once and share the budget)")
    } else {
        String::new()
    };
    Err(crate::Error::OverBudget {
        function: format!("pca-{index}"),
        needed: needed * at_once as u64,
        budget,
        advice: format!(
            "its {n} images of {features} features ({} solver){shared}; resize the images (--resize WxH), use more PCA functions so each gets fewer images, keep fewer --components, or raise --memory-budget",
            plan.solver
        ),
    })
}

/// The validation's peak: the test images, every basis twice (loaded, and in the published
/// model), and every basis's projection of the test images.
pub fn validation(n_test: usize, d: usize, components: usize, bases: usize, fetched: bool) -> u64 {
    let (n, d, k, b) = (n_test as u64, d as u64, components as u64, bases as u64);
    let images = n * d * if fetched { 2 } else { 1 };
    images + 2 * b * (k + 1) * d * 4 + b * n * k * 4
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_written() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("800 mb").unwrap(), 800 << 20);
        for bad in ["", "G", "4X", "-1G", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(100), "100 B");
    }

    #[test]
    fn the_default_budget_is_a_share_of_the_machine() {
        let budget = default_budget();
        assert!(budget > 64 << 20, "{budget}");
        // Linux, where CI runs, always says how much memory it has.
        let total = mem_total().expect("/proc/meminfo has MemTotal");
        assert!(budget <= total / 2 + 1, "{budget} of {total}");
    }

    /// 1,000 images of 256×256 pixels in two PCA functions: each plans well under 1 GiB,
    /// where a covariance of 65,536 features would take 16 GiB on its own.
    #[test]
    fn large_images_plan_small() {
        let (plan, bytes) = pca_function(500, 256 * 256, 10, false);
        assert_eq!(plan.solver, mltrain_core::pca::Solver::Gram);
        assert!(bytes < 1 << 30, "{}", human(bytes));
    }
}
