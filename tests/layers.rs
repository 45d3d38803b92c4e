//! The module layers drawn in `src/lib.rs` hold in the code: every `crate::`, `super::` and
//! `self::` path in `src/` is read, and the test fails when a module uses one from a higher layer,
//! when two top-level modules use each other, or when files form an import cycle. The table of
//! layers is read from `src/lib.rs` itself, so the docs and the check cannot drift apart. So is
//! lib.rs's rule for `mod.rs` (declarations and re-exports, or a named entry point; children never
//! use their parent). The doc comments of `src/` name only modules and files that exist, and the
//! Markdown docs point at lib.rs's table instead of copying it.
//! Test code (`tests.rs` files and the `#[cfg(test)]` module at the end of a file) is not read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

/// `src/` as modules: each module path and the file that holds it.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: ModPath = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            match parts.last().map(String::as_str) {
                Some("tests") => continue,
                Some("lib") | Some("main") if parts.len() == 1 => parts.clear(),
                Some("mod") => {
                    parts.pop();
                }
                _ => {}
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The file's text without its trailing `#[cfg(test)] mod ... { }` and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let cut = text
        .find("#[cfg(test)]\nmod ")
        .or_else(|| text.find("#[cfg(test)]\npub mod "))
        .unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path starting with `crate`, `super` or `self`, with `use` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` statements, braces expanded.
    let mut rest = code;
    while let Some(i) = find_use(rest) {
        let stmt_start = i + 4;
        let Some(end) = rest[stmt_start..].find(';') else {
            break;
        };
        let tree: String = rest[stmt_start..stmt_start + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, &mut Vec::new(), &mut out);
        rest = &rest[stmt_start + end..];
    }
    // Inline paths: `crate::a::b(...)`.
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let mut end = at;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            let segs: Vec<String> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push(segs);
        }
    }
    out.retain(|p| {
        p.len() > 1
            && matches!(
                p.first().map(String::as_str),
                Some("crate" | "super" | "self")
            )
    });
    out
}

fn find_use(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("use ") {
        let at = from + i;
        let before = s[..at].chars().last();
        if before.is_none_or(|c| c.is_whitespace() || c == ')' || c == ';' || c == '{') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Expands a use tree such as `crate::{a::b,c::{d,e}}` into its paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let n = prefix.len();
        prefix.extend(head);
        for part in split_top(inner) {
            expand(part, prefix, out);
        }
        prefix.truncate(n);
    } else {
        let mut p = prefix.clone();
        let tree = tree.split(" as ").next().unwrap_or(tree);
        p.extend(
            tree.split("::")
                .filter(|s| !s.is_empty() && *s != "*")
                .map(|s| s.split("as").next().unwrap_or(s).to_owned()),
        );
        out.push(p);
    }
}

/// Splits `a,b::{c,d},e` at its top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The module a path used in module `from` names: the longest prefix that is a module.
fn resolve(from: &ModPath, path: &[String], mods: &BTreeMap<ModPath, PathBuf>) -> Option<ModPath> {
    let mut base: ModPath = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "self" => from.clone(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    let is_module = |m: &ModPath| !m.is_empty() && mods.contains_key(m);
    let mut best = is_module(&base).then(|| base.clone());
    for seg in &path[1..] {
        if seg == "super" {
            base.pop();
            best = is_module(&base).then(|| base.clone());
            continue;
        }
        base.push(seg.clone());
        if !is_module(&base) {
            break;
        }
        best = Some(base.clone());
    }
    best
}

/// The layers from `src/lib.rs`: rows `//! | Layer | `a`, `b` | ... |`, top first.
fn layers(lib: &str) -> BTreeMap<String, (usize, String)> {
    let mut out = BTreeMap::new();
    let rows = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! |"))
        .filter(|l| !l.starts_with("---") && !l.starts_with(" layer"));
    for (rank, row) in rows.enumerate() {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (layer, modules) = (cells[0], cells.get(1).copied().unwrap_or(""));
        for m in modules.split(',') {
            let m = m.trim().trim_matches('`').trim_end_matches('/');
            let m = m.trim_end_matches(".rs");
            if !m.is_empty() {
                out.insert(m.to_string(), (rank, layer.to_string()));
            }
        }
    }
    out
}

#[test]
fn imports_follow_the_layers_in_lib_rs_and_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layer_of = layers(&lib);
    let mut problems = Vec::new();

    // Every top-level module is in the table.
    let tops: BTreeSet<&String> = mods.keys().filter_map(|m| m.first()).collect();
    for top in &tops {
        if !layer_of.contains_key(*top) {
            problems.push(format!("`{top}` is in no layer of src/lib.rs's table"));
        }
    }

    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, file) in &mods {
        for p in paths(&code(file)) {
            if let Some(target) = resolve(m, &p, &mods) {
                if target != *m {
                    edges.entry(m.clone()).or_default().insert(target);
                }
            }
        }
    }

    let mut top_edges: BTreeSet<(String, String)> = BTreeSet::new();
    for (from, tos) in &edges {
        let Some(a) = from.first() else { continue };
        for to in tos {
            let b = &to[0];
            if a == b {
                continue;
            }
            top_edges.insert((a.clone(), b.clone()));
            if let (Some((ra, la)), Some((rb, lb))) = (layer_of.get(a), layer_of.get(b)) {
                if rb < ra {
                    problems.push(format!(
                        "{} ({la}) uses {} ({lb}), a higher layer",
                        from.join("::"),
                        to.join("::")
                    ));
                }
            }
        }
    }
    for (a, b) in &top_edges {
        if a < b && top_edges.contains(&(b.clone(), a.clone())) {
            problems.push(format!("`{a}` and `{b}` use each other"));
        }
    }

    // A parser that found nothing would pass everything: the crate has well over a hundred.
    let found: usize = edges.values().map(BTreeSet::len).sum();
    assert!(
        found > 100,
        "only {found} imports found: the parser is broken"
    );

    // Cycles between files (Tarjan's strongly connected components).
    for scc in sccs(&edges) {
        if scc.len() > 1 {
            let names: Vec<String> = scc.iter().map(|m| m.join("::")).collect();
            problems.push(format!("import cycle between files: {}", names.join(", ")));
        }
    }

    assert!(
        problems.is_empty(),
        "the module layers of src/lib.rs do not hold:\n  {}",
        problems.join("\n  ")
    );
}

fn sccs(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct T<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on: BTreeSet<&'a ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a ModPath) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let all: BTreeSet<&ModPath> = edges
        .iter()
        .flat_map(|(k, vs)| std::iter::once(k).chain(vs.iter()))
        .collect();
    for v in all {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_parser_reads_use_trees_and_inline_paths() {
    let code = "use crate::{a::b, c::{d, e as f}};\nuse super::g::H;\nfn x() { crate::i::j(); self::k::L; }";
    let mut got: Vec<String> = paths(code).into_iter().map(|p| p.join("::")).collect();
    got.sort();
    got.dedup();
    assert_eq!(
        got,
        [
            "crate::a::b",
            "crate::c::d",
            "crate::c::e",
            "crate::i::j",
            "self::k::L",
            "super::g::H"
        ]
    );
}

/// Files of `src/` stay under about 400 lines and functions under about 80, unless a comment
/// starting `// long:` just above says why (test code is not counted).
#[test]
fn files_and_functions_stay_small() {
    const MAX_FILE: usize = 400;
    const MAX_FN: usize = 80;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for file in modules(&src).values() {
        let text = std::fs::read_to_string(file).unwrap();
        let cut = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
        let lines: Vec<&str> = text[..cut].lines().collect();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        if lines.len() > MAX_FILE && !text.contains("//! long:") {
            problems.push(format!("src/{name}: {} lines", lines.len()));
        }
        for (start, len, fn_name) in functions(&lines) {
            let excused = start > 0 && lines[start - 1].trim_start().starts_with("// long:");
            if len > MAX_FN && !excused {
                problems.push(format!(
                    "src/{name}:{}: fn {fn_name} is {len} lines",
                    start + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "too long:\n  {}",
        problems.join("\n  ")
    );
}

/// Each `fn` with a body: its first line, its length in lines, its name.
fn functions(lines: &[&str]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let Some(at) = t.find("fn ") else { continue };
        let head = &t[..at];
        let is_fn = head
            .split_whitespace()
            .all(|w| matches!(w, "pub" | "async" | "const" | "unsafe") || w.starts_with("pub("));
        if !is_fn || t.ends_with(';') {
            continue;
        }
        let name: String = t[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[i..].iter().position(|l| *l == close) {
            out.push((i, end + 1, name));
        }
    }
    out
}

/// The modules whose `mod.rs` holds an entry point, as `src/lib.rs` names them: the backticked
/// `module::function` paths after "entry point in `mod.rs`:" up to the closing parenthesis.
fn entry_points(lib: &str) -> Vec<(String, String)> {
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let marker = "entry point in `mod.rs`:";
    let at = doc
        .find(marker)
        .expect("src/lib.rs names the modules with an entry point in `mod.rs`");
    let list = &doc[at + marker.len()..];
    let list = &list[..list.find(')').unwrap_or(list.len())];
    list.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|p| p.split_once("::"))
        .map(|(m, f)| (m.to_string(), f.to_string()))
        .collect()
}

/// The lines of a `mod.rs` that are more than declarations and re-exports (`mod a;`,
/// `pub use self::a::B;`, their attributes), test code and comments left out.
fn beyond_declarations(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_use = false;
    for line in code.lines() {
        let t = line.trim();
        if in_use {
            in_use = !t.ends_with(';');
            continue;
        }
        let item = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if t.is_empty() || t.starts_with("#[") || (item.starts_with("mod ") && t.ends_with(';')) {
            continue;
        }
        if item.starts_with("use ") {
            in_use = !t.ends_with(';');
            continue;
        }
        out.push(t.to_string());
    }
    out
}

/// The `mod.rs` rule of `src/lib.rs`: a `mod.rs` declares its children and re-exports, except in
/// the modules lib.rs names as having their entry point there (each really defines it); and a
/// module never uses a module that contains it.
#[test]
fn a_mod_rs_declares_unless_lib_rs_names_its_entry_point_and_children_never_use_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let named = entry_points(&lib);
    assert!(
        !named.is_empty(),
        "src/lib.rs's list of entry points is empty: the reader is broken"
    );
    let mut problems = Vec::new();

    let mut with_code = BTreeSet::new();
    for (m, file) in &mods {
        if file.file_name().is_none_or(|n| n != "mod.rs") {
            continue;
        }
        let extra = beyond_declarations(&code(file));
        let name = m.join("::");
        let entry = named.iter().find(|(module, _)| *module == name);
        match (extra.first(), entry) {
            (Some(first), None) => problems.push(format!(
                "src/{name}/mod.rs holds more than declarations and re-exports (`{first}`): move \
                 it into a child, or name the module's entry point in src/lib.rs"
            )),
            (None, Some((_, f))) => problems.push(format!(
                "src/{name}/mod.rs only declares and re-exports now: take `{name}::{f}` out of \
                 src/lib.rs's list of entry points"
            )),
            (Some(_), Some((_, f))) => {
                let defined = [format!("fn {f}("), format!("fn {f}<")];
                if !defined.iter().any(|d| code(file).contains(d.as_str())) {
                    problems.push(format!(
                        "src/lib.rs names `{name}::{f}`, which src/{name}/mod.rs does not define"
                    ));
                }
            }
            (None, None) => {}
        }
        if !extra.is_empty() {
            with_code.insert(name);
        }
    }
    for (module, f) in &named {
        if !mods.contains_key(&vec![module.clone()]) {
            problems.push(format!(
                "src/lib.rs names `{module}::{f}`, but there is no module `{module}`"
            ));
        }
    }
    // The check can fail: most directory modules only declare, and the ones named do not.
    assert!(
        with_code.len() == named.len()
            && mods.keys().filter(|m| m.len() > 1).count() > with_code.len(),
        "mod.rs files with code: {with_code:?}; named in src/lib.rs: {named:?}"
    );

    for (m, file) in &mods {
        for p in paths(&code(file)) {
            if let Some(target) = resolve(m, &p, &mods) {
                if target.len() < m.len() && m.starts_with(&target) {
                    let rel = file.strip_prefix(&src).unwrap().display();
                    problems.push(format!(
                        "src/{rel} ({}) uses `{}`, its own parent: a child uses its siblings, never the module that declares it",
                        m.join("::"),
                        p.join("::")
                    ));
                }
            }
        }
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "the mod.rs rule of src/lib.rs does not hold:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn a_mod_rs_with_only_declarations_is_told_from_one_with_code() {
    let declares = "mod a;\npub mod b;\n#[cfg(unix)]\npub(crate) mod c;\n\npub use self::a::{\n    X,\n    Y,\n};\nuse crate::d::E;";
    assert_eq!(beyond_declarations(declares), Vec::<String>::new());
    let code = "mod a;\n\npub fn run() {}\n";
    assert_eq!(beyond_declarations(code), ["pub fn run() {}"]);
    let lib = "//! may hold it (the modules with an entry point in `mod.rs`: `a::run`,\n//! `b::main`). Next `c::d`.";
    assert_eq!(
        entry_points(lib),
        [("a".into(), "run".into()), ("b".into(), "main".into())]
    );
}

/// Crates a doc comment may name in an `a::b` path: the dependencies and the standard library
/// (with the primitive types, whose items such as `i128::MAX` it documents).
fn external_crates(root: &Path) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let primitives = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "char", "str", "bool",
    ];
    let mut out: BTreeSet<String> = ["std", "core", "alloc"]
        .into_iter()
        .chain(primitives)
        .map(String::from)
        .collect();
    let mut in_deps = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                out.insert(name.trim().replace('-', "_"));
            }
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is an item the file declares (`fn name`, `struct name`, `const name`, ...).
fn declares(code: &str, name: &str) -> bool {
    let kinds = [
        "fn",
        "struct",
        "enum",
        "trait",
        "type",
        "const",
        "static",
        "mod",
        "union",
        "macro_rules!",
    ];
    kinds.iter().any(|kind| {
        let needle = format!("{kind} {name}");
        let mut from = 0;
        while let Some(i) = code[from..].find(&needle) {
            let at = from + i;
            from = at + needle.len();
            let starts_word = code[..at]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if starts_word && word_at(code, from - name.len(), name) {
                return true;
            }
        }
        false
    })
}

/// Whether `name` stands at byte `at` of `text` as a word of its own.
fn word_at(text: &str, at: usize, name: &str) -> bool {
    let end = at + name.len();
    text[..at]
        .chars()
        .last()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
        && text[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

/// Whether `name` occurs in `text` as a word of its own.
fn has_word(text: &str, name: &str) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        if word_at(text, from + i, name) {
            return true;
        }
        from += i + name.len();
    }
    false
}

/// Whether `name` is an item the file declares or re-exports (`pub use ...name...;`).
fn defines(code: &str, name: &str) -> bool {
    if declares(code, name) {
        return true;
    }
    ["pub use ", "pub(crate) use ", "pub(super) use "]
        .iter()
        .any(|prefix| {
            let mut from = 0;
            while let Some(i) = code[from..].find(prefix) {
                let start = from + i;
                let end = code[start..].find(';').map_or(code.len(), |e| start + e);
                if has_word(&code[start..end], name) {
                    return true;
                }
                from = end;
            }
            false
        })
}

/// Whether some file imports `name` from another crate (`use redb::{Database, Durability}`).
fn imported(codes: &[String], crates: &BTreeSet<String>, name: &str) -> bool {
    codes.iter().any(|code| {
        let mut rest = code.as_str();
        while let Some(i) = find_use(rest) {
            let stmt = &rest[i + 4..];
            let stmt = &stmt[..stmt.find(';').unwrap_or(stmt.len())];
            let krate = stmt.trim_start().split("::").next().unwrap_or("");
            if crates.contains(krate) && has_word(stmt, name) {
                return true;
            }
            rest = &rest[i + 4..];
        }
        false
    })
}

/// `Type::item` in a comment: when the crate declares `Type`, `item` is a function, constant or
/// type of the crate, or a word of a file that declares `Type` (a variant, a field).
fn check_type_path(segs: &[&str], codes: &[String], crates: &BTreeSet<String>) -> Option<String> {
    let (ty, item) = (segs[0], *segs.get(1)?);
    let homes: Vec<&String> = codes.iter().filter(|c| declares(c, ty)).collect();
    if homes.is_empty() || ty == "Self" || imported(codes, crates, ty) {
        return None; // another crate's type
    }
    let found = codes.iter().any(|c| declares(c, item)) || homes.iter().any(|c| has_word(c, item));
    (!found).then(|| format!("`{ty}` has no `{item}`"))
}

/// The module path a doc comment in module `from` names with `a::b::c`, checked: the modules
/// it walks exist and the first segment that is no module is an item of the last module. `None`
/// when it holds, or when the path is another crate's.
fn check_path(
    from: &ModPath,
    segs: &[&str],
    mods: &BTreeMap<ModPath, PathBuf>,
    crates: &BTreeSet<String>,
    src: &Path,
) -> Option<String> {
    let first = *segs.first()?;
    let parent = from[..from.len().saturating_sub(1)].to_vec();
    let mut base: ModPath = match first {
        "crate" | "blnk_gateway" => Vec::new(),
        "self" => from.clone(),
        "super" => parent,
        _ => {
            let candidates = [
                [from.clone(), vec![first.to_string()]].concat(),
                [parent, vec![first.to_string()]].concat(),
                vec![first.to_string()],
            ];
            match candidates.into_iter().find(|c| mods.contains_key(c)) {
                Some(m) => m,
                None if crates.contains(first) || first == "fake_blnk" => return None,
                None => return Some(format!("no module `{first}`")),
            }
        }
    };
    for seg in &segs[1..] {
        let next = [base.clone(), vec![seg.to_string()]].concat();
        if mods.contains_key(&next) {
            base = next;
            continue;
        }
        let file = if base.is_empty() {
            src.join("lib.rs")
        } else {
            mods[&base].clone()
        };
        if defines(&code(&file), seg) {
            return None;
        }
        let module = if base.is_empty() {
            "the crate root".to_string()
        } else {
            format!("`{}`", base.join("::"))
        };
        return Some(format!("{module} has no module or item `{seg}`"));
    }
    None
}

/// What the doc comments (`//!` and `///`) of `src/` name in backticks that does not exist:
/// module paths (`proxy::keep`, `crate::limits::X`, `Type::item` for the crate's own types), files
/// (`proxy/keep.rs`, `keep.rs`, found from the file's directory, its module's, `src/` or the
/// repository's root) and modules pointed at by name ("see `keep`", "the `keep` module"). Paths
/// into the dependencies and the standard library are not followed. Also returns how many names
/// were checked.
fn doc_comment_problems(src: &Path) -> (usize, Vec<String>) {
    let root = src.parent().unwrap();
    let mods = modules(src);
    let crates = external_crates(root);
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let codes: Vec<String> = files.iter().map(|f| code(f)).collect();
    let (mut checked, mut problems) = (0, Vec::new());
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        // The module the file is, and the directory its children live in.
        let mut m: ModPath = rel
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let own_dir = match m.last().map(String::as_str) {
            Some("mod") => {
                m.pop();
                file.parent().unwrap().to_path_buf()
            }
            Some("lib" | "main") if m.len() == 1 => {
                m.clear();
                src.to_path_buf()
            }
            _ => file.with_extension(""),
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            let Some(doc) = t.strip_prefix("//!").or_else(|| t.strip_prefix("///")) else {
                continue;
            };
            let parts: Vec<&str> = doc.split('`').collect();
            for (i, token) in parts.iter().enumerate().skip(1).step_by(2) {
                if i + 1 >= parts.len() {
                    break; // an unclosed backtick: the span goes on on the next line
                }
                let before = parts[i - 1].to_lowercase();
                let after = parts[i + 1].to_lowercase();
                let problem = if token.ends_with(".rs")
                    && token
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_/.-".contains(c))
                {
                    if *token == "mod.rs" {
                        continue; // the kind of file, not one of them
                    }
                    checked += 1;
                    let bases = [file.parent().unwrap(), own_dir.as_path(), src, root];
                    (!bases.iter().any(|b| b.join(token).is_file()))
                        .then(|| "no such file".to_string())
                } else if token.contains("::") {
                    let segs: Vec<&str> = token.split("::").collect();
                    if !segs.iter().all(|s| is_ident(s)) {
                        continue;
                    }
                    checked += 1;
                    if segs[0].starts_with(|c: char| c.is_ascii_uppercase()) {
                        check_type_path(&segs, &codes, &crates)
                    } else {
                        check_path(&m, &segs, &mods, &crates, src)
                    }
                } else if is_ident(token)
                    && token.starts_with(|c: char| c.is_ascii_lowercase())
                    && (before.ends_with("see ")
                        || after.starts_with(" module")
                        || before.ends_with("module "))
                {
                    checked += 1;
                    let parent = m[..m.len().saturating_sub(1)].to_vec();
                    let is_module = [
                        [m.clone(), vec![token.to_string()]].concat(),
                        [parent, vec![token.to_string()]].concat(),
                        vec![token.to_string()],
                    ]
                    .iter()
                    .any(|c| mods.contains_key(c));
                    (!is_module && !defines(&code(file), token))
                        .then(|| "no such module".to_string())
                } else {
                    continue;
                };
                if let Some(problem) = problem {
                    problems.push(format!(
                        "src/{}:{}: `{token}`: {problem}",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    (checked, problems)
}

/// Module comments name modules and files that exist: a module renamed, moved or merged leaves
/// no comment pointing at it.
#[test]
fn module_comments_name_modules_and_files_that_exist() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (checked, problems) = doc_comment_problems(&src);
    assert!(
        checked > 50,
        "only {checked} names checked in doc comments: the reader is broken"
    );
    assert!(
        problems.is_empty(),
        "doc comments name what does not exist ({checked} names checked):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn a_module_comment_naming_what_is_gone_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("Cargo.toml", "[dependencies]\nhyper = \"1\"\n");
    write(
        "src/lib.rs",
        "//! Fine: `proxy/early.rs`, `proxy::early`, `crate::proxy::handle`, `hyper::server::conn`, \
         `Type::method`, `mod.rs`.\n//! Gone: `proxy/foo.rs`, `reload.rs`, `proxy::intake`, `reload::run`, \
         `proxy::Gone`.\npub mod proxy;\n",
    );
    write(
        "src/proxy/mod.rs",
        "//! Fine: `early.rs`, see `early`, see `handle`, `super::proxy`.\n//! Gone: see `buffer`, the \
         `intake` module.\nmod early;\npub fn handle() {}\n",
    );
    write(
        "src/proxy/early.rs",
        "//! Fine: `self::Early`, `super::handle`, see `crate::proxy`.\npub struct Early;\n",
    );
    let (_, problems) = doc_comment_problems(&root.join("src"));
    let gone: Vec<&str> = problems
        .iter()
        .map(|p| p.split('`').nth(1).unwrap())
        .collect();
    assert_eq!(
        gone,
        [
            "proxy/foo.rs",
            "reload.rs",
            "proxy::intake",
            "reload::run",
            "proxy::Gone",
            "buffer",
            "intake"
        ],
        "{problems:#?}"
    );
}

/// The docs point at the table in `src/lib.rs` instead of copying it: a Markdown file that gives
/// the number of layers gives lib.rs's, and none lists three or more layers by name (a copy of
/// the table, which would drift the first time a layer or module moves).
#[test]
fn the_docs_point_at_lib_rs_for_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let layer_of = layers(&lib);
    let names: BTreeSet<&str> = layer_of.values().map(|(_, l)| l.as_str()).collect();
    let count = names.len();
    assert!(
        count >= 5,
        "only {count} layers read from src/lib.rs: the reader is broken"
    );
    let words = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    let mut docs = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        docs.push(entry.unwrap().path());
    }
    let mut problems = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let name = doc.strip_prefix(root).unwrap().display();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let tokens: Vec<&str> = lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .collect();
            for pair in tokens.windows(2) {
                let said = words
                    .iter()
                    .position(|w| *w == pair[0])
                    .map(|i| i + 1)
                    .or_else(|| pair[0].parse().ok());
                if let (Some(said), "layers") = (said, pair[1]) {
                    if said != count {
                        problems.push(format!(
                            "{name}:{}: says {said} layers; src/lib.rs draws {count}",
                            n + 1
                        ));
                    }
                }
            }
        }
        for paragraph in text.split("\n\n") {
            let flat = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
            let listed: Vec<&&str> = names
                .iter()
                .filter(|l| flat.contains(&format!("{l} (`")))
                .collect();
            if listed.len() >= 3 {
                let at = flat.chars().take(60).collect::<String>();
                problems.push(format!(
                    "{name}: \"{at}...\" lists the layers {listed:?}: point at src/lib.rs instead"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs that restate src/lib.rs's layers:\n  {}",
        problems.join("\n  ")
    );
}
