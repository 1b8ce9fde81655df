//! Lints every migration file (shipped and test-only) against the rules of
//! `MIGRATIONS.md`, and every source file against `SELECT *`. Needs no
//! database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use latchkey_sqlx::Migration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "sql"));
    v.sort();
    v
}

/// Upper-cased statement with whitespace collapsed, for matching.
fn norm(stmt: &str) -> String {
    stmt.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The word after `prefix` (first occurrence), without quotes/parens.
fn word_after(s: &str, prefix: &str) -> Option<String> {
    let i = s.find(prefix)? + prefix.len();
    s[i..]
        .split(|c: char| c.is_whitespace() || c == '(')
        .find(|w| !w.is_empty())
        .map(|w| {
            w.trim_end_matches(';')
                .trim_matches('"')
                .trim_matches('`')
                .to_owned()
        })
}

fn table_of_create(s: &str) -> Option<String> {
    let s = s.replace("IF NOT EXISTS ", "");
    word_after(&s, "CREATE TABLE ")
}

fn table_of_alter(s: &str) -> Option<String> {
    word_after(
        &s.replace("ONLY ", "").replace("IF EXISTS ", ""),
        "ALTER TABLE ",
    )
}

fn table_of_index(s: &str) -> Option<String> {
    word_after(s, " ON ").map(|t| t.replace("ONLY", ""))
}

const VOLATILE: &[&str] = &[
    "NOW()",
    "RANDOM()",
    "CLOCK_TIMESTAMP()",
    "GEN_RANDOM_UUID()",
    "UUID()",
    "NEXTVAL(",
    "CURRENT_TIMESTAMP",
    "TIMEOFDAY()",
];

/// Every rule for one file; returns the violations.
fn lint(path: &Path, dialect: Dialect, created_before: &BTreeSet<String>) -> Vec<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).expect("read migration");
    let mut errs = Vec::new();
    let mut err = |m: String| errs.push(format!("{name}: {m}"));
    if text.contains('\r') {
        err("CRLF line endings (.gitattributes wants eol=lf)".into());
    }
    let stem = name.trim_end_matches(".sql");
    let ok_name = stem.split_once('_').is_some_and(|(v, n)| {
        v.len() == 4
            && v.bytes().all(|b| b.is_ascii_digit())
            && !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if !ok_name {
        err("file name must be NNNN_lower_snake.sql".into());
    }
    let contract = stem.contains("_contract_");
    let m = Migration::new(0, stem, text.clone());
    let no_tx = m.no_transaction();
    let stmts = m.statements();
    let created: BTreeSet<String> = stmts
        .iter()
        .map(|s| norm(s))
        .filter(|s| s.starts_with("CREATE TABLE"))
        .filter_map(|s| table_of_create(&s))
        .collect();
    let is_new = |t: &str| created.contains(t) && !created_before.contains(t);
    let mut dropped_indexes = BTreeSet::new();
    for raw in &stmts {
        let s = norm(raw);
        let short: String = raw.chars().take(70).collect();
        if !raw.trim_end().ends_with(';') {
            err(format!(
                "statement must end with ';' at the end of a line: {short}"
            ));
        }
        if raw.matches(';').count() > 1 {
            err(format!(
                "one statement per ';' line (no bodies with ';'): {short}"
            ));
        }
        for bad in [
            "RENAME ",
            "TRUNCATE ",
            "LOCK TABLE",
            "VACUUM FULL",
            "CLUSTER ",
            "SET NOT NULL",
            "LOCK_TIMEOUT",
            "LOCK_WAIT_TIMEOUT",
        ] {
            if s.contains(bad) {
                err(format!("forbidden `{}`: {short}", bad.trim()));
            }
        }
        if (s.contains(" TYPE ") && s.contains("ALTER COLUMN"))
            || s.contains("MODIFY COLUMN")
            || s.contains("CHANGE COLUMN")
        {
            err(format!("column type changes rewrite the table: {short}"));
        }
        if (s.contains("DROP COLUMN") || s.starts_with("DROP TABLE")) && !contract {
            err(format!("dropping is the contract step: only in NNNN_contract_*.sql, shipped after no running version reads it: {short}"));
        }
        if s.starts_with("ALTER TABLE") {
            let table = table_of_alter(&s).unwrap_or_default();
            if !is_new(&table) {
                if s.contains("ADD COLUMN") || s.contains(" ADD ") {
                    if s.contains("NOT NULL") && !s.contains("DEFAULT") {
                        err(format!(
                            "NOT NULL column without DEFAULT on existing table {table}: {short}"
                        ));
                    }
                    if VOLATILE.iter().any(|v| s.contains(v)) {
                        err(format!(
                            "volatile DEFAULT rewrites existing table {table}: {short}"
                        ));
                    }
                }
                if s.contains("ADD CONSTRAINT")
                    || s.contains("ADD PRIMARY KEY")
                    || s.contains("ADD UNIQUE")
                {
                    let fk_or_check = s.contains("FOREIGN KEY") || s.contains("CHECK");
                    if !(fk_or_check && s.contains("NOT VALID")) {
                        err(format!("constraint on existing table {table} must be NOT VALID (then VALIDATE), or a unique index built concurrently: {short}"));
                    }
                }
                if dialect == Dialect::MySql
                    && !(s.contains("ALGORITHM=INSTANT")
                        || (s.contains("ALGORITHM=INPLACE") && s.contains("LOCK=NONE")))
                {
                    err(format!("ALTER of existing table must say ALGORITHM=INSTANT or ALGORITHM=INPLACE, LOCK=NONE: {short}"));
                }
                if no_tx && s.contains("ADD COLUMN") && !s.contains("ADD COLUMN IF NOT EXISTS") {
                    err(format!("no-transaction files must be repeatable: ADD COLUMN IF NOT EXISTS: {short}"));
                }
            }
        }
        if s.starts_with("DROP INDEX") {
            if dialect == Dialect::Postgres && !s.contains("CONCURRENTLY") {
                err(format!("DROP INDEX must be CONCURRENTLY: {short}"));
            }
            if let Some(i) = word_after(
                &s.replace("CONCURRENTLY ", "").replace("IF EXISTS ", ""),
                "DROP INDEX ",
            ) {
                dropped_indexes.insert(i);
            }
        }
        if s.starts_with("CREATE INDEX") || s.starts_with("CREATE UNIQUE INDEX") {
            let table = table_of_index(&s).unwrap_or_default();
            let concurrent = s.contains("CONCURRENTLY");
            if concurrent && !no_tx {
                err(format!(
                    "CREATE INDEX CONCURRENTLY needs a `-- no-transaction` file: {short}"
                ));
            }
            if !is_new(&table) {
                match dialect {
                    Dialect::Postgres if !concurrent => err(format!(
                        "index on existing table {table} must be CREATE INDEX CONCURRENTLY: {short}"
                    )),
                    Dialect::MySql if !(s.contains("ALGORITHM=INPLACE") && s.contains("LOCK=NONE")) => err(format!(
                        "index on existing table {table} must say ALGORITHM=INPLACE LOCK=NONE: {short}"
                    )),
                    _ => {}
                }
            }
            if concurrent {
                let idx = word_after(
                    &s.replace("UNIQUE ", "")
                        .replace("CONCURRENTLY ", "")
                        .replace("IF NOT EXISTS ", ""),
                    "CREATE INDEX ",
                )
                .unwrap_or_default();
                // A failed concurrent build leaves an INVALID index behind;
                // dropping it first makes the file safe to run again.
                if !s.contains("IF NOT EXISTS") || !dropped_indexes.contains(&idx) {
                    err(format!(
                        "concurrent index {idx} must be preceded by DROP INDEX CONCURRENTLY IF EXISTS and use IF NOT EXISTS: {short}"
                    ));
                }
            }
        }
        if no_tx
            && !(s.starts_with("CREATE INDEX")
                || s.starts_with("CREATE UNIQUE INDEX")
                || s.starts_with("DROP INDEX")
                || s.starts_with("ALTER TABLE"))
        {
            err(format!(
                "no-transaction files hold only index builds and ADD COLUMN: {short}"
            ));
        }
    }
    errs
}

fn lint_dir(
    dir: &Path,
    dialect: Dialect,
    mut created: BTreeSet<String>,
) -> (Vec<String>, BTreeSet<String>, usize) {
    let mut errs = Vec::new();
    let files = sql_files(dir);
    let mut versions = BTreeSet::new();
    for f in &files {
        let v = f
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.get(..4))
            .unwrap_or_default()
            .to_owned();
        if !versions.insert(v.clone()) {
            errs.push(format!("{}: duplicate version {v}", f.display()));
        }
        errs.extend(lint(f, dialect, &created));
        let text = std::fs::read_to_string(f).expect("read");
        for s in Migration::new(0, "x", text).statements() {
            if let Some(t) =
                table_of_create(&norm(&s)).filter(|_| norm(&s).starts_with("CREATE TABLE"))
            {
                created.insert(t);
            }
        }
    }
    (errs, created, files.len())
}

#[test]
fn every_migration_follows_the_rules() {
    let mut all = Vec::new();
    let mut linted = 0;
    for (sub, d) in [
        ("postgres", Dialect::Postgres),
        ("mysql", Dialect::MySql),
        ("sqlite", Dialect::Sqlite),
    ] {
        let (errs, created, n) = lint_dir(&root().join("migrations").join(sub), d, BTreeSet::new());
        assert!(n > 0, "no {sub} migrations found");
        all.extend(errs);
        linted += n;
        let test_dir = root().join("tests/migrations").join(sub);
        let (errs, _, n) = lint_dir(&test_dir, d, created);
        all.extend(errs);
        linted += n;
    }
    assert!(all.is_empty(), "migration lint failed:\n{}", all.join("\n"));
    println!("linted {linted} migration files");
}

#[test]
fn the_linter_catches_violations() {
    let dir = std::env::temp_dir().join(format!("lk_lint_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = [
        (
            "0002_idx.sql",
            "CREATE INDEX lk_x ON lk_access_tokens (subject);\n",
            "CONCURRENTLY",
        ),
        (
            "0003_type.sql",
            "ALTER TABLE lk_grants ALTER COLUMN scopes TYPE TEXT;\n",
            "rewrite",
        ),
        (
            "0004_nn.sql",
            "ALTER TABLE lk_grants ADD COLUMN x TEXT NOT NULL;\n",
            "NOT NULL",
        ),
        (
            "0005_vol.sql",
            "ALTER TABLE lk_grants ADD COLUMN x TIMESTAMPTZ DEFAULT now();\n",
            "volatile",
        ),
        (
            "0006_conc.sql",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS lk_y ON lk_grants (x);\n",
            "no-transaction",
        ),
        (
            "0007_drop.sql",
            "ALTER TABLE lk_grants DROP COLUMN x;\n",
            "contract",
        ),
        (
            "0008_rename.sql",
            "ALTER TABLE lk_grants RENAME COLUMN x TO y;\n",
            "RENAME",
        ),
        (
            "0009_lock.sql",
            "SET lock_timeout = '10min';\n",
            "LOCK_TIMEOUT",
        ),
        (
            "0010_retry.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY lk_z ON lk_grants (x);\n",
            "DROP INDEX CONCURRENTLY IF EXISTS",
        ),
    ];
    for (name, sql, needle) in cases {
        let p = dir.join(name);
        std::fs::write(&p, sql).expect("write");
        let errs = lint(&p, Dialect::Postgres, &BTreeSet::new());
        assert!(
            errs.iter().any(|e| e.contains(needle)),
            "{name}: expected `{needle}` in {errs:?}"
        );
        std::fs::remove_file(&p).expect("rm");
    }
    let p = dir.join("0002_my.sql");
    std::fs::write(&p, "ALTER TABLE lk_grants ADD COLUMN x TEXT NULL;\n").expect("write");
    assert!(lint(&p, Dialect::MySql, &BTreeSet::new())
        .iter()
        .any(|e| e.contains("ALGORITHM")));
    std::fs::remove_dir_all(&dir).expect("rm dir");
}

/// Every query in the crate names its columns.
#[test]
fn no_select_star_in_sources() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    assert!(!files.is_empty());
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let up = norm(&text.replace(['"', '\\'], " "));
        for kw in ["SELECT ", "RETURNING "] {
            for (i, _) in up.match_indices(kw) {
                let rest = up[i + kw.len()..].trim_start();
                let first = rest.split(' ').next().unwrap_or_default();
                if first == "*"
                    || first.starts_with('*')
                    || first.ends_with(".*")
                    || first.contains(".*,")
                {
                    bad.push(format!("{}: `{kw}{first}`", f.display()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "queries must name their columns:\n{}",
        bad.join("\n")
    );
}
