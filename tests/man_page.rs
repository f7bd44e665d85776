//! `man/klag.1` is generated from the clap definition; this test fails when it
//! is stale. Regenerate with: UPDATE_MAN=1 cargo test --test man_page

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn man_page_is_current() {
    let mut rendered = Vec::new();
    clap_mangen::Man::new(klag::cli::command()).render(&mut rendered).expect("render man page");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/klag.1");
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::write(&path, &rendered).expect("write man/klag.1");
        return;
    }
    let on_disk = std::fs::read(&path).unwrap_or_default();
    assert!(on_disk == rendered, "man/klag.1 is stale: run `UPDATE_MAN=1 cargo test --test man_page` and commit it");
}
