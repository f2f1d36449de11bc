//! Parsers for the value forms settings accept: durations, byte sizes, CIDRs and names.

use std::time::Duration;

use ipnet::IpNet;

pub const DURATION_FORM: &str = "a duration such as 500ms, 30s, 5m, 1h, 7d or 1h30m";
pub const BYTES_FORM: &str = "a size in bytes such as 1048576, 512KiB, 1MiB or 16Mi";
pub const CIDR_FORM: &str = "comma-separated CIDRs or addresses such as 10.0.0.0/8,192.168.1.5";
pub const LOG_FILTER_FORM: &str = "a level (off, error, warn, info, debug, trace) or comma-separated directives such as info,kube=warn";

// The grammars below are also written as regular expressions for the chart's values.schema.json
// (tests/chart_values.rs checks the schema uses exactly these, and this module's tests check
// each pattern accepts exactly what its parser accepts). `[\t\n\f\r ]` is the ASCII
// whitespace the parsers trim (Go's `\s`, which Helm's schema validator uses, is the same set).

/// What [`parse_duration`] accepts; a value also has at most [`DURATION_MAX_LENGTH`] characters.
pub const DURATION_PATTERN: &str = r"^[\t\n\f\r ]*([0-9]{1,9}(ms|s|m|h|d))+[\t\n\f\r ]*$";
/// The longest duration text, so no sum of components can overflow.
pub const DURATION_MAX_LENGTH: usize = 64;
/// What [`parse_bytes`] accepts: at most 10 digits, so no suffix can overflow a u64.
pub const BYTES_PATTERN: &str =
    r"^[\t\n\f\r ]*[0-9]{1,10}(B|Ki|KiB|Mi|MiB|Gi|GiB|K|KB|k|kB|M|MB|G|GB)?[\t\n\f\r ]*$";
/// What [`check_log_filter`] accepts.
pub const LOG_FILTER_PATTERN: &str = concat!(
    r"^[\t\n\f\r ]*",
    r"((off|error|warn|info|debug|trace)|[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*=(off|error|warn|info|debug|trace))",
    r"(,((off|error|warn|info|debug|trace)|[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*=(off|error|warn|info|debug|trace)))*",
    r"[\t\n\f\r ]*$"
);

/// What [`is_config_map_key`] accepts, with at most [`CONFIG_MAP_KEY_MAX_LENGTH`] characters:
/// Kubernetes' rule for ConfigMap keys (no `.`, `..` or `..` prefix).
pub const CONFIG_MAP_KEY_PATTERN: &str = r"^\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$";
pub const CONFIG_MAP_KEY_MAX_LENGTH: usize = 253;

const MAX_DURATION_DIGITS: usize = 9;
const MAX_BYTES_DIGITS: usize = 10;
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn trim_ascii(input: &str) -> &str {
    input.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Parses `500ms`, `30s`, `5m`, `1h`, `7d` and concatenations such as `1h30m`: at most 9 digits
/// per number and [`DURATION_MAX_LENGTH`] characters in all.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let text = trim_ascii(input);
    if text.is_empty() {
        return Err(format!("empty value; expected {DURATION_FORM}"));
    }
    let bad = || format!("{input:?} is not {DURATION_FORM}");
    if input.chars().count() > DURATION_MAX_LENGTH {
        return Err(format!(
            "{input:?} is longer than {DURATION_MAX_LENGTH} characters; expected {DURATION_FORM}"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 || digits > MAX_DURATION_DIGITS {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let component = match &after[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3_600),
            "d" => Duration::from_secs(number * 86_400),
            _ => return Err(bad()),
        };
        total = total.checked_add(component).ok_or_else(bad)?;
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// Parses a byte count of at most 10 digits: a plain integer, or with a binary (`Ki`, `KiB`,
/// `Mi`, `MiB`, `Gi`, `GiB`) or decimal (`K`, `KB`, `k`, `kB`, `M`, `MB`, `G`, `GB`) suffix,
/// or `B`.
pub fn parse_bytes(input: &str) -> Result<u64, String> {
    let text = trim_ascii(input);
    let bad = || format!("{input:?} is not {BYTES_FORM}");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if split == 0 || split > MAX_BYTES_DIGITS {
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

/// Checks a log filter: a level, or comma-separated `level` and `target=level` directives
/// (`target` a Rust module path such as `kube_client::client`), levels in lower case. A
/// narrower language than `RUST_LOG`'s on purpose: there a bare word such as `verbose` is a
/// target, which would silently drop almost every line.
pub fn check_log_filter(input: &str) -> Result<(), String> {
    let text = trim_ascii(input);
    let bad = |why: String| format!("{input:?} is not {LOG_FILTER_FORM}: {why}");
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    for directive in text.split(',') {
        let level = match directive.split_once('=') {
            Some((target, level)) => {
                if !is_module_path(target) {
                    return Err(bad(format!("{target:?} is not a module path")));
                }
                level
            }
            None => directive,
        };
        if !LOG_LEVELS.contains(&level) {
            return Err(bad(format!("{level:?} is not a level")));
        }
    }
    Ok(())
}

fn is_module_path(target: &str) -> bool {
    target.split("::").all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
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

/// Whether `key` can name a ConfigMap data key (Kubernetes' `IsConfigMapKey`).
pub fn is_config_map_key(key: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let rest = key.strip_prefix('.').unwrap_or(key);
    key.len() <= CONFIG_MAP_KEY_MAX_LENGTH
        && rest.chars().next().is_some_and(|c| allowed(c) && c != '.')
        && key.chars().all(allowed)
}

#[cfg(test)]
mod tests;
