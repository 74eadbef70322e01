//! Many processes on one study, through `kiln bench study` (which starts one `kiln run`
//! and `N - 1` `kiln worker`s on a grid of distinct points and audits the study after):
//! no trial lost, none run twice, on SQLite and on PostgreSQL. The figures for larger
//! runs (4 × 250 on SQLite, 8 workers on PostgreSQL) are in docs/reliability.md.

#[path = "support/mod.rs"]
mod support;
use support::*;

fn bench_study(extra: &[&str]) -> Vec<serde_json::Value> {
    let out = kiln()
        .args(["bench", "study", "--json"])
        .args(extra)
        .output()
        .expect("kiln bench study");
    assert!(out.status.success(), "bench study: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

fn assert_whole(rows: &[serde_json::Value], processes: &[u64], trials: u64) {
    assert_eq!(rows.len(), processes.len(), "{rows:?}");
    for (row, &n) in rows.iter().zip(processes) {
        assert_eq!(row["processes"], n, "{row}");
        assert_eq!(row["lost"], 0, "{row}");
        assert_eq!(row["duplicated"], 0, "{row}");
        let split: u64 = row["split"]
            .as_array()
            .expect("split")
            .iter()
            .map(|v| v.as_u64().expect("count"))
            .sum();
        assert_eq!(split, trials, "every trial started once: {row}");
    }
}

#[test]
fn four_processes_share_a_sqlite_study_without_losing_or_repeating_a_trial() {
    let rows = bench_study(&["--processes", "1,4", "--trials", "40"]);
    assert_whole(&rows, &[1, 4], 40);
}

#[test]
fn eight_workers_share_a_postgres_study_without_losing_or_repeating_a_trial() {
    let Ok(url) = std::env::var("KILN_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("KILN_REQUIRE_POSTGRES").is_none(),
            "KILN_REQUIRE_POSTGRES is set but KILN_TEST_POSTGRES names no server"
        );
        eprintln!("skipped: KILN_TEST_POSTGRES is not set (scripts/pg-local.sh)");
        return;
    };
    let rows = bench_study(&["--processes", "8", "--trials", "48", "--storage", &url]);
    assert_whole(&rows, &[8], 48);
}
