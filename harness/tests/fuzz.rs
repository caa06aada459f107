//! Property tests (proptest) of every parser that reads user input or kernel files:
//! arbitrary input must give a value or an error, never a panic. Inputs that once
//! crashed a parser are kept below as fixed cases.

use faultline::probe::{device, parse};
use faultline::spec::{self, BackendSpec, Pattern, Workload};
use faultline::units;
use proptest::prelude::*;

fn keyish() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("size".to_string()),
        Just("block".to_string()),
        Just("threads".to_string()),
        Just("duration".to_string()),
        Just("ops".to_string()),
        Just("warmup".to_string()),
        Just("pattern".to_string()),
        Just("backends".to_string()),
        Just("page_cache_limit".to_string()),
        Just("device".to_string()),
        Just("interval".to_string()),
        "[a-z_]{1,12}",
    ]
}

fn valueish() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,22}",
        "\"[0-9.]{0,6}(B|KiB|MiB|GiB|TiB|KB|ms|s|m|h|x)?\"",
        "\"(pread|direct|mmap|zram|random|zipf|hotset|sequential)(:[a-z=0-9.,%]{0,20})?\"",
        "\\[(\"[a-z:=,]{0,12}\",? ?){0,3}\\]",
        "\\[[0-9, -]{0,12}\\]",
        "(true|false|nan|inf|-inf|1e999)",
        ".{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn workload_parser_never_panics(lines in proptest::collection::vec((keyish(), valueish()), 0..8)) {
        let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let _ = Workload::parse(&text, "fuzz.toml", "fuzz");
    }

    #[test]
    fn workload_parser_never_panics_on_bytes(text in ".{0,200}") {
        let _ = Workload::parse(&text, "fuzz.toml", "fuzz");
    }

    #[test]
    fn spec_strings_never_panic(s in ".{0,40}", k in "(pread|direct|mmap|random|zipf|hotset|sequential|zram)", rest in "[a-z=0-9.,:%_-]{0,30}") {
        let _ = BackendSpec::parse(&s);
        let _ = Pattern::parse(&s);
        let _ = spec::parse_device(&s);
        let joined = format!("{k}:{rest}");
        let _ = BackendSpec::parse(&joined);
        let _ = Pattern::parse(&joined);
        let _ = spec::parse_device(&joined);
        let _ = units::parse_size(&s);
        let _ = units::parse_duration(&s);
    }

    #[test]
    fn proc_parsers_never_panic(text in "(.{0,60}\n){0,12}") {
        let _ = parse::interrupts_tlb_total(&text);
        let _ = parse::interrupts_tlb_per_cpu(&text);
        let _ = parse::parse_block_stat(&text);
        let _ = parse::parse_diskstats(&text);
        let _ = parse::vmstat_selected(&parse::parse_vmstat(&text));
        let _ = parse::parse_kv_kb(&text);
        let _ = parse::smaps_huge_bytes(&text);
        let _ = parse::meminfo_page_cache_bytes(&text);
        let _ = parse::parse_flat_keyed(&text);
        let _ = parse::parse_limit(&text);
        let _ = parse::parse_self_cgroup(&text);
        let _ = parse::parse_cgroup_mounts(&text);
        let _ = parse::parse_proc_stat_cpu(&text);
        let _ = parse::parse_task_stat_times(&text);
        let _ = faultline::env::mount_of(&text, std::path::Path::new("/a/b"));
        let _ = faultline::env::cpu_model(&text);
        let _ = faultline::probe::tlb::reason_names(&text);
    }

    #[test]
    fn structured_proc_text_never_panics(
        cpus in 0usize..300,
        nums in proptest::collection::vec(any::<u64>(), 0..40),
        junk in "[ a-zA-Z:()]{0,20}",
    ) {
        let header: String = (0..cpus).map(|c| format!("CPU{c} ")).collect();
        let row: String = nums.iter().map(|n| format!("{n} ")).collect();
        let text = format!("  {header}\nTLB: {row}{junk}\nNMI: {row}\n");
        let _ = parse::interrupts_tlb_total(&text);
        let stat = format!("{row}\n");
        let _ = parse::parse_block_stat(&stat);
        let _ = parse::parse_diskstats(&format!("8 0 sda {row}\n"));
        let _ = parse::parse_proc_stat_cpu(&format!("cpu {row}\n"));
        let _ = parse::parse_task_stat_times(&format!("123 ({junk}) S {row}"));
        let _ = parse::ticks_to_ns(nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    }
}

/// Inputs found by fuzzing (or by hand) that must keep working.
#[test]
fn known_tricky_inputs() {
    for t in [
        "size = 18446744073709551615",
        "size = -9223372036854775808",
        "threads = [0]",
        "threads = [1, -1]",
        "duration = \"1e999s\"",
        "duration = \"99999999999999h\"",
        "block = \"0.5B\"",
        "pattern = \"zipf:theta=nan\"",
        "pattern = \"hotset:ops=,size=\"",
        "pattern = \"sequential:chunk=1TiB\"\nsize = \"4KiB\"\nblock = \"4KiB\"",
        "size = \"18446744073709551615B\"",
        "backends = [\"mmap:advice=random,advice=normal\"]",
        "[section]\nsize = 1",
        "size = { a = 1 }",
        "device = \"zram:0\"",
    ] {
        let _ = Workload::parse(t, "t.toml", "t");
    }
    // A task stat whose comm contains ") " and spaces.
    let _ = parse::parse_task_stat_times("42 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13");
    assert!(device::physical_disks(std::path::Path::new("/nonexistent"), 1, 2).is_err());
}
