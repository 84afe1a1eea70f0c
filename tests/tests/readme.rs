//! The README's examples are the programs the tests run: each fenced block announced by
//! `<!-- tested: PATH -->` must appear verbatim in that file (the C example is built and
//! run by `tests/c`, the Python one by pytest, the Go one is an `Example` test, the nu
//! session runs in `nu_e2e`). The Rust example is compiled as a doctest of sandbox-core.

use std::path::Path;

const MARK: &str = "<!-- tested: ";

/// (path, block) for each announced block of `readme`.
fn tested_blocks(readme: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let end = after.find(" -->").expect("an unterminated `tested` marker");
        let path = after[..end].trim().to_string();
        let after = &after[end..];
        let fence = after.find("\n```").expect("a `tested` marker without a code block");
        let body_start = after[fence + 1..].find('\n').map(|n| fence + 1 + n + 1).expect("a fence line");
        let body_len = after[body_start..].find("\n```").expect("an unclosed code block");
        out.push((path, after[body_start..body_start + body_len + 1].to_string()));
        rest = &after[body_start + body_len..];
    }
    out
}

#[test]
fn readme_examples_are_the_tested_programs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = tested_blocks(&readme);
    let paths: Vec<&str> = blocks.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "tests/c/example.c",
        "bindings/python/examples/example.py",
        "bindings/go/example_test.go",
        "tests/nu/readme-session.nu",
        "tests/c/example_events.c",
        "bindings/python/examples/events.py",
        "tests/nu/readme-events.nu",
        "tests/nu/readme-snapshots.nu",
    ] {
        assert!(paths.contains(&want), "the README shows no tested block from {want}: {paths:?}");
    }
    for (path, block) in &blocks {
        let file = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(block.lines().count() >= 10, "the README's block from {path} is suspiciously short");
        assert!(
            file.contains(block.as_str()),
            "the README's block from {path} differs from the file; copy it again:\n{block}"
        );
    }
}

#[test]
fn the_block_parser_finds_blocks_and_their_paths() {
    let text =
        "intro\n<!-- tested: a/b.c -->\n```c\nint x;\nint y;\n```\nmore\n<!-- tested: d.nu -->\n\n```nu\nls\n```\n";
    assert_eq!(
        tested_blocks(text),
        vec![("a/b.c".to_string(), "int x;\nint y;\n".to_string()), ("d.nu".to_string(), "ls\n".to_string())]
    );
}
