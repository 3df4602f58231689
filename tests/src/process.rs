//! A child process whose stdout and stderr are read into memory line by line while
//! it runs, so a test can wait for a line ("READY", "GUEST-CHECK connect ok") and
//! print everything when it fails. The child leads its own process group, and the
//! whole group is killed when the [`Process`] is dropped, panics included.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

use crate::error::{Error, Result};

/// How often a waiting caller polls the child's exit status.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the last lines after the child exited.
const DRAIN: Duration = Duration::from_secs(2);

/// The lines one pipe produced so far, and whether it reached end of file.
#[derive(Default)]
struct Lines {
    state: Mutex<LinesState>,
    changed: Condvar,
}

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, LinesState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `pipe` to its end on a thread of its own.
    fn collect(pipe: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let sink = Arc::clone(&lines);
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf);
                        let line = text.trim_end_matches(['\n', '\r']).to_owned();
                        sink.lock().lines.push(line);
                        sink.changed.notify_all();
                    }
                }
            }
            sink.lock().closed = true;
            sink.changed.notify_all();
        });
        lines
    }

    fn snapshot(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Waits until a line satisfies `pred` (Ok(Some)), the pipe closes (Ok(None)) or
    /// `deadline` passes (Err(())).
    fn wait_for(
        &self,
        deadline: Instant,
        pred: &dyn Fn(&str) -> bool,
    ) -> std::result::Result<Option<String>, ()> {
        let mut seen = 0;
        let mut state = self.lock();
        loop {
            if let Some(line) = state.lines[seen..].iter().find(|l| pred(l)) {
                return Ok(Some(line.clone()));
            }
            seen = state.lines.len();
            if state.closed {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(());
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn wait_closed(&self, deadline: Instant) {
        let _ = self.wait_for(deadline, &|_| false);
    }
}

/// A running child process with captured output; killed with its process group on drop.
pub struct Process {
    name: String,
    child: Child,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `cmd` with stdin from /dev/null, stdout and stderr captured, and in a
    /// process group of its own. `name` labels it in errors.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Process> {
        let command = describe(&cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { command, source })?;
        let stdout = child.stdout.take().map(Lines::collect).unwrap_or_default();
        let stderr = child.stderr.take().map(Lines::collect).unwrap_or_default();
        Ok(Process {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            status: None,
        })
    }

    /// The child's process ID (also its process group ID).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The label given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Waits up to `timeout` for a stdout line that satisfies `pred` and returns it.
    /// Fails with [`Error::Exited`] when stdout closes first, [`Error::Timeout`] when
    /// time runs out.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<String> {
        match self.stdout.wait_for(Instant::now() + timeout, &pred) {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Error::Exited {
                what: format!("{}: the awaited line", self.name),
                stderr: self.stderr_lines().join("\n"),
            }),
            Err(()) => Err(Error::Timeout {
                what: format!("{}: the awaited line", self.name),
                timeout,
            }),
        }
    }

    /// Waits up to `timeout` for a stderr line that satisfies `pred` and returns it
    /// (programs that log with `tracing` write their log to stderr).
    pub fn wait_for_stderr_line(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        match self.stderr.wait_for(Instant::now() + timeout, &pred) {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Error::Exited {
                what: format!("{}: the awaited log line", self.name),
                stderr: self.stderr_lines().join("\n"),
            }),
            Err(()) => Err(Error::Timeout {
                what: format!("{}: the awaited log line", self.name),
                timeout,
            }),
        }
    }

    /// Sends `signal` to the child (not to its group).
    pub fn signal(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
        }
    }

    /// The exit status if the child has exited (without waiting).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().map_err(|source| Error::Io {
                path: self.name.clone().into(),
                source,
            })?;
        }
        Ok(self.status)
    }

    /// Waits up to `timeout` for the child to exit; `None` if it still runs. After it
    /// exited, waits briefly until its output pipes are drained.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                let drained = Instant::now() + DRAIN;
                self.stdout.wait_closed(drained);
                self.stderr.wait_closed(drained);
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL);
        }
    }

    /// Kills the child's whole process group with SIGKILL and reaps the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // The group may be gone already (ESRCH): nothing to do then.
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            self.status = self.child.wait().ok();
        }
        self.status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // Even when the leader exited, others in its group (a qemu under a
            // shell script) may still run.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.kill();
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("status", &self.status)
            .finish()
    }
}

/// A command line as text, for error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion and returns its stdout; fails unless it exits with 0.
pub fn run_checked(mut cmd: Command) -> Result<String> {
    let command = describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::CommandFailed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
