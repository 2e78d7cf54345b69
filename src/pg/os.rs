//! The few operating-system calls the extension makes itself, each behind a
//! safe function: a root key command's pipe and process group, and the
//! signal mask of threads PostgreSQL must never deliver a signal to.

use std::os::fd::AsRawFd;
use std::time::Duration;

/// Makes reads of `fd` return `WouldBlock` instead of waiting.
pub fn set_nonblocking(fd: &impl AsRawFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller owns (borrowed for the call).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout` for `fd` to be readable (or closed by the writer);
/// false on timeout or when a signal interrupted the wait.
pub fn wait_readable(fd: &impl AsRawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd on the stack.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Sends SIGKILL to the process group `leader` leads.
pub fn kill_process_group(leader: u32) {
    let Ok(pid) = libc::pid_t::try_from(leader) else { return };
    // SAFETY: a signal to a process group; a group that is gone is ESRCH.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

/// Blocks every signal in the calling thread for the rest of its life (a
/// worker thread: PostgreSQL's handlers must run on the backend's main
/// thread only).
pub fn block_all_signals() {
    let all = all_signals();
    // SAFETY: pthread_sigmask on a set on the stack; no old set wanted.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut()) };
}

/// Runs `f` with every signal blocked in the calling thread, then restores
/// its mask: threads started by `f` inherit the blocked mask.
pub fn with_all_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    let all = all_signals();
    // SAFETY: sigset_t is plain data; all-zero is a valid (empty) set.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_sigmask on sets on the stack; saves the old mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old) };
    let result = f();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

fn all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        all
    }
}
