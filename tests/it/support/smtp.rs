//! A real SMTP server for tests: Debian's `python3-aiosmtpd`, one process per test, on a free
//! port of 127.0.0.1, storing what it receives in its own temp Maildir.
//!
//! Started with `/usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c
//! aiosmtpd.handlers.Mailbox MAILDIR` (plus `--tlscert/--tlskey` for STARTTLS, `--smtpscert/
//! --smtpskey` for implicit TLS, `-s` for a size limit). TLS certificates come from the
//! `openssl` command: a throw-away CA (its certificate is what a test passes as `ca_file`) and
//! a server certificate for `localhost` and `127.0.0.1` signed by it.
//!
//! A test never passes without its server: a missing aiosmtpd or openssl panics, and so does a
//! server that does not come up in time.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const PYTHON: &str = "/usr/bin/python3";
const MISSING: &str = "install python3-aiosmtpd (tests/run does this)";
/// How long a server may take to listen; generous for a loaded two-core CI machine.
const STARTUP: Duration = Duration::from_secs(30);

/// How the server protects connections.
enum Security {
    Plain,
    /// Clear text, AUTH PLAIN/LOGIN required with this user and password. aiosmtpd's command
    /// line cannot do AUTH, so this one runs [`AUTH_SERVER`], a few lines on aiosmtpd's
    /// `Controller`.
    PlainWithAuth(String, String),
    /// Offers STARTTLS and refuses mail before it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// A running aiosmtpd; killed when dropped.
pub struct SmtpServer {
    child: Child,
    port: u16,
    /// Holds the Maildir, the certificates and the server's log; removed on drop.
    dir: TempDir,
    ca_file: Option<PathBuf>,
}

impl SmtpServer {
    /// A clear-text server (use with `SmtpSecurity::None`, which loopback allows).
    pub fn start() -> SmtpServer {
        Self::launch(Security::Plain, None)
    }

    /// A server that offers STARTTLS, with a certificate signed by [`SmtpServer::ca_file`].
    pub fn start_starttls() -> SmtpServer {
        Self::launch(Security::StartTls, None)
    }

    /// A server speaking TLS from the first byte, certificate signed by
    /// [`SmtpServer::ca_file`].
    pub fn start_implicit_tls() -> SmtpServer {
        Self::launch(Security::Implicit, None)
    }

    /// A clear-text server that refuses messages larger than `bytes` (SMTP SIZE, reply 552).
    pub fn start_with_size_limit(bytes: usize) -> SmtpServer {
        Self::launch(Security::Plain, Some(bytes))
    }

    /// A clear-text server that requires AUTH (PLAIN or LOGIN) with this user and password.
    pub fn start_with_auth(user: &str, password: &str) -> SmtpServer {
        Self::launch(
            Security::PlainWithAuth(user.to_owned(), password.to_owned()),
            None,
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_file(&self) -> &Path {
        self.ca_file
            .as_deref()
            .expect("only TLS servers have a CA file")
    }

    /// Waits until the Maildir holds at least `n` messages and returns them (raw, as the
    /// server stored them, oldest first). Panics with the server's log after `timeout`.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages();
            if found.len() >= n {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {n} message(s) within {timeout:?}, the SMTP server has {}; its \
                     log:\n{}",
                    found.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The messages received so far, oldest first (Maildir names start with the time).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let new = self.maildir().join("new");
        let mut paths: Vec<PathBuf> = match fs::read_dir(&new) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        paths.sort();
        paths.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    /// The received messages with the time the server stored each (the file's mtime), oldest
    /// first.
    pub fn messages_with_times(&self) -> Vec<(std::time::SystemTime, Vec<u8>)> {
        let new = self.maildir().join("new");
        let mut out: Vec<(std::time::SystemTime, Vec<u8>)> = match fs::read_dir(&new) {
            Ok(entries) => entries
                .map(|e| {
                    let p = e.unwrap().path();
                    let t = fs::metadata(&p).unwrap().modified().unwrap();
                    (t, fs::read(&p).unwrap())
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort_by_key(|(t, _)| *t);
        out
    }

    /// Stops the server (SIGKILL), as an outage would: the port refuses connections until
    /// [`SmtpServer::restart`]. What it received so far stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a plain server again on the same port and Maildir after [`SmtpServer::stop`].
    pub fn restart(&mut self) {
        let maildir = self.maildir();
        // The old socket may linger briefly; aiosmtpd sets SO_REUSEADDR, so a few tries do.
        for _ in 0..20 {
            let mut cmd = Command::new(PYTHON);
            cmd.args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{}", self.port))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir);
            let log = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(self.dir.path().join("server.log"))
                .unwrap();
            cmd.stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            let mut child = cmd.spawn().expect("restart aiosmtpd");
            match wait_until_listening(&mut child, self.port, &self.dir.path().join("server.log")) {
                Ok(()) => {
                    self.child = child;
                    return;
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        panic!(
            "the SMTP server did not come back on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    /// What the server printed, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    fn launch(security: Security, max_size: Option<usize>) -> SmtpServer {
        require_aiosmtpd();
        let dir = tempfile::tempdir().expect("temp dir for the SMTP server");
        let certs = matches!(security, Security::StartTls | Security::Implicit)
            .then(|| make_certificates(dir.path()));
        let maildir = dir.path().join("maildir");
        // Another process may take the free port between our probe and the server's bind:
        // then the server exits at once and we try another port.
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(PYTHON);
            if let Security::PlainWithAuth(user, password) = &security {
                let script = dir.path().join("auth_server.py");
                fs::write(&script, AUTH_SERVER).unwrap();
                cmd.arg(&script)
                    .arg(port.to_string())
                    .arg(&maildir)
                    .arg(user)
                    .arg(password);
            } else {
                cmd.args(["-m", "aiosmtpd", "-n", "-l"])
                    .arg(format!("127.0.0.1:{port}"))
                    .args(["-c", "aiosmtpd.handlers.Mailbox"]);
                if let Some(bytes) = max_size {
                    cmd.arg("-s").arg(bytes.to_string());
                }
                if let Some(c) = &certs {
                    let (cert_flag, key_flag) = match security {
                        Security::Implicit => ("--smtpscert", "--smtpskey"),
                        _ => ("--tlscert", "--tlskey"),
                    };
                    cmd.arg(cert_flag)
                        .arg(&c.server_cert)
                        .arg(key_flag)
                        .arg(&c.server_key);
                }
                // The handler's argument (the Maildir) comes last.
                cmd.arg(&maildir);
            }
            let log = File::create(dir.path().join("server.log")).unwrap();
            cmd.stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("{MISSING}: cannot run {PYTHON}: {e}"));
            match wait_until_listening(&mut child, port, &dir.path().join("server.log")) {
                Ok(()) => {
                    return SmtpServer {
                        child,
                        port,
                        dir,
                        ca_file: certs.map(|c| c.ca_cert),
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if !log.to_ascii_lowercase().contains("address already in use") {
                        panic!("the SMTP server did not start; its log:\n{log}");
                    }
                }
            }
        }
        panic!("no free port for the SMTP server after 5 attempts");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls a TCP connect until the server listens. `Err(log)` if the process exits first or
/// the deadline passes.
fn wait_until_listening(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + STARTUP;
    let log = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited with {status}\n{}", log()));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not listening after {STARTUP:?}\n{}", log()));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A port that was free a moment ago: bind port 0, read the port, let it go.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// An aiosmtpd that requires AUTH: `auth_server.py PORT MAILDIR USER PASSWORD`. Clear text
/// is fine for AUTH here: it listens on 127.0.0.1 only.
const AUTH_SERVER: &str = r#"
import sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, user, password = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == user.encode()
          and auth_data.password == password.encode())
    # handled=False: aiosmtpd sends the 535 itself (the default means "already replied").
    return AuthResult(success=ok, handled=False)

controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
                        authenticator=authenticator, auth_required=True,
                        auth_require_tls=False)
controller.start()
print("listening", flush=True)
threading.Event().wait()
"#;

fn require_aiosmtpd() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{MISSING}");
}

pub struct Certificates {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// A CA and a server certificate for `localhost` / `127.0.0.1` signed by it, made by the
/// `openssl` command in `dir`. A private CA, not a self-signed server certificate: that is
/// what `ca_file` is for, and rustls refuses a CA certificate used as a server's.
pub fn make_certificates(dir: &Path) -> Certificates {
    let p = |name: &str| dir.join(name);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=clerk test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        p("ca.key").to_str().unwrap(),
        "-out",
        p("ca.pem").to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        p("server.key").to_str().unwrap(),
        "-out",
        p("server.csr").to_str().unwrap(),
    ]);
    fs::write(
        p("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-set_serial",
        "2",
        "-in",
        p("server.csr").to_str().unwrap(),
        "-CA",
        p("ca.pem").to_str().unwrap(),
        "-CAkey",
        p("ca.key").to_str().unwrap(),
        "-extfile",
        p("server.ext").to_str().unwrap(),
        "-out",
        p("server.pem").to_str().unwrap(),
    ]);
    Certificates {
        ca_cert: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("install openssl (tests/run does this): {e}"));
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
