//! Embeds `migrations/<dialect>/NNNN_name.sql` into the crate: writes
//! `$OUT_DIR/migrations.rs` with one `&[(version, name, sql)]` per dialect,
//! so a migration added to the folder is picked up without editing code.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not `env!`: a build script compiled in one checkout
    // and reused from a copied target directory would otherwise embed (and
    // watch) the other checkout's migrations.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    for dialect in ["postgres", "mysql", "sqlite"] {
        let dir = root.join(dialect);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let _ = writeln!(
            out,
            "/// Embedded {dialect} migrations.\npub(crate) const {}: &[(i64, &str, &str)] = &[",
            dialect.to_uppercase()
        );
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let stem = f.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
            let (num, name) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{stem}: expected NNNN_name.sql"));
            let version: i64 = num
                .parse()
                .unwrap_or_else(|_| panic!("{stem}: version must be a number"));
            let _ = writeln!(
                out,
                "    ({version}, {name:?}, include_str!({:?})),",
                f.display().to_string()
            );
        }
        out.push_str("];\n");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("migrations.rs");
    std::fs::write(dest, out).expect("write migrations.rs");
}
