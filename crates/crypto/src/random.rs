//! The operating system's random generator, the only source of randomness we use.

use getrandom::SysRng;
use rand_core::TryRng as _;

/// Fills a fresh buffer from the OS. The OS generator failing is not something a chat
/// server can recover from securely, so it aborts rather than continue with weak keys.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    random_fill(&mut out);
    out
}

/// Fills `out` from the OS in one request: many IVs at once cost one system call.
pub fn random_fill(out: &mut [u8]) {
    if let Err(err) = SysRng.try_fill_bytes(out) {
        eprintln!("dyspatcher: the operating system's random generator failed: {err}");
        std::process::abort();
    }
}
