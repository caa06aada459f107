use super::*;

fn parse(text: &str) -> Result<Workload, SpecError> {
    Workload::parse(text, "w.toml", "w")
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn shipped_workloads_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let w = Workload::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !w.description.is_empty(),
                "{} has no description",
                p.display()
            );
            n += 1;
        }
    }
    assert!(n >= 3);
    let q = Workload::parse(BUILTIN_QUICK, "built-in", "quick").unwrap();
    assert_eq!(q.name, "quick");
}

#[test]
fn full_file_resolves() {
    let w = parse(
        r#"
description = "d"
size = "8MiB"
block = 8192
pattern = "zipf:theta=1.1"
op = "read"
touch = "all"
threads = [1, 2]
queue_depth = 4
ops = 1000
warmup = "0s"
interval = "100ms"
start = "warm"
backends = ["pread", "mmap:advice=random,populate"]
data_dir = "/tmp/x"
repeats = 3
seed = 7
"#,
    )
    .unwrap();
    assert_eq!(w.size, 8 << 20);
    assert_eq!(w.block, 8192);
    assert_eq!(w.pattern, Pattern::Zipf { theta: 1.1 });
    assert_eq!(w.touch, Touch::All);
    assert_eq!(w.threads, vec![1, 2]);
    assert_eq!(w.queue_depth, 4);
    assert_eq!(w.stop, StopAt::Ops(1000));
    assert_eq!(w.warmup, Duration::ZERO);
    assert_eq!(w.interval, Duration::from_millis(100));
    assert_eq!(w.start, Start::Warm);
    assert_eq!(w.backends.len(), 2);
    assert_eq!(w.backends[1].name, "mmap:advice=random,populate");
    assert_eq!(w.repeats, 3);
    assert_eq!(w.seed, 7);
}

#[test]
fn threads_can_follow_the_cpu_count() {
    let w = parse("threads = \"cpus\"").unwrap();
    assert_eq!(w.threads, vec![crate::sys::online_cpus()]);
    assert!(err("threads = \"many\"").contains("\"cpus\""));
}

#[test]
fn defaults_fill_an_empty_file() {
    let w = parse("").unwrap();
    assert_eq!(w.size, units::GIB);
    assert_eq!(w.block, 4096);
    assert_eq!(w.pattern, Pattern::Random);
    assert_eq!(w.threads, vec![1]);
    assert_eq!(w.stop, StopAt::Duration(Duration::from_secs(10)));
    assert_eq!(w.backends.len(), 3);
}

#[test]
fn unknown_key_is_one_line_naming_key_and_file() {
    let e = err("size = \"8MiB\"\nblocksize = \"4KiB\"\n");
    assert!(e.starts_with("w.toml:2:1: unknown key `blocksize`"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains("allowed keys"), "{e}");
}

#[test]
fn syntax_error_has_line_and_column() {
    let e = err("size = \"8MiB\"\nthreads = = 2\n");
    assert!(e.starts_with("w.toml:2:"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn wrong_values_name_key_value_and_allowed() {
    let e = err("block = \"4KB\"");
    assert!(
        e.contains("w.toml:1:9") && e.contains("`block`") && e.contains("4KiB"),
        "{e}"
    );
    let e = err("size = \"big\"");
    assert!(
        e.contains("`size`") && e.contains("big") && e.contains("KiB"),
        "{e}"
    );
    let e = err("size = 0");
    assert!(e.contains("`size`"), "{e}");
    let e = err("size = -5");
    assert!(e.contains("`size`"), "{e}");
    let e = err("duration = \"10\"");
    assert!(e.contains("`duration`") && e.contains("no unit"), "{e}");
    let e = err("duration = \"0s\"");
    assert!(
        e.contains("`duration`") && e.contains("longer than 0"),
        "{e}"
    );
    let e = err("duration = 10");
    assert!(
        e.contains("`duration`") && e.contains("not a duration"),
        "{e}"
    );
    let e = err("threads = 0");
    assert!(e.contains("`threads`") && e.contains("1 to 4096"), "{e}");
    let e = err("threads = 1000000");
    assert!(e.contains("`threads`"), "{e}");
    let e = err("threads = \"two\"");
    assert!(e.contains("`threads`") && e.contains("\"two\""), "{e}");
    let e = err("touch = \"some\"");
    assert!(e.contains("`touch`") && e.contains("first or all"), "{e}");
    let e = err("start = \"tepid\"");
    assert!(e.contains("cold or warm"), "{e}");
    let e = err("op = \"write\"");
    assert!(e.contains("not supported yet"), "{e}");
    let e = err("pattern = \"gauss\"");
    assert!(
        e.contains("`pattern`") && e.contains("sequential, random, zipf, hotset"),
        "{e}"
    );
    let e = err("backends = [\"mmap:advice=sometimes\"]");
    assert!(
        e.contains("`backends`") && e.contains("normal, random"),
        "{e}"
    );
    let e = err("backends = [\"nvme\"]");
    assert!(e.contains("unknown backend `nvme`"), "{e}");
    let e = err("backends = \"pread\"");
    assert!(e.contains("expected a list"), "{e}");
    let e = err("backends = []");
    assert!(e.contains("empty"), "{e}");
    let e = err("backends = [\"pread\", \"pread\"]");
    assert!(e.contains("twice"), "{e}");
    let e = err("queue_depth = 0");
    assert!(
        e.contains("`queue_depth`") && e.contains("at least 1"),
        "{e}"
    );
    let e = err("duration = \"1s\"\nops = 5");
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn cross_field_checks() {
    let e = err("size = \"4KiB\"\nblock = \"8KiB\"");
    assert!(e.contains("larger than `size`"), "{e}");
    let e = err("size = 5000");
    assert!(e.contains("multiple of 4KiB"), "{e}");
    let e = err("block = \"1MiB\"\npattern = \"sequential:chunk=64KiB\"");
    assert!(e.contains("chunk"), "{e}");
    let e = err("interval = \"10us\"");
    assert!(e.contains("interval"), "{e}");
}

#[test]
fn overrides_replace_and_recheck() {
    let mut w = parse("size = \"8MiB\"").unwrap();
    w.apply(&Settings {
        threads: Some(vec![4]),
        block: Some(65536),
        backends: Some(vec![BackendSpec::parse("direct").unwrap()]),
        duration: Some(Duration::from_secs(2)),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(w.threads, vec![4]);
    assert_eq!(w.block, 65536);
    assert_eq!(w.backends[0].name, "direct");
    assert_eq!(w.stop, StopAt::Duration(Duration::from_secs(2)));
    let e = w
        .apply(&Settings {
            block: Some(16 << 20),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than `size`"), "{e}");
    let e = w
        .apply(&Settings {
            threads: Some(vec![0]),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--threads"), "{e}");
}

#[test]
fn load_reports_missing_and_directory() {
    let e = Workload::load(Path::new("/nonexistent/w.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read workload file") && e.contains("faultline list"),
        "{e}"
    );
    let e = Workload::load(Path::new("/tmp")).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
}
