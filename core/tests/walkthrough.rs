//! The README's in-process walkthrough (`cargo run -p latchkey --example
//! walkthrough`) runs to its end. `cargo test` builds the examples next to
//! the test binaries; a run that built only some targets skips this.

#[test]
fn the_walkthrough_example_runs_to_the_end() {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let example = dir.join("examples").join("walkthrough");
    if !example.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} was not built",
            example.display()
        );
        eprintln!("\n!!! SKIPPED: {} not built\n", example.display());
        return;
    }
    let out = std::process::Command::new(&example).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in ["1. ", "5. ", "9. the outbox recorded"] {
        assert!(stdout.contains(step), "{step:?} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("active=false"),
        "revocation shown:\n{stdout}"
    );
}
