//! Sizes (B, KiB, MiB, GiB, TiB) and durations (ns, us, ms, s, m, h): parsing with
//! messages that say what is allowed, and compact formatting for tables and charts.

use std::time::Duration;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;

pub const SIZE_HELP: &str = "a whole number with an optional unit B, KiB, MiB, GiB or TiB \
     (binary; K, M, G, T are accepted as the same), e.g. 4KiB or 1GiB";
pub const DURATION_HELP: &str =
    "a number with a unit ms, s or m (also ns, us, h), e.g. 500ms, 10s or 2m";

/// Why a size or a duration was rejected; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty size; expected {SIZE_HELP}")]
    EmptySize,
    #[error("`{text}` uses a decimal unit; faultline sizes are binary: write {number}{unit}iB")]
    DecimalUnit {
        text: String,
        number: String,
        unit: String,
    },
    #[error("`{text}` has an unknown unit `{unit}`; expected {help}")]
    UnknownUnit {
        text: String,
        unit: String,
        help: &'static str,
    },
    #[error("`{0}` has no number; expected {SIZE_HELP}")]
    NoNumber(String),
    #[error("`{0}` is not a size; expected {SIZE_HELP}")]
    NotASize(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` is not a whole number of bytes")]
    NotWholeBytes(String),
    #[error("`{0}` is not a duration; expected {DURATION_HELP}")]
    NotADuration(String),
    #[error("`{0}` has no unit; expected {DURATION_HELP}")]
    NoUnit(String),
    #[error("`{0}` is too long")]
    TooLong(String),
}

/// Parse a byte size such as `4096`, `4KiB`, `1.5GiB`, `64M`. Decimal units (KB, MB, ...)
/// are rejected with a hint, because their meaning (1000 or 1024) is ambiguous.
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ParseError::EmptySize);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num = num.replace('_', "");
    let unit = unit.trim();
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => GIB,
        "t" | "tib" => TIB,
        "kb" | "mb" | "gb" | "tb" => {
            return Err(ParseError::DecimalUnit {
                text: t.into(),
                number: num,
                unit: unit[..1].to_ascii_uppercase(),
            })
        }
        _ => {
            return Err(ParseError::UnknownUnit {
                text: t.into(),
                unit: unit.into(),
                help: SIZE_HELP,
            })
        }
    };
    if num.is_empty() {
        return Err(ParseError::NoNumber(t.into()));
    }
    let value: f64 = num.parse().map_err(|_| ParseError::NotASize(t.into()))?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 / 2.0 {
        return Err(ParseError::TooLarge(t.into()));
    }
    if bytes.fract() != 0.0 {
        return Err(ParseError::NotWholeBytes(t.into()));
    }
    Ok(bytes as u64)
}

/// Parse a duration such as `500ms`, `10s`, `2m`, `1.5s`. A bare number is rejected:
/// the unit must be explicit.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(ParseError::NotADuration(t.into()));
    }
    let ns_per: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => return Err(ParseError::NoUnit(t.into())),
        u => {
            return Err(ParseError::UnknownUnit {
                text: t.into(),
                unit: u.into(),
                help: DURATION_HELP,
            })
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| ParseError::NotADuration(t.into()))?;
    let ns = value * ns_per;
    if !ns.is_finite() || ns > 1e18 {
        return Err(ParseError::TooLong(t.into()));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

/// `4096` -> "4KiB", `1536` -> "1.5KiB", `1073741824` -> "1GiB". Exact when possible.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
    for (mult, name) in UNITS {
        if bytes >= mult {
            if bytes.is_multiple_of(mult) {
                return format!("{}{}", bytes / mult, name);
            }
            let v = bytes as f64 / mult as f64;
            return format!("{}{}", trim_float(v, 2), name);
        }
    }
    format!("{bytes}B")
}

/// Latency in ns to a short human string: "812ns", "12.3us", "4.56ms", "1.20s".
pub fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{}us", sig3(ns / 1e3))
    } else if ns < 1e9 {
        format!("{}ms", sig3(ns / 1e6))
    } else {
        format!("{}s", sig3(ns / 1e9))
    }
}

/// A duration as the spec syntax writes it, e.g. "10s", "500ms".
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos() as u64;
    if ns == 0 {
        return "0s".into();
    }
    for (mult, unit) in [
        (3_600_000_000_000u64, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ] {
        if ns.is_multiple_of(mult) {
            return format!("{}{}", ns / mult, unit);
        }
    }
    format!("{ns}ns")
}

/// Three significant digits, no trailing zeros beyond them.
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A count with a metric suffix: 1234567 -> "1.23M".
pub fn format_count(v: f64) -> String {
    if v >= 1e9 {
        format!("{}G", sig3(v / 1e9))
    } else if v >= 1e6 {
        format!("{}M", sig3(v / 1e6))
    } else if v >= 1e3 {
        format!("{}K", sig3(v / 1e3))
    } else {
        sig3(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("64 MiB").unwrap(), 64 * MIB);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 * GIB / 2);
        assert_eq!(parse_size("2TiB").unwrap(), 2 * TIB);
        assert_eq!(parse_size("512B").unwrap(), 512);
    }

    #[test]
    fn sizes_reject() {
        assert!(parse_size("4KB").unwrap_err().to_string().contains("4KiB"));
        assert!(parse_size("").is_err());
        assert!(parse_size("abc").is_err());
        assert!(parse_size("4 parsecs")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_size("-4KiB").is_err());
        assert!(parse_size("0.3B").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("no unit"));
        assert!(parse_duration("10 fortnights").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_size(GIB), "1GiB");
        assert_eq!(format_size(100), "100B");
        assert_eq!(format_ns(812.0), "812ns");
        assert_eq!(format_ns(12_345.0), "12.3us");
        assert_eq!(format_ns(4_560_000.0), "4.56ms");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_count(1_234_567.0), "1.23M");
        for s in ["4KiB", "1GiB", "100B", "1.5KiB"] {
            assert_eq!(format_size(parse_size(s).unwrap()), s);
        }
    }
}
