//! The Markdown documents hold what they point at: every relative link in the repository's `.md`
//! files (README.md, CHANGELOG.md, docs/) names a file that exists, and its `#anchor` a heading
//! of that file as GitHub renders it; and CHANGELOG.md keeps the Keep a Changelog shape, so an
//! entry added later has one obvious place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.md` file of the repository, outside `target/` and `.git/`.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || name == ".git" {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, out);
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The lines of a Markdown text outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match fence {
            Some(f) if t.starts_with(f) => fence = None,
            Some(_) => {}
            None if t.starts_with("```") => fence = Some("```"),
            None if t.starts_with("~~~") => fence = Some("~~~"),
            None => out.push((i + 1, line)),
        }
    }
    out
}

/// The line without its code spans (`` `a](b)` `` is not a link).
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('`') {
        out.push_str(&rest[..i]);
        let ticks = rest[i..].chars().take_while(|c| *c == '`').count();
        let after = &rest[i + ticks..];
        let close = "`".repeat(ticks);
        match after.find(&close) {
            Some(j) => rest = &after[j + ticks..],
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of inline links and images (`[text](target "title")`) and of reference
/// definitions (`[label]: target`) in one line of prose.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut out = Vec::new();
    let trimmed = line.trim_start();
    if let Some(definition) = trimmed.strip_prefix('[') {
        if let Some((label, rest)) = definition.split_once("]:") {
            if !label.contains(']') {
                if let Some(target) = rest.split_whitespace().next() {
                    out.push(target.trim_matches(['<', '>']).to_string());
                }
                return out;
            }
        }
    }
    let mut from = 0;
    while let Some(i) = line[from..].find("](") {
        let start = from + i + 2;
        let mut depth = 0;
        let mut end = line.len();
        for (j, c) in line[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = start + j;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let inner = line[start..end].trim();
        let target = match inner.strip_prefix('<') {
            Some(rest) => rest.split('>').next().unwrap_or(""),
            None => inner.split_whitespace().next().unwrap_or(""),
        };
        out.push(target.to_string());
        from = end.min(line.len());
    }
    out
}

/// A heading's anchor as GitHub makes it: the rendered text lower-cased, every character that
/// is not a letter, digit, `_`, `-` or space dropped, spaces turned into hyphens.
fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A heading's text as rendered: code spans' text without their backticks, links' and images'
/// text without their targets, HTML tags dropped.
fn rendered(heading: &str) -> String {
    let mut out = String::new();
    let mut chars = heading.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {}
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            ']' if chars.peek() == Some(&'(') => {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
            }
            '!' if chars.peek() == Some(&'[') => {}
            '[' => {}
            _ => out.push(c),
        }
    }
    out
}

/// The anchors of a Markdown file's headings, in GitHub's way: a repeated slug gets `-1`, `-2`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading.trim().trim_end_matches('#').trim());
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.insert(anchor);
    }
    out
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What is wrong with one link target from `file`, if anything.
fn check(file: &Path, target: &str) -> Option<String> {
    let has_scheme = target.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if has_scheme || target.starts_with("//") {
        return None;
    }
    if target.is_empty() {
        return Some("an empty link".into());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let path = percent_decoded(path);
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(from_root) = path.strip_prefix('/') {
        root().join(from_root)
    } else {
        file.parent().unwrap().join(&path)
    };
    if !resolved.exists() {
        return Some(format!("{path}: no such file"));
    }
    let anchor = anchor?;
    if resolved.extension().is_some_and(|e| e == "md") {
        let text = std::fs::read_to_string(&resolved).unwrap();
        if !anchors(&text).contains(&percent_decoded(anchor)) {
            return Some(format!(
                "#{anchor}: no such heading in {}",
                resolved.strip_prefix(root()).unwrap_or(&resolved).display()
            ));
        }
        return None;
    }
    // GitHub's line anchors on any other file: `#L12` or `#L12-L20`, within the file.
    let lines = std::fs::read_to_string(&resolved)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let within = anchor.split('-').all(|part| {
        part.strip_prefix('L')
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n >= 1 && n <= lines)
    });
    (!within).then(|| format!("#{anchor}: not a line of {path}"))
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut files = Vec::new();
    markdown_files(root(), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("README.md")) && files.len() >= 10,
        "expected README.md, CHANGELOG.md and docs/*.md, found {files:?}"
    );
    let (mut relative, mut problems) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for (n, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if !target.contains("://") && !target.starts_with("mailto:") {
                    relative += 1;
                }
                if let Some(problem) = check(file, &target) {
                    problems.push(format!("{name}:{n}: ({target}) {problem}"));
                }
            }
        }
    }
    // A parser that found nothing would pass everything: the docs have dozens of links.
    assert!(
        relative > 40,
        "only {relative} relative links found: the parser is broken"
    );
    assert!(
        problems.is_empty(),
        "links that lead nowhere:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn links_and_anchors_are_read_as_github_reads_them() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x), ![i](<img b.png>), `[c](nope.md)` and [d](e.md \"t\")"),
        ["docs/a.md#x", "img b.png", "e.md"]
    );
    assert_eq!(link_targets("[ref]: other.md#y"), ["other.md#y"]);
    assert_eq!(
        slug("Runbook: rotate the master key (gateway and Blnk)"),
        "runbook-rotate-the-master-key-gateway-and-blnk"
    );
    assert_eq!(slug("`check` and [`serve`](x.md)"), "check-and-serve");
    assert_eq!(slug("1. Foo / Bar_baz"), "1-foo--bar_baz");
    let text = "# A\n## A\n```\n# B\n```\n### A!\n";
    let want: BTreeSet<String> = ["a", "a-1", "a-2"].map(String::from).into();
    assert_eq!(anchors(text), want);
    let here = root().join("README.md");
    assert!(check(&here, "docs/nope.md").is_some());
    assert!(check(&here, "#no-such-heading").is_some());
    assert!(check(&here, "docs/development.md#no-such-heading").is_some());
    assert!(check(&here, "#install").is_none());
    assert!(check(&here, "https://example.com/nope").is_none());
}

/// The kinds of change Keep a Changelog names, in the order a version lists them.
const KINDS: [&str; 6] = [
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

/// CHANGELOG.md: `# Changelog`, then versions newest first (`## [Unreleased]`, then
/// `## [1.2.3] - 2026-12-31`), each with `### Added`, `### Changed`, ... in Keep a Changelog's
/// order, each kind at most once, nothing deeper, and each kind holding a list.
#[test]
fn the_changelog_keeps_the_keep_a_changelog_shape() {
    let text = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    let mut problems = Vec::new();
    let lines = prose_lines(&text);
    if lines.first().map(|l| l.1) != Some("# Changelog") {
        problems.push("the first line is not `# Changelog`".to_string());
    }
    let mut versions = Vec::new();
    let mut kind_rank: Option<usize> = None;
    let mut items_in_kind = 0;
    let mut open_kind: Option<(usize, &str)> = None;
    let close = |open: Option<(usize, &str)>, items: usize, problems: &mut Vec<String>| {
        if let Some((n, kind)) = open {
            if items == 0 {
                problems.push(format!("{n}: `### {kind}` holds no entry"));
            }
        }
    };
    for (n, line) in &lines {
        if let Some(version) = line.strip_prefix("## ") {
            close(open_kind.take(), items_in_kind, &mut problems);
            let ok = version == "[Unreleased]" || is_release(version);
            if !ok {
                problems.push(format!(
                    "{n}: `## {version}` is neither `## [Unreleased]` nor `## [1.2.3] - YYYY-MM-DD`"
                ));
            }
            if version == "[Unreleased]" && !versions.is_empty() {
                problems.push(format!("{n}: `## [Unreleased]` comes first"));
            }
            versions.push(version.to_string());
            kind_rank = None;
        } else if let Some(kind) = line.strip_prefix("### ") {
            close(open_kind.take(), items_in_kind, &mut problems);
            match KINDS.iter().position(|k| *k == kind) {
                None => problems.push(format!("{n}: `### {kind}` is not one of {KINDS:?}")),
                Some(rank) if kind_rank.is_some_and(|r| rank <= r) => problems.push(format!(
                    "{n}: `### {kind}` is out of order or repeated (the order is {KINDS:?})"
                )),
                Some(rank) => kind_rank = Some(rank),
            }
            if versions.is_empty() {
                problems.push(format!("{n}: `### {kind}` before any version"));
            }
            open_kind = Some((*n, kind));
            items_in_kind = 0;
        } else if line.starts_with("####") {
            problems.push(format!("{n}: headings go no deeper than `### Kind`"));
        } else if line.starts_with("- ") {
            if open_kind.is_none() {
                problems.push(format!("{n}: an entry outside a `### Kind` section"));
            }
            items_in_kind += 1;
        }
    }
    close(open_kind, items_in_kind, &mut problems);
    if versions.is_empty() {
        problems.push("no `## [Unreleased]` or version section".to_string());
    }
    assert!(
        problems.is_empty(),
        "CHANGELOG.md is not in the Keep a Changelog shape:\n  {}",
        problems.join("\n  ")
    );
}

/// `[1.2.3] - 2026-12-31`.
fn is_release(heading: &str) -> bool {
    let Some((version, date)) = heading.split_once(" - ") else {
        return false;
    };
    let version = version.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    let semver = version.is_some_and(|v| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    });
    let date_ok = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    semver && date_ok
}

#[test]
fn release_headings_are_read() {
    assert!(is_release("[0.1.0] - 2026-12-31"));
    assert!(is_release("[12.0.3] - 2027-01-02"));
    assert!(!is_release("[0.1] - 2026-12-31"));
    assert!(!is_release("[0.1.0] 2026-12-31"));
    assert!(!is_release("0.1.0 - 2026-12-31"));
    assert!(!is_release("[0.1.0] - 2026-12"));
}
