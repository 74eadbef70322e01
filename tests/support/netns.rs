//! A small network of Linux network namespaces for multi-host tests: `db` with a
//! PostgreSQL server, and hosts `1..=n`, each joined to `db` by a veth pair of its own
//! (host `i` is `10.77.i.2`, the server `10.77.i.1` on that link). Everything is torn down
//! on drop, the server included.

use std::path::PathBuf;
use std::process::Command;

pub struct Network {
    prefix: String,
    hosts: usize,
    pg_bin: PathBuf,
    pg_dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Why this machine cannot build the network, if it cannot.
fn missing() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Some("not root".into());
    }
    if !Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some("no `ip` (iproute2)".into());
    }
    if server_binaries().is_none() {
        return Some("no PostgreSQL server binaries (scripts/pg-local.sh installs them)".into());
    }
    None
}

fn server_binaries() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .max()
}

impl Network {
    /// The network with `hosts` hosts and a running server, or `None` (the test skips)
    /// where the machine cannot build it and `KILN_REQUIRE_NETNS` is not set.
    pub fn start(hosts: usize) -> Option<Network> {
        if let Some(why) = missing() {
            assert!(
                std::env::var_os("KILN_REQUIRE_NETNS").is_none(),
                "KILN_REQUIRE_NETNS is set but {why}"
            );
            eprintln!("skipped: {why}");
            return None;
        }
        let pg_bin = server_binaries()?;
        let pg_dir = tempfile::tempdir().expect("tmp");
        let net = Network {
            prefix: format!("k{}", std::process::id() % 100_000),
            hosts,
            pg_bin,
            pg_dir,
        };
        net.build();
        net.start_server();
        Some(net)
    }

    fn ns(&self, host: usize) -> String {
        if host == 0 {
            format!("{}-db", self.prefix)
        } else {
            format!("{}-h{host}", self.prefix)
        }
    }

    fn server_link(&self, host: usize) -> String {
        format!("{}d{host}", self.prefix)
    }

    fn build(&self) {
        for h in 0..=self.hosts {
            ip(&["netns", "add", &self.ns(h)]);
            ip(&["-n", &self.ns(h), "link", "set", "lo", "up"]);
        }
        for h in 1..=self.hosts {
            let (db_end, host_end) = (self.server_link(h), format!("{}h{h}", self.prefix));
            ip(&[
                "link", "add", &db_end, "type", "veth", "peer", "name", &host_end,
            ]);
            ip(&["link", "set", &db_end, "netns", &self.ns(0)]);
            ip(&["link", "set", &host_end, "netns", &self.ns(h)]);
            let db_addr = format!("{}/24", self.server_address(h));
            let host_addr = format!("10.77.{h}.2/24");
            ip(&["-n", &self.ns(0), "addr", "add", &db_addr, "dev", &db_end]);
            ip(&[
                "-n",
                &self.ns(h),
                "addr",
                "add",
                &host_addr,
                "dev",
                &host_end,
            ]);
            ip(&["-n", &self.ns(0), "link", "set", &db_end, "up"]);
            ip(&["-n", &self.ns(h), "link", "set", &host_end, "up"]);
        }
    }

    fn pg_home(&self) -> PathBuf {
        self.pg_dir.path().join("pg")
    }

    /// `program` run as the `postgres` user inside the server's namespace.
    fn as_server(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns(0),
            "runuser",
            "-u",
            "postgres",
            "--",
        ])
        .arg(self.pg_bin.join(program));
        c
    }

    fn start_server(&self) {
        let home = self.pg_home();
        std::fs::create_dir(&home).expect("pg home");
        // The server refuses to run as root; its files belong to `postgres`, and the temp
        // directory above them must let it in.
        run(Command::new("chmod").arg("755").arg(self.pg_dir.path()));
        run(Command::new("chown").arg("postgres").arg(&home));
        run(self
            .as_server("initdb")
            .arg("-D")
            .arg(home.join("data"))
            .args(["-U", "kiln", "--auth=trust", "-E", "UTF8"]));
        // The hosts connect from their links' addresses, which the default rules refuse.
        let hba = home.join("data").join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        rules.push_str("host all all 10.77.0.0/16 trust\n");
        std::fs::write(&hba, rules).expect("pg_hba.conf");
        // Server-side keepalives, so the session of a host that vanished is closed (and
        // any lock it held released) within seconds.
        let options = format!(
            "-c listen_addresses=* -c port=5432 -c unix_socket_directories={} -c fsync=off \
             -c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3",
            home.display()
        );
        run(self
            .as_server("pg_ctl")
            .arg("-D")
            .arg(home.join("data"))
            .arg("-l")
            .arg(home.join("server.log"))
            .args(["-w", "-o", &options, "start"]));
        run(self.as_server("createdb").args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "kiln",
            "kiln",
        ]));
    }

    /// The server's address as host `host` reaches it.
    pub fn server_address(&self, host: usize) -> String {
        format!("10.77.{host}.1")
    }

    /// The study URL for a process on host `host`.
    pub fn url(&self, host: usize) -> String {
        format!("postgresql://kiln@{}:5432/kiln", self.server_address(host))
    }

    /// `program` run on host `host` (its own network stack, the same files).
    pub fn exec(&self, host: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Cuts host `host` off: its link goes down at the server's end, so its packets are
    /// dropped without a reset, as when a cable is pulled or a switch dies.
    pub fn cut(&self, host: usize) {
        ip(&[
            "-n",
            &self.ns(0),
            "link",
            "set",
            &self.server_link(host),
            "down",
        ]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self
            .as_server("pg_ctl")
            .arg("-D")
            .arg(self.pg_home().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        for h in 0..=self.hosts {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(h)])
                .output();
        }
    }
}
