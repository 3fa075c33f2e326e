use super::*;

/// The README's worked example (tests/fixtures/event-log/).
fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/event-log").join(name)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("localrank-event-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn the_readme_example_reads_as_record_takes_it() {
    let (events, description) = read_events(&fixture("events.jsonl")).unwrap();
    assert!(description.is_empty());
    assert_eq!(events.len(), 6);
    // Each row is exactly an event `Ranker.record` takes, plus its user.
    let json = r#"{"kind":"dwell","item":{"id":"post-1","author":"ada","containers":["rust-guild","rust-guild/help"],"topics":["wasm"]},"at":1700000000000,"dwellMs":42000}"#;
    let expected: Event = serde_json::from_str(json).unwrap();
    assert_eq!(events[1], LoggedEvent { user: 7, event: expected });
    assert_eq!(events[2].event.item.embedding, Some(vec![0.1, 0.2, 0.3]));
    assert_eq!(events[4].event.kind, EventKind::Hide);
    assert!(events[5].event.item.topics.is_empty() && events[5].event.item.containers.is_empty());

    let log = read_requests(&fixture("requests.jsonl")).unwrap();
    assert_eq!(log.requests.len(), 2);
    let first = &log.requests[0];
    assert_eq!((first.user, first.at, first.split), (7, 1_700_000_300_000.0, None));
    assert_eq!(first.labels, [0.0, 1.0]);
    let json = r#"{"id":"post-4","author":"ada","topics":["wasm"],"serverScore":0.7,"popularity":15,"createdAt":1699999000000,"durationMs":12000}"#;
    assert_eq!(first.candidates[1], serde_json::from_str::<Candidate>(json).unwrap());
    assert_eq!(log.requests[1].split, Some(Split::Test));
    assert_eq!(
        log.requests[1].candidates[1],
        Candidate { item: Item { id: "post-5".into(), ..Item::default() }, ..Candidate::default() }
    );
}

#[test]
fn parquet_and_json_lines_round_trip() {
    let (events, _) = read_events(&fixture("events.jsonl")).unwrap();
    let requests = RequestLog {
        description: vec!["made by a test".into()],
        ..read_requests(&fixture("requests.jsonl")).unwrap()
    };
    for extension in ["parquet", "jsonl"] {
        let path = scratch(&format!("events.{extension}"));
        write_events(&path, &events, &requests.description).unwrap();
        let (read, description) = read_events(&path).unwrap();
        assert_eq!(read, events, "{extension}");
        assert_eq!(description.is_empty(), extension == "jsonl");
        let path = scratch(&format!("requests.{extension}"));
        write_requests(&path, &requests).unwrap();
        let read = read_requests(&path).unwrap();
        assert_eq!(read.requests, requests.requests, "{extension}");
        // Only Parquet has room for the adapter's description.
        let description = if extension == "parquet" { requests.description.clone() } else { Vec::new() };
        assert_eq!(read.description, description);
    }
}

#[test]
fn bad_files_are_errors_that_say_where() {
    let cases = [
        (
            "unknown-kind.jsonl",
            r#"{"user":1,"kind":"stare","item":{"id":"a"},"at":1}"#,
            "row 0: unknown kind `stare`",
        ),
        ("no-item.jsonl", r#"{"user":1,"kind":"like","at":1}"#, ""),
        ("no-id.jsonl", r#"{"user":1,"kind":"like","item":{"author":"x"},"at":1}"#, ""),
        ("text-time.jsonl", r#"{"user":1,"kind":"like","item":{"id":"a"},"at":"noon"}"#, ""),
        ("negative-user.jsonl", r#"{"user":-1,"kind":"like","item":{"id":"a"},"at":1}"#, ""),
        ("not-json.jsonl", "{{{", ""),
        ("events.csv", "user,kind", "a .parquet or a .jsonl file"),
    ];
    for (name, text, message) in cases {
        let path = scratch(name);
        std::fs::write(&path, text).unwrap();
        let error = read_events(&path).expect_err(name);
        assert!(error.contains(name) && error.contains(message), "{name}: {error}");
    }
    let path = scratch("garbage.parquet");
    std::fs::write(&path, b"PAR1 not really").unwrap();
    assert!(read_events(&path).unwrap_err().contains("garbage.parquet"));
    // A Parquet file of the wrong table names the missing column.
    let path = scratch("requests-as-events.parquet");
    write_requests(&path, &read_requests(&fixture("requests.jsonl")).unwrap()).unwrap();
    let error = read_events(&path).unwrap_err();
    assert!(error.contains("no column `kind`"), "{error}");
    let path = scratch("unlabelled.jsonl");
    std::fs::write(&path, r#"{"user":1,"at":1,"candidates":[{"id":"a"}]}"#).unwrap();
    assert!(read_requests(&path).is_err());
    let path = scratch("bad-split.jsonl");
    std::fs::write(&path, r#"{"user":1,"at":1,"split":"later","candidates":[{"id":"a","label":1}]}"#)
        .unwrap();
    assert!(read_requests(&path).unwrap_err().contains("unknown split `later`"));
}

/// The README's worked example is the fixture these tests read, word for word.
#[test]
fn the_readme_quotes_the_example_files() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = "<!-- event-log example: ";
    let mut quoted = 0;
    for block in readme.split(marker).skip(1) {
        let (path, rest) = block.split_once(" -->\n```json\n").expect("a marker is followed by a json block");
        let code = &rest[..rest.find("```\n").expect("the block ends")];
        let file = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
        assert_eq!(code, file, "the README's copy of {path}");
        quoted += 1;
    }
    assert_eq!(quoted, 2, "both tables of the example are quoted");
}
