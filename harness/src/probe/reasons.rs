//! Why counters are null. In run.json `reasons` is a map from a counter's name (or
//! "timeseries") to the reason text; in code it is keyed by `ReasonKey`.

use super::counters::{CounterId, UnknownCounter};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What a reason explains. Ordered by name, as run.json lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonKey {
    /// One counter is null (in the totals and in every interval).
    Counter(CounterId),
    /// Every interval's counters are null while the totals are not (fio: the harness
    /// reads its probes only around fio's run). Key "timeseries".
    Timeseries,
}

impl ReasonKey {
    /// The key in run.json.
    pub fn name(self) -> &'static str {
        match self {
            ReasonKey::Counter(c) => c.name(),
            ReasonKey::Timeseries => "timeseries",
        }
    }
}

impl From<CounterId> for ReasonKey {
    fn from(c: CounterId) -> ReasonKey {
        ReasonKey::Counter(c)
    }
}

impl Ord for ReasonKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for ReasonKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ReasonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for ReasonKey {
    type Err = UnknownCounter;

    fn from_str(s: &str) -> Result<ReasonKey, UnknownCounter> {
        match s {
            "timeseries" => Ok(ReasonKey::Timeseries),
            _ => s.parse().map(ReasonKey::Counter),
        }
    }
}

/// Why counters are null, by counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons(BTreeMap<ReasonKey, String>);

impl Reasons {
    /// Say why `key` is null, unless a reason was already given (the first one wins).
    pub fn set(&mut self, key: impl Into<ReasonKey>, why: impl Into<String>) {
        self.0.entry(key.into()).or_insert_with(|| why.into());
    }

    /// Say why `key` is null, replacing any earlier reason.
    pub fn replace(&mut self, key: impl Into<ReasonKey>, why: impl Into<String>) {
        self.0.insert(key.into(), why.into());
    }

    /// Forget the reason for `key` (its counter is read again).
    pub fn clear(&mut self, key: impl Into<ReasonKey>) {
        self.0.remove(&key.into());
    }

    pub fn get(&self, key: impl Into<ReasonKey>) -> Option<&str> {
        self.0.get(&key.into()).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every reason, in the order of their keys' names (as in run.json).
    pub fn iter(&self) -> impl Iterator<Item = (ReasonKey, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

impl<K: Into<ReasonKey>, S: Into<String>> FromIterator<(K, S)> for Reasons {
    fn from_iter<I: IntoIterator<Item = (K, S)>>(iter: I) -> Reasons {
        let mut r = Reasons::default();
        for (k, why) in iter {
            r.set(k, why);
        }
        r
    }
}

/// A map {key name: reason}, keys sorted by name as a map of strings would be.
impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(k, v)| (k.name(), v)))
    }
}

/// Keys this version does not know (a newer faultline's counters) are left out, as
/// `Counters` leaves out fields it does not know.
impl<'de> Deserialize<'de> for Reasons {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reasons, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Reasons(
            map.into_iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_unless_replaced() {
        let mut r = Reasons::default();
        r.set(CounterId::MajorFaults, "a");
        r.set(CounterId::MajorFaults, "b");
        assert_eq!(r.get(CounterId::MajorFaults), Some("a"));
        r.replace(CounterId::MajorFaults, "c");
        assert_eq!(r.get(CounterId::MajorFaults), Some("c"));
        assert_eq!(r.get(CounterId::MinorFaults), None);
    }

    #[test]
    fn json_is_a_map_of_names_sorted_by_name() {
        let r: Reasons = [
            (ReasonKey::Timeseries, "t"),
            (CounterId::Vmstat.into(), "v"),
            (CounterId::MajorFaults.into(), "m"),
            (CounterId::CpuUserNs.into(), "c"),
        ]
        .into_iter()
        .collect();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"cpu_user_ns":"c","major_faults":"m","timeseries":"t","vmstat":"v"}"#
        );
        assert_eq!(serde_json::from_str::<Reasons>(&text).unwrap(), r);
        let unknown: Reasons =
            serde_json::from_str(r#"{"fault_ops":"off","a_future_counter":"x"}"#).unwrap();
        assert_eq!(unknown.iter().count(), 1);
        assert_eq!(unknown.get(CounterId::FaultOps), Some("off"));
    }
}
