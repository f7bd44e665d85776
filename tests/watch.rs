//! `--watch` in a real pseudo-terminal (tmux) against real Kafka: the screen
//! refreshes in place with new lag and trend sparklines, colour follows
//! NO_COLOR, Ctrl-C exits 0 and gives the screen back. Outside a terminal:
//! one snapshot per interval, SIGINT exits 0, a closed pipe ends the run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str, env: &[(&str, &str)]) -> Option<Tmux> {
        if Process::new("tmux").arg("-V").output().is_err() {
            assert!(std::env::var("KLAG_REQUIRE_SERVICES").as_deref() != Ok("1"), "tmux is missing");
            eprintln!("skipped: tmux not installed");
            return None;
        }
        let t = Tmux { socket: unique("klag-watch") };
        let mut cmd = Process::new("tmux");
        cmd.args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50"]);
        cmd.env_remove("NO_COLOR").env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let status = cmd.arg(command).status().unwrap();
        assert!(status.success());
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Process::new("tmux").args(["-L", &self.socket]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen, with colour escapes when `escapes`.
    fn screen(&self, escapes: bool) -> String {
        if escapes {
            self.tmux(&["capture-pane", "-p", "-e"])
        } else {
            self.tmux(&["capture-pane", "-p"])
        }
    }

    /// Waits (bounded) until the screen satisfies `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen(false);
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Process::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

fn bin() -> String {
    assert_cmd::cargo::cargo_bin("klag").display().to_string()
}

fn trend_of<'a>(screen: &'a str, needle: &str) -> &'a str {
    let line = screen.lines().find(|l| l.contains(needle)).unwrap_or_default();
    line.rsplit("  ").next().unwrap_or_default().trim()
}

#[test]
fn the_live_table_refreshes_in_place_and_ctrl_c_exits_0() {
    let Some(b) = service("KLAG_TEST_KAFKA39") else { return };
    let topic = unique("watch");
    let group = unique("watch-g");
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[100]);
    commit(&b, &group, &[(&topic, 0, 10)]); // lag 90
    let exit_file = tempfile::NamedTempFile::new().unwrap();
    let exit_path = exit_file.path().display().to_string();
    let cmd = format!(
        "printf 'before klag\\n'; {} -b {b} --group '^{group}$' --watch 0.3s --warn 50; echo $? > {exit_path}; sleep 30",
        bin()
    );
    let Some(t) = Tmux::start(&cmd, &[]) else { return };
    let first = t.wait_for("the first table", |s| s.contains("Ctrl-C to quit") && s.contains(&group));
    assert!(first.starts_with("klag: every 0.3s, at "), "{first}");
    assert!(!first.contains("before klag"), "the live screen is the alternate one:\n{first}");
    let row = first.lines().find(|l| l.contains(&topic)).unwrap();
    assert!(row.contains("  10  ") && row.contains(" 90 "), "{row}");
    // Warning rows are yellow on a terminal without NO_COLOR.
    assert!(t.screen(true).contains("\x1b[33m"), "{}", t.screen(true));

    commit(&b, &group, &[(&topic, 0, 70)]); // lag 30
    let second = t.wait_for("the new lag", |s| {
        s.lines().any(|l| l.contains(&topic) && l.contains(" 30 ")) && trend_of(s, &topic).ends_with('▃')
    });
    // The trend shows the fall: full bars for 90, then a low one for 30.
    let trend = trend_of(&second, &topic);
    assert!(trend.starts_with('█') && trend.chars().count() >= 2, "{trend:?}\n{second}");
    assert_eq!(second.matches("Ctrl-C to quit").count(), 1, "redrawn in place:\n{second}");

    t.tmux(&["send-keys", "C-c"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&exit_path).unwrap_or_default().trim().is_empty() {
        assert!(Instant::now() < deadline, "klag did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&exit_path).unwrap().trim(), "0");
    // The main screen is back as it was.
    let after = t.screen(false);
    assert!(after.contains("before klag") && !after.contains("Ctrl-C to quit"), "{after}");
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let Some(b) = service("KLAG_TEST_KAFKA39") else { return };
    let topic = unique("watch-nc");
    let group = unique("watch-nc-g");
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[10]);
    commit(&b, &group, &[(&topic, 0, 0)]);
    let cmd = format!("{} -b {b} --group '^{group}$' --watch 0.3s --crit 5; sleep 30", bin());
    let Some(t) = Tmux::start(&cmd, &[("NO_COLOR", "1")]) else { return };
    t.wait_for("the table", |s| s.contains(&topic));
    let screen = t.screen(true);
    assert!(!screen.contains("\x1b[31m") && !screen.contains("\x1b[1m"), "{screen}");
}

#[test]
fn outside_a_terminal_each_interval_prints_a_snapshot_and_sigint_exits_0() {
    let Some(b) = service("KLAG_TEST_KAFKA39") else { return };
    let topic = unique("watch-pipe");
    let group = unique("watch-pipe-g");
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[5]);
    commit(&b, &group, &[(&topic, 0, 2)]);
    let mut child = Process::new(bin())
        .args(["-b", &b, "--group", &format!("^{group}$"), "--watch", "0.3s", "--format", "csv"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(&topic)).collect();
    assert!(rows.len() >= 3, "{out}");
    assert!(rows.iter().all(|r| r.contains(",0,3,2,0,5,")), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("taken_at,")).count(), 1, "one header:\n{out}");

    // A reader that goes away ends the run (klag --watch | head).
    let mut child = Process::new(bin())
        .args(["-b", &b, "--group", &format!("^{group}$"), "--watch", "0.2s", "--format", "csv"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "klag kept running after its reader left");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}
