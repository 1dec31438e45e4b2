//! Fuzzing the trade readers (bounded, in every test run): mutations of the
//! seed corpus in `tests/fuzz-corpus/` and arbitrary text must never panic,
//! and every rejection must be a clean error naming the file and line.
//! proptest keeps any failing case in `proptest-regressions/` beside this
//! file, and replays it first on every later run.

use std::path::Path;

use proptest::prelude::*;

use super::{azfinsim_csv, portfolio, InputError, ReadOptions, TradeReader};

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-corpus") {
        let text = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        seeds.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    seeds
}

/// Byte edits: (position, byte, kind 0 replace / 1 insert / 2 delete / 3 truncate).
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, byte, kind) in edits {
        let n = bytes.len();
        let at = if n == 0 { 0 } else { pos % (n + 1) };
        match kind % 4 {
            0 if at < n => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 if at < n => {
                bytes.remove(at);
            }
            3 => bytes.truncate(at),
            _ => {}
        }
    }
    bytes
}

fn check_error(e: &InputError, line: u64) {
    assert_eq!(e.line, Some(line), "{e}");
    assert!(!e.message.is_empty());
    assert!(e.to_string().starts_with("fuzz"), "{e}");
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_json_lines_never_panic(seed in any::<usize>(), e in edits()) {
        let seeds = corpus();
        let bytes = mutate(seeds[seed % seeds.len()].clone(), &e);
        let text = String::from_utf8_lossy(&bytes);
        match portfolio::parse_line(Path::new("fuzz.jsonl"), 7, &text) {
            Ok(t) => { let _ = t.validate(); }
            Err(err) => check_error(&err, 7),
        }
    }

    #[test]
    fn mutated_csv_rows_never_panic(seed in any::<usize>(), e in edits()) {
        let seeds = corpus();
        let bytes = mutate(seeds[seed % seeds.len()].clone(), &e);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(err) = azfinsim_csv::check_header(Path::new("fuzz.csv"), &text) {
            check_error(&err, 1);
        }
        match azfinsim_csv::parse_row(Path::new("fuzz.csv"), 3, &text) {
            Ok(t) => { let _ = t.validate(); }
            Err(err) => check_error(&err, 3),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        if let Err(err) = portfolio::parse_line(Path::new("fuzz.jsonl"), 2, &text) {
            check_error(&err, 2);
        }
        if let Err(err) = azfinsim_csv::parse_row(Path::new("fuzz.csv"), 2, &text) {
            check_error(&err, 2);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whole files through the streaming reader, as `price` reads them.
    #[test]
    fn mutated_files_never_panic(pick in prop::collection::vec(any::<usize>(), 1..6), e in edits(), csv in any::<bool>()) {
        let seeds = corpus();
        let mut text: Vec<u8> = Vec::new();
        if csv {
            text.extend_from_slice(riskpool_kernels::azfinsim::HEADER.join(",").as_bytes());
            text.push(b'\n');
        }
        for p in pick {
            text.extend_from_slice(&seeds[p % seeds.len()]);
            text.push(b'\n');
        }
        let text = mutate(text, &e);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fuzz.in");
        std::fs::write(&path, &text).expect("write");
        match TradeReader::open(&path, ReadOptions::default()) {
            Ok(reader) => {
                for item in reader {
                    if let Err(err) = item {
                        assert!(err.line.is_some() || err.message.contains("empty"), "{err}");
                        assert!(err.to_string().contains("fuzz.in"), "{err}");
                        break;
                    }
                }
            }
            Err(err) => assert!(err.to_string().contains("fuzz.in"), "{err}"),
        }
    }
}
