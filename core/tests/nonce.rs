//! Value nonces come from a per-process generator (`pseudo_core::nonce`):
//! a process that forks must not share its stream with the child, whatever
//! the child's generator state was when it was copied.

use pseudo_core::envelope::NONCE_LEN;
use pseudo_core::nonce;
use std::collections::HashSet;
use std::io::Read;
use std::os::fd::FromRawFd;

const PER_PROCESS: usize = 10_000;

fn nonces(process_id: u32, n: usize) -> Vec<[u8; NONCE_LEN]> {
    (0..n).map(|_| nonce::next(process_id).unwrap()).collect()
}

/// Forks `children` processes after the parent used its generator; each
/// child draws nonces with its own process id and sends them through a
/// pipe. Returns the children's nonces, one list per child.
fn from_forked_children(children: usize, pass_pid: impl Fn() -> u32) -> Vec<Vec<[u8; NONCE_LEN]>> {
    let mut lists = Vec::new();
    for _ in 0..children {
        let mut fds = [0; 2];
        // SAFETY: a pipe and a fork in a test process; the child only draws
        // nonces, writes them and exits without unwinding or running destructors.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::close(fds[0]);
                let mine = nonces(pass_pid(), PER_PROCESS);
                let bytes: Vec<u8> = mine.concat();
                let mut written = 0;
                while written < bytes.len() {
                    let n = libc::write(fds[1], bytes[written..].as_ptr().cast(), bytes.len() - written);
                    if n <= 0 {
                        libc::_exit(1);
                    }
                    written += n as usize;
                }
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut pipe = std::fs::File::from_raw_fd(fds[0]);
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            assert_eq!(status, 0, "child failed");
            lists.push(bytes.chunks(NONCE_LEN).map(|c| c.try_into().unwrap()).collect());
        }
    }
    lists
}

/// One test function: forking while another test thread holds the
/// allocator's lock could hang the child.
#[test]
fn nonces_never_follow_a_forked_parent() {
    no_nonce_repeats_within_a_process_or_across_forked_children();
    a_child_that_kept_the_parents_id_would_repeat_the_parents_nonces();
}

fn no_nonce_repeats_within_a_process_or_across_forked_children() {
    let me = std::process::id();
    let before = nonces(me, PER_PROCESS);
    // Each child passes its own pid, as a backend passes MyProcPid.
    let children = from_forked_children(4, std::process::id);
    let after = nonces(me, PER_PROCESS);
    let mut seen = HashSet::new();
    let total = before.len() + after.len() + children.iter().map(Vec::len).sum::<usize>();
    for n in before.iter().chain(&after).chain(children.iter().flatten()) {
        seen.insert(*n);
    }
    assert_eq!(seen.len(), total, "a nonce repeated");
    assert_eq!(total, 6 * PER_PROCESS);
}

/// The control: a child that (wrongly) kept its parent's process id would
/// continue the parent's stream. Shows the test above can fail, and that the
/// process id is what separates the streams.
fn a_child_that_kept_the_parents_id_would_repeat_the_parents_nonces() {
    let me = std::process::id();
    let _ = nonces(me, 10);
    let children = from_forked_children(2, move || me);
    assert_eq!(children[0], children[1], "two children continuing one copied stream draw the same nonces");
    let parent_next = nonces(me, PER_PROCESS);
    assert_eq!(children[0], parent_next, "and the parent draws them too");
}
