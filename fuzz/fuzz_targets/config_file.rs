//! The TOML configuration file: any text either parses or gives one error
//! naming the file, never quoting a string value from it (a misplaced secret
//! must not be echoed), and every cluster it defines resolves.
#![no_main]

use std::path::Path;

use klag::config_file::ConfigFile;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/etc/klag/config.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new(PATH);
    match ConfigFile::parse(text, path) {
        Ok(file) => {
            for name in file.clusters.keys() {
                let settings = file.settings(Some(name), path);
                assert!(settings.is_ok(), "{name}: {settings:?}");
            }
            if let Err(e) = file.settings(Some("\u{0}no such cluster"), path) {
                assert!(e.to_string().starts_with(PATH));
            }
            // The default cluster, if named, exists or is reported.
            let _ = file.settings(None, path);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(PATH), "{msg}");
            assert!(!msg.contains('\n'), "{msg:?}");
            // serde quotes a mistyped value as `string "..."`: elided.
            for (_, after) in msg.match_indices("string \"").map(|(i, m)| msg.split_at(i + m.len())) {
                assert!(after.starts_with("...\""), "quoted value in {msg:?}");
            }
        }
    }
});
