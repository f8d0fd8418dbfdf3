//! A local S3-compatible server for tests and trials: `moto` in server mode (Python,
//! `pip install 'moto[server]'`), started on a free loopback port and stopped when dropped. It
//! implements S3's conditional writes (`If-None-Match: *`, `If-Match`), as the shared store needs
//! — but not atomically: moto (5.x) serves each request on its own thread and checks the
//! condition, then writes, so two creates of one object that meet in that window both succeed
//! (two machines would both hold one claim and both submit). Real S3 decides conditional writes
//! atomically; so that the tests' store does too, moto is started through [`LAUNCHER`], which
//! serves one conditional write (or delete) of an object at a time (per object, as S3 decides
//! them: writes of different objects still run side by side). `slow_put` widens the window
//! between moto's check and its write (a loaded machine), so that a store without that guarantee
//! fails every time.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `moto.server` with every conditional write (`If-None-Match`, `If-Match`) and delete
/// of one object served under that object's lock (conditional writes become atomic, as S3's
/// are; reads and other objects' writes stay parallel); `STORYBOARD_MOTO_SLOW_PUT` (seconds) sleeps inside `put_object` between
/// its `If-None-Match`/`If-Match` check and the write (moto computes the checksum there).
const LAUNCHER: &str = r#"
import os, sys, threading, time
import moto.s3.responses as responses
import moto.moto_server.werkzeug_app as app
slow = float(os.environ.get("STORYBOARD_MOTO_SLOW_PUT") or 0)
if slow > 0:
    checksum = responses.S3Response._get_checksum
    def slowed(self, headers):
        time.sleep(slow)
        return checksum(self, headers)
    responses.S3Response._get_checksum = slowed
locks = {}
guard = threading.Lock()
def one_at_a_time(path):
    with guard:
        return locks.setdefault(path, threading.Lock())
serve = app.DomainDispatcherApplication.__call__
def serial(self, environ, start_response):
    if environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH") or environ.get("REQUEST_METHOD") == "DELETE":
        with one_at_a_time(environ.get("PATH_INFO", "")):
            return serve(self, environ, start_response)
    return serve(self, environ, start_response)
if os.environ.get("STORYBOARD_MOTO_RACY") != "1":
    app.DomainDispatcherApplication.__call__ = serial
sys.argv = ["moto_server"] + sys.argv[1:]
from moto.server import main
main()
"#;

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `python -m moto.server` on a free loopback port and waits until it accepts
    /// connections (at most 60 s).
    pub fn start(python: &str) -> std::io::Result<Moto> {
        Moto::start_logging(python, None)
    }

    /// As [`Moto::start`], its request log (one line per S3 request) written to `log`: the
    /// store benchmark counts the store's requests per clip from it.
    pub fn start_logging(python: &str, log: Option<std::fs::File>) -> std::io::Result<Moto> {
        Moto::start_with(python, log, Duration::ZERO)
    }

    /// As [`Moto::start_logging`], each conditional write waiting `slow_put` between checking
    /// its condition and writing (as a loaded machine may): the writes stay atomic.
    pub fn start_with(python: &str, log: Option<std::fs::File>, slow_put: Duration) -> std::io::Result<Moto> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("STORYBOARD_MOTO_SLOW_PUT", slow_put.as_secs_f64().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.map_or_else(Stdio::null, Stdio::from))
            .spawn()?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || moto.child.try_wait()?.is_some() {
                return Err(std::io::Error::other("moto did not start (is moto[server] installed?)"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn bucket(&self, name: &str) -> Result<(), reqwest::Error> {
        reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The environment a client needs to reach it.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
