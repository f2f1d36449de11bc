//! Parsers for the value forms settings accept: durations, byte sizes, CIDRs and names.

use std::time::Duration;

use ipnet::IpNet;

pub const DURATION_FORM: &str = "a duration such as 500ms, 30s, 5m, 1h, 7d or 1h30m";
pub const BYTES_FORM: &str = "a size in bytes such as 1048576, 512KiB, 1MiB or 16Mi";
pub const CIDR_FORM: &str = "comma-separated CIDRs or addresses such as 10.0.0.0/8,192.168.1.5";

/// Parses `500ms`, `30s`, `5m`, `1h`, `7d` and concatenations such as `1h30m`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err(format!("empty value; expected {DURATION_FORM}"));
    }
    let bad = || format!("{input:?} is not {DURATION_FORM}");
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit_seconds_or_millis = match &after[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(number.checked_mul(3_600).ok_or_else(bad)?),
            "d" => Duration::from_secs(number.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(unit_seconds_or_millis).ok_or_else(bad)?;
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// Parses a byte count: a plain integer, or with a binary (`Ki`, `KiB`, `Mi`, `MiB`, `Gi`,
/// `GiB`) or decimal (`K`, `KB`, `M`, `MB`, `G`, `GB`) suffix.
pub fn parse_bytes(input: &str) -> Result<u64, String> {
    let text = input.trim();
    let bad = || format!("{input:?} is not {BYTES_FORM}");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if split == 0 {
        return Err(bad());
    }
    let number: u64 = text[..split].parse().map_err(|_| bad())?;
    let multiplier: u64 = match &text[split..] {
        "" | "B" => 1,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        "K" | "KB" | "k" | "kB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    number.checked_mul(multiplier).ok_or_else(bad)
}

/// Parses one CIDR; a bare address means that single host.
pub fn parse_cidr(input: &str) -> Result<IpNet, String> {
    let text = input.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<std::net::IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{input:?} is not a CIDR or IP address ({CIDR_FORM})"))
}

/// Whether `name` is a DNS-1123 label (namespace names, `source` values).
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests;
