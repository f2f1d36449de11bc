//! Memory of a process from /proc (Linux).

/// Resident set size now and its peak over the process's life (`VmRSS`, `VmHWM`), in MiB.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rss {
    pub now_mib: f64,
    pub peak_mib: f64,
}

pub fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&status).ok_or_else(|| anyhow::anyhow!("no VmRSS/VmHWM in /proc/{pid}/status"))
}

fn parse_status(status: &str) -> Option<Rss> {
    let kib = |field: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        let value: f64 = line[field.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(value / 1024.0)
    };
    Some(Rss {
        now_mib: kib("VmRSS:")?,
        peak_mib: kib("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_in_mib() {
        let status = "Name:\tzen-watcher\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Rss {
                now_mib: 10.0,
                peak_mib: 20.0
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let rss = rss(std::process::id()).unwrap();
        assert!(rss.now_mib > 0.0 && rss.peak_mib >= rss.now_mib);
    }
}
