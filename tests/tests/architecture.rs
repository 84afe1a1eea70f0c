//! The shape of the source tree, checked: no import cycle between the files (modules)
//! of a crate. A file uses another when its non-test code names `crate::<module>`; a
//! cycle means two concepts are tangled (usually a helper parked under the wrong stem).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the modules of the same crate its non-test code names.
fn uses(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may use anything.
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("").to_string();
            files.insert(name, code);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, code)| {
            let mut deps = BTreeSet::new();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let mut named: Vec<&str> = Vec::new();
                if let Some(group) = rest.strip_prefix('{') {
                    // `crate::{a, b::c}`: each item's first segment.
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    named.extend(group.split(',').map(|item| item.trim().split("::").next().unwrap_or("")));
                } else {
                    named.push(rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""));
                }
                for m in named {
                    if m != name && modules.contains(m) {
                        deps.insert(m.to_string());
                    }
                }
            }
            (name.clone(), deps)
        })
        .collect()
}

/// The cycles (strongly connected groups of more than one module), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Reachability by repeated search: the crates have a few dozen modules.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in &graph[&m] {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in graph.keys() {
        let mut group: Vec<String> =
            graph.keys().filter(|o| *o == m || (reach[m].contains(*o) && reach[*o].contains(m))).cloned().collect();
        group.sort();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

#[test]
fn the_checker_finds_a_cycle_and_ignores_tests() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("a.rs"), "use crate::b::X;\n").unwrap();
    std::fs::write(t.path().join("b.rs"), "fn f() { crate::c::g() }\n").unwrap();
    std::fs::write(t.path().join("c.rs"), "use crate::{a, d};\n").unwrap();
    std::fs::write(t.path().join("d.rs"), "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n").unwrap();
    assert_eq!(cycles(&uses(t.path())), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
}

#[test]
fn no_import_cycles_between_the_files_of_a_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = Vec::new();
    for krate in ["proto/src", "core/src", "agent/src", "ffi/src", "nu_plugin_sandbox/src", "cli/src"] {
        for c in cycles(&uses(&root.join(krate))) {
            found.push(format!("{krate}: {}", c.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles between files:\n{}", found.join("\n"));
}
