//! Loopback ports for processes we start (emulators, and in tests moto and retail-local).

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;

const FIRST: u16 = 20_000;
const COUNT: u16 = 12_000;

/// A free loopback port to give a child process. Not one from `bind(0)`: the kernel hands the
/// port it just released straight to the next caller, so two children started at once (or a
/// socket of another process) could be given the same one; one function's invocations then
/// reach another function's emulator, which crashes on a second concurrent invocation. These
/// come from below the kernel's ephemeral range (32768 up), at random, never twice in this
/// process, and were free when picked.
pub fn loopback_port() -> Result<u16, String> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..1000 {
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u32(std::process::id());
        let port = FIRST + (random.finish() % u64::from(COUNT)) as u16;
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    Err(format!("no free loopback port between {FIRST} and {}", FIRST + COUNT - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_outside_the_ephemeral_range_and_never_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| loopback_port().unwrap()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports.iter().all(|p| (FIRST..FIRST + COUNT).contains(p)));
        for p in ports.iter().take(20) {
            TcpListener::bind(("127.0.0.1", *p)).expect("free");
        }
    }
}
