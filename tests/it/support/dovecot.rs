//! A real IMAP server for tests: Debian's Dovecot (`dovecot-imapd`), one instance per test in
//! its own temp dir, on free ports of 127.0.0.1.
//!
//! Started as `/usr/sbin/dovecot -F -c <dir>/dovecot.conf` with its own `base_dir`,
//! `state_dir` and log file. Two listeners: `imap` (clear text, offers STARTTLS) and `imaps`
//! (TLS from the first byte), with a server certificate for `localhost` and `127.0.0.1` signed
//! by a throw-away CA made with the `openssl` command (its certificate is what tests pass as
//! `ca_file`). Users come from passwd-files, one per user (`{PLAIN}` passwords); mail is stored as
//! `maildir:<dir>/mail/%u`, owned by `nobody`. XOAUTH2 is real: an `oauth2` passdb validates
//! JWTs locally (`introspection_mode = local`) against an HS256 key in the temp dir, and
//! [`Dovecot::token`] signs such tokens.
//!
//! A test never passes without its server: a missing Dovecot or openssl panics, and so does a
//! server that does not come up in time. The server is stopped (SIGTERM to its master, which
//! stops its children) when dropped.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const DOVECOT: &str = "/usr/sbin/dovecot";
const MISSING: &str = "install dovecot-imapd (tests/run does this)";
/// How long the server may take to listen; generous for a loaded two-core CI machine.
const STARTUP: Duration = Duration::from_secs(30);
/// Every test user's password is this, then the user name.
const PASSWORD_PREFIX: &str = "pw-for-";

/// A running Dovecot; stopped when dropped.
pub struct Dovecot {
    child: Child,
    dir: TempDir,
    imap_port: u16,
    imaps_port: u16,
    /// The HS256 key the oauth2 passdb checks tokens with.
    jwt_key: Vec<u8>,
}

/// How a test wants its server.
#[derive(Clone, Copy)]
pub struct Options {
    /// `ssl = yes`: STARTTLS on the imap port, the imaps port with TLS. With `false` the
    /// server offers no TLS at all (for the "STARTTLS required" test).
    pub tls: bool,
    /// Replaces the capabilities Dovecot announces after login (`imap_capability`), to
    /// play an older server: without MOVE, UIDPLUS or IDLE.
    pub capabilities: Option<&'static str>,
}

impl Dovecot {
    /// A server with TLS, STARTTLS, LOGIN/PLAIN and XOAUTH2.
    pub fn start() -> Dovecot {
        Self::start_with(Options {
            tls: true,
            capabilities: None,
        })
    }

    pub fn start_with(options: Options) -> Dovecot {
        assert!(Path::new(DOVECOT).exists(), "{MISSING}");
        for user in ["dovecot", "dovenull"] {
            ensure_system_user(user);
        }
        // No leading dot in the name: Dovecot's fs dict finds no key under a hidden folder.
        let dir = tempfile::Builder::new()
            .prefix("clerk-dovecot-")
            .tempdir()
            .expect("temp dir for Dovecot");
        // Mail processes run as `nobody` and must reach <dir>/mail.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mail = dir.path().join("mail");
        fs::create_dir_all(&mail).unwrap();
        chown_nobody(&mail);
        make_certificates(dir.path());
        let jwt_key: Vec<u8> = Sha256::digest(dir.path().to_string_lossy().as_bytes()).to_vec();
        // The dict key is `shared/<azp>/<alg>/<kid>`; the fs dict keeps shared keys without
        // the `shared/` part.
        let key_dir = dir.path().join("keys/default/HS256");
        fs::create_dir_all(&key_dir).unwrap();
        fs::write(key_dir.join("default"), base64(&jwt_key, false) + "\n").unwrap();
        fs::write(
            dir.path().join("oauth2.conf"),
            format!(
                "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/keys/\n\
                 username_attribute = sub\n",
                dir.path().display()
            ),
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("users")).unwrap();

        // Another process may take a free port between our probe and Dovecot's bind: then it
        // exits at once and we try other ports.
        for _attempt in 0..5 {
            let (imap_port, imaps_port) = (free_port(), free_port());
            fs::write(
                dir.path().join("dovecot.conf"),
                config(dir.path(), imap_port, imaps_port, options),
            )
            .unwrap();
            let log = dir.path().join("dovecot.log");
            let _ = fs::remove_file(&log);
            let stdout = fs::File::create(dir.path().join("stdout.log")).unwrap();
            let mut child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(dir.path().join("dovecot.conf"))
                .stdin(Stdio::null())
                .stdout(stdout.try_clone().unwrap())
                .stderr(stdout)
                .spawn()
                .unwrap_or_else(|e| panic!("{MISSING}: cannot run {DOVECOT}: {e}"));
            let ports: &[u16] = if options.tls {
                &[imap_port, imaps_port]
            } else {
                &[imap_port]
            };
            match wait_until_listening(&mut child, ports, dir.path()) {
                Ok(()) => {
                    return Dovecot {
                        child,
                        dir,
                        imap_port,
                        imaps_port,
                        jwt_key,
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if !log.to_ascii_lowercase().contains("address already in use") {
                        panic!("Dovecot did not start; its log:\n{log}");
                    }
                }
            }
        }
        panic!("no free ports for Dovecot after 5 attempts");
    }

    /// The clear-text port (STARTTLS offered when TLS is on).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The TLS-from-the-first-byte port.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A temp folder of this server's, for a test's own files (password files, tokens).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Adds a user (one passwd-file per user, `users/%u`: Dovecot reads a new file at once,
    /// while it may keep serving an older copy of a file that grew) and returns its password.
    pub fn add_user(&self, user: &str) -> String {
        let password = format!("{PASSWORD_PREFIX}{user}");
        let path = self.dir.path().join("users").join(user);
        if path.exists() {
            return password;
        }
        let line = format!(
            "{user}:{{PLAIN}}{password}:65534:65534::{}\n",
            self.dir.path().join("home").join(user).display()
        );
        // Write then rename: Dovecot must never read half a file.
        let tmp = self.dir.path().join("users").join(format!(".{user}.tmp"));
        fs::write(&tmp, line).unwrap();
        fs::rename(&tmp, &path).unwrap();
        password
    }

    /// A JWT for `user`, valid for an hour, signed with the key the server checks (HS256).
    pub fn token(&self, user: &str) -> String {
        self.token_signed_with(user, &self.jwt_key)
    }

    /// A JWT for `user` signed with another key: the server refuses it.
    pub fn forged_token(&self, user: &str) -> String {
        self.token_signed_with(user, b"not the server's key")
    }

    fn token_signed_with(&self, user: &str, key: &[u8]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = base64(br#"{"alg":"HS256","typ":"JWT"}"#, true);
        let payload = base64(
            format!(
                r#"{{"sub":"{user}","iat":{now},"nbf":{},"exp":{}}}"#,
                now - 60,
                now + 3600
            )
            .as_bytes(),
            true,
        );
        let signing_input = format!("{header}.{payload}");
        let signature = base64(&hmac_sha256(key, signing_input.as_bytes()), true);
        format!("{signing_input}.{signature}")
    }

    /// A logged-in session on the clear-text port, for putting mail in and looking at it
    /// from the side.
    pub async fn admin(&self, user: &str) -> async_imap::Session<tokio::net::TcpStream> {
        self.add_user(user);
        let tcp = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.imap_port))
            .await
            .expect("connect to Dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(user, format!("{PASSWORD_PREFIX}{user}"))
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("admin login as {user}: {e}\n{}", self.log()))
    }

    /// Delivers `raw` into `folder` of `user` by IMAP APPEND (creating the folder) and returns
    /// its UID.
    pub async fn append(&self, user: &str, folder: &str, raw: &[u8]) -> u32 {
        let mut s = self.admin(user).await;
        if folder != "INBOX" {
            let _ = s.create(folder).await;
        }
        s.append(folder, None, None, raw)
            .await
            .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}\n{}", self.log()));
        let status = s.status(folder, "(UIDNEXT)").await.unwrap();
        let _ = s.logout().await;
        status.uid_next.expect("UIDNEXT") - 1
    }

    /// The number of messages in `folder` of `user`, or `None` if there is no such folder.
    pub async fn count(&self, user: &str, folder: &str) -> Option<u32> {
        let mut s = self.admin(user).await;
        let n = s.status(folder, "(MESSAGES)").await.ok().map(|m| m.exists);
        let _ = s.logout().await;
        n
    }

    /// The flags of message `uid` in `folder` of `user` (`\Seen`, `$ClerkProcessed`, ...).
    pub async fn flags(&self, user: &str, folder: &str, uid: u32) -> Vec<String> {
        let mut s = self.admin(user).await;
        s.examine(folder).await.unwrap();
        let fetches: Vec<async_imap::types::Fetch> = s
            .uid_fetch(uid.to_string(), "FLAGS")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let flags = fetches
            .iter()
            .flat_map(|f| f.flags().map(|fl| format!("{fl:?}")))
            .collect();
        let _ = s.logout().await;
        flags
    }

    /// Deletes `folder` of `user` and creates it again: the new one has another UIDVALIDITY.
    pub async fn recreate_folder(&self, user: &str, folder: &str) {
        let mut s = self.admin(user).await;
        s.delete(folder).await.unwrap();
        s.create(folder).await.unwrap();
        let _ = s.logout().await;
    }

    /// Stops (SIGSTOP) the IMAP processes serving `user`: their clients wait for answers that
    /// do not come.
    pub fn freeze_sessions(&self, user: &str) -> usize {
        self.signal_sessions(user, "-STOP")
    }

    /// Kills (SIGKILL) the IMAP processes serving `user`: their connections break, as when a
    /// server restarts or a load balancer drops them.
    pub fn kill_sessions(&self, user: &str) -> usize {
        self.signal_sessions(user, "-KILL")
    }

    fn signal_sessions(&self, user: &str, signal: &str) -> usize {
        let pids = self.session_pids(user);
        for pid in &pids {
            let _ = Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status();
        }
        pids.len()
    }

    /// The `imap` processes of this server (children of its master) serving `user`: with
    /// `verbose_proctitle` their title is `dovecot/imap [user 127.0.0.1 ...]`.
    fn session_pids(&self, user: &str) -> Vec<u32> {
        let master = self.child.id();
        let mut out = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The parent pid is the second field after the ")" closing the command name.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid != Some(master) {
                continue;
            }
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.starts_with("dovecot/imap ") && cmdline.contains(&format!("[{user} ")) {
                out.push(pid);
            }
        }
        out
    }

    /// What the server logged, for failure messages and checks.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM: the master stops its children (auth, imap, log) before it exits; SIGKILL
        // would leave them behind.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, imap_port: u16, imaps_port: u16, options: Options) -> String {
    let d = dir.display();
    let mut c = String::new();
    writeln!(c, "base_dir = {d}/run\nstate_dir = {d}/state").unwrap();
    writeln!(c, "log_path = {d}/dovecot.log\nauth_verbose = yes").unwrap();
    writeln!(c, "protocols = imap\nlisten = 127.0.0.1").unwrap();
    writeln!(
        c,
        "default_internal_user = dovecot\ndefault_internal_group = dovecot\n\
         default_login_user = dovenull"
    )
    .unwrap();
    if options.tls {
        writeln!(
            c,
            "ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key"
        )
        .unwrap();
    } else {
        writeln!(c, "ssl = no").unwrap();
    }
    writeln!(
        c,
        "disable_plaintext_auth = no\nauth_mechanisms = plain login xoauth2 oauthbearer"
    )
    .unwrap();
    writeln!(
        c,
        "mail_location = maildir:{d}/mail/%u\nfirst_valid_uid = 1"
    )
    .unwrap();
    // Process titles name the user (kill_sessions finds them so); IDLE notices new mail
    // within a second even without inotify.
    writeln!(
        c,
        "verbose_proctitle = yes\nmailbox_idle_check_interval = 1 secs"
    )
    .unwrap();
    if let Some(caps) = options.capabilities {
        writeln!(c, "imap_capability = {caps}").unwrap();
    }
    writeln!(
        c,
        "service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}"
    )
    .unwrap();
    if options.tls {
        writeln!(
            c,
            "  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}"
        )
        .unwrap();
    } else {
        writeln!(c, "  inet_listener imaps {{\n    port = 0\n  }}").unwrap();
    }
    writeln!(c, "}}").unwrap();
    // Keep the stats sockets out of the way of a system Dovecot's.
    writeln!(
        c,
        "service stats {{\n  unix_listener stats-reader {{\n    mode = 0600\n  }}\n  \
         unix_listener stats-writer {{\n    mode = 0600\n  }}\n}}"
    )
    .unwrap();
    writeln!(
        c,
        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/oauth2.conf\n}}"
    )
    .unwrap();
    writeln!(
        c,
        "passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users/%u\n}}"
    )
    .unwrap();
    writeln!(
        c,
        "userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/users/%u\n}}"
    )
    .unwrap();
    c
}

/// Polls TCP connects until every port listens. `Err(log)` if Dovecot exits first or the
/// deadline passes.
fn wait_until_listening(child: &mut Child, ports: &[u16], dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    let log = || {
        format!(
            "{}{}",
            fs::read_to_string(dir.join("stdout.log")).unwrap_or_default(),
            fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
        )
    };
    let mut waiting: Vec<u16> = ports.to_vec();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited with {status}\n{}", log()));
        }
        waiting.retain(|&port| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
        });
        if waiting.is_empty() {
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

/// Dovecot's unprivileged users; Debian's package creates them, a bare image may lack them.
fn ensure_system_user(name: &str) {
    let exists = Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        let ok = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(name)
            .status()
            .is_ok_and(|s| s.success());
        // Two tests may race to create it: only a user that is still missing is an error.
        let exists = Command::new("id")
            .arg("-u")
            .arg(name)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok || exists,
            "cannot create the system user {name} Dovecot needs"
        );
    }
}

fn chown_nobody(path: &Path) {
    let ok = Command::new("chown")
        .arg("nobody:nogroup")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown nobody:nogroup {}", path.display());
}

/// A CA and a server certificate for `localhost` / `127.0.0.1` signed by it.
fn make_certificates(dir: &Path) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
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
        "/CN=clerk test IMAP CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
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
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
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
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("server.pem"),
    ]);
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

/// Standard base64, or base64url without padding (JWT).
fn base64(bytes: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

/// HMAC-SHA256 (RFC 2104), for signing test JWTs.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner_key: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_key)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_key)
        .chain_update(inner)
        .finalize()
        .into()
}

#[test]
fn hmac_matches_rfc_4231_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
