//! Several hosts, for real network stacks: PostgreSQL in one network namespace, `kiln run`
//! and two `kiln worker`s in three others, each host joined to the server's by a veth pair
//! of its own. Mid-trial one worker host is cut off (its link taken down, so its packets go
//! nowhere and no reset ever comes). The other hosts re-run its trial after the grace, the
//! study completes with every trial once, and the cut-off worker gives up with a storage
//! error instead of hanging or writing anything later.
//!
//! Needs root, `ip` (iproute2) and PostgreSQL's server binaries (`scripts/pg-local.sh`
//! installs Debian's package). Skipped where any is missing unless `KILN_REQUIRE_NETNS` is
//! set, as `.ci/run` does where it can create a namespace.

#[path = "support/netns.rs"]
mod netns;
#[path = "support/mod.rs"]
mod support;
use netns::Network;
use std::io::BufRead;
use std::process::Stdio;
use support::*;

#[test]
fn a_worker_host_cut_off_mid_trial_loses_and_duplicates_nothing() {
    let Some(net) = Network::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let trials = 12;
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(trials, 1, "{ kind = \"random\" }"),
    );
    // Trials of a second or two, so the cut lands inside one; fast beats and a short
    // grace, so the others notice within seconds.
    let sets = [
        "--set",
        "stages.0.heartbeat_seconds=0.2",
        "--set",
        "stages.0.grace_seconds=2",
        "--set",
        "dataset.train=2000",
        "--set",
        "trainer.epochs=4",
    ];
    let kiln_bin = env!("CARGO_BIN_EXE_kiln");
    let on_host = |host: usize, verb: &str, url: &str| {
        let mut c = net.exec(host, kiln_bin);
        c.arg(verb)
            .arg(&p)
            .arg("--run-dir")
            .arg(dir.path().join(format!("host-{host}")))
            .args(["--storage", url])
            .args(sets)
            .env("KILN_PROGRESS", "plain");
        c
    };
    // Host 3 is cut off at its first trial. Its URL shortens the wait for unacknowledged
    // writes, so the test sees it give up in seconds rather than kiln's default 30.
    let cut_url = format!("{}?tcp_user_timeout=3", net.url(3));
    let mut cut = on_host(3, "worker", &cut_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker on host 3");
    let survivor = on_host(2, "worker", &net.url(2))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker on host 2");
    let owner = on_host(1, "run", &net.url(1))
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln run on host 1");

    let cut_err = cut.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(cut_err).lines();
    let mut saw = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        saw.push_str(&line);
        saw.push('\n');
        if line.contains("started:") {
            break;
        }
    }
    assert!(
        saw.contains("started:"),
        "host 3 never started a trial: {saw}"
    );
    net.cut(3);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let cut_status = cut.wait().expect("wait host 3");
    let owner = owner.wait_with_output().expect("owner");
    assert!(owner.status.success(), "owner: {}", stderr(&owner));
    let survivor = survivor.wait_with_output().expect("host 2");
    assert!(survivor.status.success(), "host 2: {}", stderr(&survivor));
    // The cut-off worker stops with a storage error that names the server, not a panic.
    let cut_said = rest.join("\n");
    eprintln!("host 3 after the cut:\n{cut_said}");
    assert!(!cut_status.success(), "host 3 should fail: {cut_said}");
    assert!(
        cut_said.contains(&net.server_address(3)) && !cut_said.contains("panicked"),
        "host 3's error names the server: {cut_said}"
    );

    let out = net
        .exec(1, kiln_bin)
        .arg("show")
        .arg(dir.path().join("host-1"))
        .args(["--json", "--storage", &net.url(1)])
        .output()
        .expect("show");
    assert!(out.status.success(), "show: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let all = report["studies"][0]["trials"].as_array().expect("trials");
    assert_interrupted_study_whole(all, trials);
}
