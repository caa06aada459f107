//! Access patterns: which block each operation reads.
//! `sequential[:chunk=SIZE]`, `random`, `zipf[:theta=F]`, `hotset[:ops=P,size=P]`,
//! `append` (writes only).

use super::options::{self, KindInfo, OptForm, OptInfo};
use crate::units;
use serde::Serialize;

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        name: "sequential",
        summary: "threads claim chunks from one shared cursor and read each chunk's blocks in \
                  order, wrapping at the end of the file (the paper's scan)",
        options: &[OptInfo {
            name: "chunk",
            form: OptForm::Value("SIZE"),
            help: "bytes a thread claims at a time (default 8MiB, at least one block)",
        }],
    },
    KindInfo {
        name: "random",
        summary: "uniform random block-aligned offsets",
        options: &[],
    },
    KindInfo {
        name: "zipf",
        summary: "Zipf-distributed block ranks (hot blocks scattered over the file)",
        options: &[OptInfo {
            name: "theta",
            form: OptForm::Value("F"),
            help: "skew exponent > 0 (default 0.99; higher is more skewed)",
        }],
    },
    KindInfo {
        name: "hotset",
        summary: "ops% of operations go to the first size% of the file, the rest uniformly \
                  to the remainder",
        options: &[
            OptInfo {
                name: "ops",
                form: OptForm::Value("PERCENT"),
                help: "share of operations that hit the hot set (default 90)",
            },
            OptInfo {
                name: "size",
                form: OptForm::Value("PERCENT"),
                help: "share of the file that is hot (default 10)",
            },
        ],
    },
    KindInfo {
        name: "append",
        summary: "writes only: each thread writes its blocks in order from the start of the \
                  file, as a log grows, wrapping at the end (op = \"write\")",
        options: &[],
    },
];

pub const DEFAULT_CHUNK: u64 = 8 * units::MIB;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Pattern {
    Sequential {
        chunk: u64,
    },
    Random,
    Zipf {
        theta: f64,
    },
    Hotset {
        ops_pct: f64,
        size_pct: f64,
    },
    /// Sequential writes growing a region from offset 0 (the log case); writes only.
    Append,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let o = options::parse(text, KINDS, "pattern")?;
        Ok(match o.kind.as_str() {
            "sequential" => {
                let chunk = match o.value("chunk") {
                    Some(v) => units::parse_size(v).map_err(|e| format!("chunk: {e}"))?,
                    None => DEFAULT_CHUNK,
                };
                if chunk == 0 {
                    return Err("chunk must be larger than 0".into());
                }
                Pattern::Sequential { chunk }
            }
            "random" => Pattern::Random,
            "zipf" => {
                let theta = match o.value("theta") {
                    Some(v) => parse_f64("theta", v)?,
                    None => 0.99,
                };
                if !(theta > 0.0 && theta <= 10.0) {
                    return Err(format!(
                        "theta={theta} is out of range; use a number above 0 and at most 10"
                    ));
                }
                Pattern::Zipf { theta }
            }
            "hotset" => {
                let ops_pct = percent("ops", o.value("ops"), 90.0)?;
                let size_pct = percent("size", o.value("size"), 10.0)?;
                Pattern::Hotset { ops_pct, size_pct }
            }
            "append" => Pattern::Append,
            other => return Err(format!("pattern `{other}` is listed but not built")),
        })
    }

    /// The canonical text form, as it can be parsed back.
    pub fn to_spec_string(&self) -> String {
        match self {
            Pattern::Sequential { chunk } => {
                format!("sequential:chunk={}", units::format_size(*chunk))
            }
            Pattern::Random => "random".into(),
            Pattern::Zipf { theta } => format!("zipf:theta={theta}"),
            Pattern::Hotset { ops_pct, size_pct } => {
                format!("hotset:ops={ops_pct},size={size_pct}")
            }
            Pattern::Append => "append".into(),
        }
    }
}

fn parse_f64(key: &str, v: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{key}=`{v}` is not a number"))
}

fn percent(key: &str, v: Option<&str>, default: f64) -> Result<f64, String> {
    let Some(v) = v else { return Ok(default) };
    let x = parse_f64(key, v.trim_end_matches('%'))?;
    if !(x > 0.0 && x < 100.0) {
        return Err(format!(
            "{key}={v} is out of range; use a percentage above 0 and below 100"
        ));
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(Pattern::parse("random").unwrap(), Pattern::Random);
        assert_eq!(
            Pattern::parse("sequential").unwrap(),
            Pattern::Sequential {
                chunk: DEFAULT_CHUNK
            }
        );
        assert_eq!(
            Pattern::parse("sequential:chunk=1MiB").unwrap(),
            Pattern::Sequential { chunk: units::MIB }
        );
        assert_eq!(
            Pattern::parse("zipf:theta=1.2").unwrap(),
            Pattern::Zipf { theta: 1.2 }
        );
        assert_eq!(
            Pattern::parse("hotset:ops=80%,size=20").unwrap(),
            Pattern::Hotset {
                ops_pct: 80.0,
                size_pct: 20.0
            }
        );
        for p in [
            "random",
            "sequential:chunk=2MiB",
            "zipf:theta=0.5",
            "hotset:ops=90,size=10",
            "append",
        ] {
            let parsed = Pattern::parse(p).unwrap();
            assert_eq!(Pattern::parse(&parsed.to_spec_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn rejects() {
        assert!(Pattern::parse("zipf:theta=0")
            .unwrap_err()
            .contains("out of range"));
        assert!(Pattern::parse("zipf:theta=abc").is_err());
        assert!(Pattern::parse("hotset:ops=100").is_err());
        assert!(Pattern::parse("sequential:chunk=0").is_err());
        assert!(Pattern::parse("gaussian")
            .unwrap_err()
            .contains("unknown pattern"));
    }
}
