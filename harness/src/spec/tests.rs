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
    let e = err("op = \"overwrite\"");
    assert!(e.contains("read, write, mix"), "{e}");
    let e = err("op = \"write\"\npattern = \"sequential\"");
    assert!(e.contains("append"), "{e}");
    let e = err("pattern = \"append\"");
    assert!(e.contains("op = \"write\""), "{e}");
    let e = err("op = \"mix\"\npattern = \"append\"");
    assert!(e.contains("a mix reads and writes"), "{e}");
    let e = err("sync = \"end\"");
    assert!(e.contains("a read workload never writes"), "{e}");
    let e = err("op = \"write\"\nblock = \"6KiB\"");
    assert!(e.contains("multiple of 4KiB"), "{e}");
    let e = err("op = \"mix\"\nread_pct = 0");
    assert!(e.contains("`read_pct`"), "{e}");
    let e = err("op = \"write\"\nsync = \"every:0\"");
    assert!(e.contains("at least 1"), "{e}");
    let e = err("op = \"write\"\nsync_method = \"flush\"");
    assert!(e.contains("sync_file_range"), "{e}");
    let w = parse("op = \"mix\"\nread_pct = 80\nsync = \"interval:50ms\"\nsync_method = \"msync\"")
        .unwrap();
    assert_eq!(w.op, crate::spec::Op::Mix);
    assert_eq!(w.read_pct, 80);
    assert_eq!(w.sync.to_string(), "interval:50ms");
    assert_eq!(w.sync_method, crate::spec::SyncMethod::Msync);
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

/// Parse `faultline run` flags into `Settings`, flattened as `RunArgs` does.
fn flags(args: &[&str]) -> Result<Settings, String> {
    use clap::Parser;
    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        s: Settings,
    }
    Run::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
        .map(|r| r.s)
        .map_err(|e| e.to_string())
}

#[test]
fn flags_fill_only_what_is_given() {
    let s = flags(&[]).unwrap();
    assert!(s.size.is_none() && s.backends.is_none() && s.threads.is_none());
    assert!(s.fault_attribution.is_none() && s.drop_caches.is_none());
    let s = flags(&[
        "-b",
        "pread",
        "--backend",
        "mmap",
        "-t",
        "1,2",
        "--no-fault-attribution",
        "--drop-caches",
        "--queue-depth",
        "4",
    ])
    .unwrap();
    assert_eq!(s.backends.as_ref().map(Vec::len), Some(2));
    assert_eq!(s.threads, Some(vec![1, 2]));
    assert_eq!(s.fault_attribution, Some(false));
    assert_eq!(s.drop_caches, Some(true));
    assert_eq!(s.queue_depth, Some(4));
    let e = flags(&["--seed", "1"]).unwrap_err();
    assert!(
        e.contains("unexpected argument"),
        "seed is a file key only: {e}"
    );
    let e = flags(&["--duration", "1s", "--ops", "5"]).unwrap_err();
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn flags_merge_field_by_field() {
    let mut w = parse("size = \"8MiB\"\nops = 100\nrepeats = 2").unwrap();
    assert!(w.fault_attribution && !w.drop_caches);
    let given = flags(&[
        "--no-fault-attribution",
        "--drop-caches",
        "-d",
        "2s",
        "--touch",
        "all",
    ]);
    w.apply(&given.unwrap()).unwrap();
    assert!(!w.fault_attribution && w.drop_caches);
    assert_eq!(w.stop, StopAt::Duration(Duration::from_secs(2)));
    assert_eq!(w.touch, Touch::All);
    assert_eq!((w.repeats, w.size, w.size_given), (2, 8 << 20, true));
    w.apply(&flags(&["--ops", "7", "--file", "/tmp/x"]).unwrap())
        .unwrap();
    assert_eq!(w.stop, StopAt::Ops(7));
    assert_eq!(w.file, Some(PathBuf::from("/tmp/x")));
    assert!(
        !w.size_given,
        "a file given on the command line is read whole"
    );
    let e = w
        .apply(&Settings {
            queue_depth: Some(0),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "--queue-depth: --queue-depth is 0; it must be at least 1"
    );
}

#[test]
fn every_setting_is_listed_with_its_flag() {
    let in_file: Vec<&str> = settings::SETTINGS
        .iter()
        .filter(|s| s.in_file)
        .map(|s| s.key)
        .collect();
    assert_eq!(in_file, KEYS);
    let list = settings::describe();
    for s in settings::SETTINGS {
        assert!(list.contains(s.key), "{} not in:\n{list}", s.key);
        assert!(!s.help.trim().is_empty(), "{} has no help", s.key);
    }
    for f in [
        "-b, --backend SPEC",
        "-t, --threads N[,N...]",
        "-d, --duration D",
        "--queue-depth N",
        "--no-fault-attribution",
        "--drop-caches",
    ] {
        assert!(list.contains(f), "{f} not in:\n{list}");
    }
}

/// The prose docs (README.md and docs/*.md) mention every key and every flag.
#[test]
fn docs_name_every_key_and_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut docs = std::fs::read_to_string(root.join("README.md")).unwrap();
    if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
        for e in dir.flatten() {
            docs += &std::fs::read_to_string(e.path()).unwrap_or_default();
        }
    }
    for s in settings::SETTINGS {
        if s.in_file {
            assert!(docs.contains(&format!("`{}`", s.key)), "key {}", s.key);
        }
        if let Some(f) = settings::cli_flag(s.key) {
            assert!(docs.contains(&f.long), "flag {}", f.long);
        }
    }
}

#[test]
fn a_fuse_device_with_a_size_sets_the_data_size_unless_size_is_given() {
    let mut w = parse("size = \"1GiB\"").unwrap();
    w.apply(&Settings {
        device: Some(parse_device("fuse:4MiB,eio_every=10").unwrap()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(w.size, 4 << 20);
    assert_eq!(w.on_error, OnError::Fail, "the default");
    let mut w = parse("size = \"1GiB\"\non_error = \"continue\"").unwrap();
    assert_eq!(w.on_error, OnError::Continue);
    let e = w
        .apply(&Settings {
            device: Some(parse_device("fuse:4MiB").unwrap()),
            size: Some(8 << 20),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("smaller than `size`"), "{e}");
    let e = parse("on_error = \"skip\"").unwrap_err().to_string();
    assert!(e.contains("on_error") && e.contains("continue"), "{e}");
    let e = parse("size = \"4MiB\"\ndevice = \"fuse,eio_at=4MiB\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("past the end"), "{e}");
}

#[test]
fn hold_before_sync_needs_a_write_workload_with_sync_none_or_end() {
    let hold = || Settings {
        hold_before_sync: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    let mut w = parse("op = \"write\"\nsync = \"end\"").unwrap();
    w.apply(&hold()).unwrap();
    assert_eq!(w.hold_before_sync, Duration::from_secs(2));
    let mut w = parse("op = \"write\"\nsync = \"every:4\"").unwrap();
    let e = w.apply(&hold()).unwrap_err().to_string();
    assert!(e.contains("\"none\" or \"end\""), "{e}");
    let mut w = parse("size = \"8MiB\"").unwrap();
    let e = w.apply(&hold()).unwrap_err().to_string();
    assert!(e.contains("write workload"), "{e}");
    let mut w = parse("op = \"write\"").unwrap();
    let e = w
        .apply(&Settings {
            hold_before_sync: Some(Duration::from_secs(601)),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 600s"), "{e}");
}
